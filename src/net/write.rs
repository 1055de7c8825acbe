//! The write path: a connection's pending output, borrowed from the core, packed by
//! [`super::gather`] into one `writev` of up to 64 KiB, and what the socket took reported
//! back to the core.

use super::*;

impl Server {
    /// Writes what the broker has for `id` until done or the socket is full: small
    /// segments packed into one buffer, large ones lent in place ([`gather`]).
    pub(super) fn flush(&mut self, id: ConnId) {
        let now = self.turn_now;
        if let Some(i) = self.links.index(id) {
            return self.write_link(i, now);
        }
        loop {
            let Some(conn) = self.conns.slots.get_mut(id) else {
                return;
            };
            // TLS records left when the socket last blocked go first.
            match conn.stream.send_pending() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("connection {id}: write: {e}");
                    self.conns.request_close(id, CloseReason::SocketError);
                    return;
                }
            }
            if !self.core.get().has_output(id) {
                return;
            }
            // Scoped: the packed slices borrow the core's output until written.
            let (total, result) = {
                let mut out = gather::Packed::new();
                let total = self.gather.pack(self.core.get().output(id), &mut out);
                if total == 0 {
                    return;
                }
                (total, conn.stream.write_vectored(&out))
            };
            match result {
                Ok(0) => {
                    self.conns.request_close(id, CloseReason::SocketError);
                    return;
                }
                Ok(n) => {
                    self.core.call(&mut self.conns, |b| b.written(id, n, now));
                    if n < total {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection {id}: write: {e}");
                    self.conns.request_close(id, CloseReason::SocketError);
                    return;
                }
            }
        }
    }

    /// Flushes every connection the broker has new output for.
    pub(super) fn flush_writable(&mut self) {
        while let Some(id) = self.core.call(&mut self.conns, Broker::poll_writable) {
            self.flush(id);
        }
    }
}
