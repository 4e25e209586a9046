//! SIGINT, SIGTERM and SIGHUP as a flag that every wait of the run reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// SIGINT, SIGTERM and SIGHUP set `stop`, so that every wait ends and every exit path goes
/// through the teardown (bench/cluster.py forwards its own Ctrl-C as SIGTERM).
pub fn stop_on_signals(stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the signal thread's runtime");
            runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
                stop.store(true, Ordering::Relaxed);
            });
        })
        .expect("spawn the signal thread");
}
