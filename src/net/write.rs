//! The write path: a connection's pending output, borrowed from the core, packed by
//! [`super::gather`] into one `writev` of up to 64 KiB, and what the socket took reported
//! back to the core.

use super::*;

impl Server {
    /// Writes what the broker has for `id` until done or the socket is full: small
    /// frames and segments copied into one buffer, large payloads lent in place
    /// ([`gather`]). A socket that fails is closed.
    pub(super) fn flush(&mut self, id: ConnId) {
        let now = self.turn_now;
        if let Some(i) = self.links.index(id) {
            return self.write_link(i, now);
        }
        let result = match self.write_out(id, now) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.watch_writes(id),
            result => result,
        };
        if let Err(e) = result {
            log::debug!("connection {id}: write: {e}");
            self.conns.request_close(id, CloseReason::SocketError);
        }
    }

    /// Writes until nothing is left (`Ok`) or the socket takes no more (`WouldBlock`).
    fn write_out(&mut self, id: ConnId, now: Instant) -> io::Result<()> {
        loop {
            let Some(conn) = self.conns.slots.get_mut(id) else {
                return Ok(());
            };
            // TLS records left when the socket last blocked go first.
            conn.stream.send_pending()?;
            if !self.core.get().has_output(id) {
                return Ok(());
            }
            // Scoped: the packed slices borrow the core's output until written.
            let (total, result) = {
                let mut out = gather::Packed::new();
                let total = self.gather.pack(self.core.get().output(id), &mut out);
                if total == 0 {
                    return Ok(());
                }
                (total, conn.stream.write_vectored(&out))
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.core.call(&mut self.conns, |b| b.written(id, n, now));
                    if n < total {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// After a write to `id` blocked: makes sure epoll reports when it can take more.
    /// A plain socket is registered for that now, the first time (`admit`); if it drained
    /// in between, epoll reports it writable at once, so no edge is lost.
    fn watch_writes(&mut self, id: ConnId) -> io::Result<()> {
        match self.conns.slots.get_mut(id) {
            Some(conn) if !conn.write_watched => {
                conn.write_watched = true;
                let interest = accept::interest(true);
                self.poll
                    .registry()
                    .reregister(&mut conn.stream, Token(id), interest)
            }
            _ => Ok(()),
        }
    }

    /// Flushes every connection the broker has new output for.
    pub(super) fn flush_writable(&mut self) {
        while let Some(id) = self.core.call(&mut self.conns, Broker::poll_writable) {
            self.flush(id);
        }
    }
}
