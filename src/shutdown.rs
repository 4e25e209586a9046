//! Graceful shutdown on SIGTERM (what Kubernetes sends when it deletes a pod) or SIGINT
//! (Ctrl-C).

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Returns a token that is cancelled on the first SIGTERM or SIGINT. That starts the orderly
/// path: stop the leader's work, wait for it, release the Lease, exit 0.
///
/// A second signal exits at once with status 1, for when the orderly path is stuck. The Lease
/// is then not released and simply expires after its lease duration.
///
/// The handlers are installed before anything else happens, so a signal that arrives during
/// start-up is not lost (the default action would kill the process without a release).
pub fn on_signals() -> std::io::Result<CancellationToken> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        info!("received {name}: shutting down (send it again to exit at once)");
        cancel.cancel();
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        warn!("received {name} again: exiting at once, without releasing the lease");
        std::process::exit(1);
    });
    Ok(token)
}
