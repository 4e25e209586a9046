//! The driver's watch on both Deployments' pods: when it first saw each pod marked for
//! deletion, which is the moment the API server accepted a `kubectl delete pod`, without
//! kubectl's own start-up.
//!
//! It follows the shared Lease watcher (`support::lease_watch`): a list, then a watch from
//! its resourceVersion, resumed from the last version seen when it ends, a new list when the
//! server says that version is gone; on a thread with a runtime of its own, until dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use tokio_util::sync::CancellationToken;

use super::deployment::SELECTOR;
use crate::support::control_plane::client_for;
use crate::support::lease_watch::epoch_now;

/// Under the kube client's read timeout, so that the server's clean end comes first.
const WATCH_TIMEOUT_S: u32 = 290;
/// The pause before retrying after an error.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// The status code with which the server says a resourceVersion is too old to watch from.
const GONE: u16 = 410;

#[derive(Default)]
struct State {
    /// (namespace, pod) -> when the watch first saw it marked for deletion (or deleted),
    /// seconds since the epoch.
    deleting: HashMap<(String, String), f64>,
    reconnects: u64,
    relists: u64,
    errors: Vec<String>,
    started: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    started: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, what: String) {
        self.lock()
            .errors
            .push(format!("{:.3} {what}", epoch_now()));
    }

    /// The first watch request is open: [`PodWatch::wait_started`] returns.
    fn mark_started(&self) {
        let mut s = self.lock();
        s.started = true;
        self.started.notify_all();
    }

    fn record(&self, pod: &Pod, deleted: bool) {
        if deleted || pod.metadata.deletion_timestamp.is_some() {
            let key = (
                pod.metadata.namespace.clone().unwrap_or_default(),
                pod.metadata.name.clone().unwrap_or_default(),
            );
            self.lock().deleting.entry(key).or_insert_with(epoch_now);
        }
    }
}

/// The watch, on a thread of its own until dropped.
pub struct PodWatch {
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl PodWatch {
    /// Starts watching the pods with the Deployments' label in every namespace.
    pub fn start(kubeconfig: &Path) -> Self {
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let (shared2, stop2) = (shared.clone(), stop.clone());
        let kubeconfig: PathBuf = kubeconfig.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("pod-watch".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the pod watch's runtime");
                runtime.block_on(async move {
                    tokio::select! {
                        _ = stop2.cancelled() => {}
                        _ = watch(&kubeconfig, &shared2) => {}
                    }
                });
            })
            .expect("spawn the pod watch's thread");
        PodWatch {
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// Blocks until the first watch request is open, at most `limit`.
    pub fn wait_started(&self, what: &str, limit: Duration) -> Result<(), String> {
        let guard = self.shared.lock();
        let (guard, _) = self
            .shared
            .started
            .wait_timeout_while(guard, limit, |s| !s.started)
            .unwrap_or_else(|e| e.into_inner());
        if guard.started {
            Ok(())
        } else {
            let last: Vec<&String> = guard.errors.iter().rev().take(3).collect();
            Err(format!("{what} did not start within {limit:?}: {last:?}"))
        }
    }

    /// When the watch first saw `pod` of `ns` marked for deletion, seconds since the epoch.
    pub fn deletion_seen(&self, ns: &str, pod: &str) -> Option<f64> {
        self.shared
            .lock()
            .deleting
            .get(&(ns.to_string(), pod.to_string()))
            .copied()
    }

    pub fn reconnects(&self) -> u64 {
        self.shared.lock().reconnects
    }

    pub fn relists(&self) -> u64 {
        self.shared.lock().relists
    }

    /// The last errors, oldest first, each with its wall-clock time.
    pub fn errors(&self) -> Vec<String> {
        self.shared.lock().errors.clone()
    }

    /// Ends the watch and waits for its thread.
    pub fn stop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The watch's loop: a list when there is no version to resume from, then a watch from the
/// version, followed until it ends; then again.
async fn watch(kubeconfig: &Path, shared: &Shared) {
    let pods: Api<Pod> = Api::all(client_for(kubeconfig).await);
    let mut rv: Option<String> = None;
    loop {
        let from = match &rv {
            Some(rv) => rv.clone(),
            None => match list(&pods, shared).await {
                Some(listed) => {
                    rv = Some(listed.clone());
                    listed
                }
                None => continue,
            },
        };
        let params = WatchParams::default()
            .labels(SELECTOR)
            .timeout(WATCH_TIMEOUT_S);
        let stream = match pods.watch(&params, &from).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(status)) if status.code == GONE => {
                rv = None;
                continue;
            }
            Err(e) => {
                shared.error(format!("watch: {e}"));
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        shared.mark_started();
        follow(stream.boxed(), shared, &mut rv).await;
        shared.lock().reconnects += 1;
    }
}

/// Lists the pods, each recorded; the list's resourceVersion, or `None` after an error (and
/// [`RETRY_PAUSE`]).
async fn list(pods: &Api<Pod>, shared: &Shared) -> Option<String> {
    match pods.list(&ListParams::default().labels(SELECTOR)).await {
        Ok(list) => {
            for pod in &list.items {
                shared.record(pod, false);
            }
            shared.lock().relists += 1;
            Some(list.metadata.resource_version.unwrap_or_default())
        }
        Err(e) => {
            shared.error(format!("list: {e}"));
            tokio::time::sleep(RETRY_PAUSE).await;
            None
        }
    }
}

/// Records each pod event until the watch ends, keeping `rv` at the last version seen; `None`
/// when the server says that version is gone, so that the next round lists again.
async fn follow(
    mut stream: BoxStream<'_, kube::Result<WatchEvent<Pod>>>,
    shared: &Shared,
    rv: &mut Option<String>,
) {
    loop {
        let (pod, deleted) = match stream.next().await {
            Some(Ok(WatchEvent::Added(p) | WatchEvent::Modified(p))) => (p, false),
            Some(Ok(WatchEvent::Deleted(p))) => (p, true),
            Some(Ok(WatchEvent::Bookmark(b))) => {
                *rv = Some(b.metadata.resource_version);
                continue;
            }
            Some(Ok(WatchEvent::Error(e))) => {
                if e.code == GONE {
                    *rv = None;
                } else {
                    shared.error(format!("watch event: {e:?}"));
                }
                return;
            }
            Some(Err(e)) => {
                shared.error(format!("watch stream: {e}"));
                tokio::time::sleep(RETRY_PAUSE).await;
                return;
            }
            None => return,
        };
        if let Some(v) = &pod.metadata.resource_version {
            *rv = Some(v.clone());
        }
        shared.record(&pod, deleted);
    }
}
