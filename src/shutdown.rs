//! Graceful shutdown on SIGTERM (what Kubernetes sends when it deletes a pod) or SIGINT
//! (Ctrl-C).
//!
//! The first signal starts the orderly path: stop the leader's work, wait for it, release
//! the Lease, exit 0. A second one means the orderly path is stuck and the user wants out:
//! `main` then exits at once with status 1, and the Lease expires after its lease duration.
//! This module only reports the signals; `main` decides what they mean.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The process's SIGTERM and SIGINT handlers.
///
/// Install them before anything else happens, so that a signal that arrives during start-up
/// is not lost (the default action would kill the process without a release).
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    ///
    /// The operating system refused to install a handler (see `tokio::signal::unix::signal`).
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next SIGTERM or SIGINT and returns its name.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a signal that arrives while no one waits is kept for the next call.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
