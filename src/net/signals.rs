//! Signals and handles: SIGINT/SIGTERM stop the reactor, SIGHUP reloads, through a
//! `signalfd` in the event loop; a [`ServerHandle`] asks the same from another thread.

use super::*;

impl Server {
    /// Handles SIGINT and SIGTERM (graceful stop) and SIGHUP (reload) in the event loop.
    ///
    /// The signals are blocked in the calling thread first (threads it starts later inherit
    /// the mask), so call this from the main thread before starting others.
    pub fn enable_signals(&mut self) -> io::Result<()> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGHUP);
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        self.poll.registry().register(
            &mut SourceFd(&fd.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;
        self.signals = Some(fd);
        Ok(())
    }

    /// Handles the [`ServerHandle`]'s requests.
    pub(super) fn on_wake(&mut self) {
        if self.shared.shutdown.load(Ordering::SeqCst) {
            self.stop = true;
        }
        if self.shared.reload.swap(false, Ordering::SeqCst) {
            self.reload();
        }
    }

    /// Reads every pending signal.
    pub(super) fn on_signals(&mut self) {
        loop {
            let Some(fd) = self.signals.as_ref() else {
                return;
            };
            match fd.read_signal() {
                Ok(Some(info)) => {
                    let signal = i32::try_from(info.ssi_signo)
                        .ok()
                        .and_then(|n| Signal::try_from(n).ok());
                    match signal {
                        Some(Signal::SIGHUP) => {
                            log::info!("SIGHUP: reloading the configuration");
                            self.reload();
                        }
                        Some(s @ (Signal::SIGINT | Signal::SIGTERM)) => {
                            log::info!("{s}: shutting down");
                            self.stop = true;
                        }
                        other => log::debug!("unexpected signal {other:?}"),
                    }
                }
                Ok(None) => return,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    log::warn!("reading the signal fd: {e}");
                    return;
                }
            }
        }
    }
}
