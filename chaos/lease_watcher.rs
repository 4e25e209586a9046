//! The Lease as a standby sees it: every change's holder, and the instant it arrived. The
//! takeover delays in CHAOS.md (from the old leader's last change to the new holder) are read
//! from it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, WatchEvent, WatchParams};
use tokio_util::sync::CancellationToken;

use crate::support::{LEASE, client_for};

/// One change of the Lease, as the test saw it.
#[derive(Clone, Debug)]
pub struct LeaseEvent {
    pub at: Instant,
    pub holder: Option<String>,
}

/// Watches the Lease as admin, on a thread of its own, and records each change's holder and
/// the instant it arrived: the timeline standbys see. Dropping it stops the watch.
pub struct LeaseWatcher {
    events: Arc<Mutex<Vec<LeaseEvent>>>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl LeaseWatcher {
    pub fn start(kubeconfig: PathBuf, namespace: String) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (events2, stop2) = (events.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the watcher's runtime");
            runtime.block_on(async move {
                let leases: Api<Lease> = Api::namespaced(client_for(&kubeconfig).await, &namespace);
                let params = WatchParams::default().fields(&format!("metadata.name={LEASE}"));
                while !stop2.is_cancelled() {
                    let Ok(stream) = leases.watch(&params, "0").await else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    let mut stream = stream.boxed();
                    loop {
                        let event = tokio::select! {
                            _ = stop2.cancelled() => return,
                            event = stream.next() => event,
                        };
                        let holder = match event {
                            Some(Ok(WatchEvent::Added(l) | WatchEvent::Modified(l))) => l
                                .spec
                                .and_then(|s| s.holder_identity)
                                .filter(|h| !h.is_empty()),
                            Some(Ok(WatchEvent::Deleted(_))) => None,
                            Some(Ok(_)) => continue,
                            Some(Err(_)) | None => break,
                        };
                        events2.lock().unwrap().push(LeaseEvent {
                            at: Instant::now(),
                            holder,
                        });
                    }
                }
            });
        });
        Self {
            events,
            stop,
            thread: Some(thread),
        }
    }

    pub fn events(&self) -> Vec<LeaseEvent> {
        self.events.lock().unwrap().clone()
    }

    /// How long after the last change written by `old` the Lease named someone else, and who.
    pub fn takeover_after_last_change(&self, old: &str) -> Option<(f64, String)> {
        let events = self.events();
        let handover = events
            .iter()
            .position(|e| e.holder.as_deref().is_some_and(|h| h != old))?;
        let last_old = events[..handover]
            .iter()
            .rev()
            .find(|e| e.holder.as_deref() == Some(old))?;
        let new = &events[handover];
        Some((
            new.at.duration_since(last_old.at).as_secs_f64(),
            new.holder.clone()?,
        ))
    }
}

impl Drop for LeaseWatcher {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
