//! The one list-then-watch loop, for the harness's watchers of one kind of object (the Lease
//! watcher, the benchmark's pod watch): a list, then a watch from the list's resourceVersion
//! (bookmarks on); when a watch ends it resumes from the last resourceVersion seen (a
//! bookmark's included), and when the server says that version is gone (410, as a status or
//! as an ERROR event) it lists again. Each object listed or received goes to the watcher's
//! own `record`, with how it came.
//!
//! It runs on a thread of its own with a runtime of its own, so that callers on plain
//! threads can use it; dropping it (or [`Watch::stop`]) ends the thread.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::control_plane::client_for;

/// How long one watch request lasts on the server before it ends and is resumed: under the
/// kube client's 295 s read timeout, so that the server's clean end comes first.
const WATCH_TIMEOUT_S: u32 = 290;
/// The pause before retrying after an error (the API server restarting, say).
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How many of the last errors are kept.
const ERRORS_KEPT: usize = 50;
/// The status code with which the server says a resourceVersion is too old to watch from.
const GONE: u16 = 410;

/// How the watcher came to see an object: in the list that starts each watch, or as a
/// watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Listed,
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    /// The name the API (and the benchmark's results) give it.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Listed => "LISTED",
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// Which objects a watch follows.
#[derive(Clone, Debug)]
pub enum Selector {
    /// A field selector, e.g. `metadata.name=k8sensus-lease`.
    Fields(String),
    /// A label selector, e.g. `app=k8sensus`.
    Labels(String),
}

impl Selector {
    fn list_params(&self) -> ListParams {
        match self {
            Selector::Fields(s) => ListParams::default().fields(s),
            Selector::Labels(s) => ListParams::default().labels(s),
        }
    }

    fn watch_params(&self) -> WatchParams {
        let params = WatchParams::default().timeout(WATCH_TIMEOUT_S);
        match self {
            Selector::Fields(s) => params.fields(s),
            Selector::Labels(s) => params.labels(s),
        }
    }
}

/// Seconds since the epoch, now.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Default)]
struct Health {
    reconnects: u64,
    relists: u64,
    errors: Vec<String>,
    started: bool,
}

#[derive(Default)]
struct Shared {
    health: Mutex<Health>,
    started: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Says that a watch request is open, waking [`Watch::wait_started`].
    fn mark_started(&self) {
        let mut h = self.lock();
        h.started = true;
        self.started.notify_all();
    }

    fn error(&self, what: String) {
        let mut h = self.lock();
        h.errors.push(format!("{:.3} {what}", epoch_now()));
        let excess = h.errors.len().saturating_sub(ERRORS_KEPT);
        h.errors.drain(..excess);
    }
}

/// A list-then-watch of one kind of object, on a thread of its own until dropped.
pub struct Watch {
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts following the `K`s that `selector` picks, in `namespace` (or in every
    /// namespace), with the credentials of `kubeconfig`; `record` gets each one listed or
    /// received, on the watch's thread. `name` names the thread.
    pub fn start<K>(
        name: &str,
        kubeconfig: &Path,
        namespace: Option<&str>,
        selector: Selector,
        record: impl Fn(EventKind, &K) + Send + 'static,
    ) -> Self
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + 'static,
    {
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let (shared2, stop2) = (shared.clone(), stop.clone());
        let (kubeconfig, namespace): (PathBuf, Option<String>) =
            (kubeconfig.to_path_buf(), namespace.map(str::to_string));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the watch's runtime");
                runtime.block_on(async move {
                    let client = client_for(&kubeconfig).await;
                    let api: Api<K> = match &namespace {
                        Some(ns) => Api::namespaced(client, ns),
                        None => Api::all(client),
                    };
                    tokio::select! {
                        _ = stop2.cancelled() => {}
                        _ = watch(&api, &selector, &record, &shared2) => {}
                    }
                });
            })
            .expect("spawn a watch's thread");
        Watch {
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// A watch that follows nothing and counts as started: for a watcher that replays
    /// events in a test.
    pub fn idle() -> Self {
        let shared = Arc::new(Shared::default());
        shared.lock().started = true;
        Watch {
            shared,
            stop: CancellationToken::new(),
            thread: None,
        }
    }

    /// Blocks until the first watch request is open (so that no later change is missed), at
    /// most `limit`; an error naming `what` and the last errors otherwise.
    pub fn wait_started(&self, what: &str, limit: Duration) -> Result<(), String> {
        let guard = self.shared.lock();
        let (guard, _) = self
            .shared
            .started
            .wait_timeout_while(guard, limit, |h| !h.started)
            .unwrap_or_else(|e| e.into_inner());
        if guard.started {
            Ok(())
        } else {
            let last: Vec<&String> = guard.errors.iter().rev().take(3).collect();
            Err(format!("{what} did not start within {limit:?}: {last:?}"))
        }
    }

    /// Watches that ended and were resumed.
    pub fn reconnects(&self) -> u64 {
        self.shared.lock().reconnects
    }

    /// Lists made (the first one included).
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

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The loop: list when there is no resourceVersion to resume from, then watch from it until
/// the stream ends; forever (the caller cancels it).
async fn watch<K>(
    api: &Api<K>,
    selector: &Selector,
    record: &impl Fn(EventKind, &K),
    shared: &Shared,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut rv: Option<String> = None;
    loop {
        let from = match &rv {
            Some(rv) => rv.clone(),
            None => match list(api, selector, record, shared).await {
                Some(listed) => {
                    rv = Some(listed.clone());
                    listed
                }
                None => continue,
            },
        };
        let stream = match api.watch(&selector.watch_params(), &from).await {
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
        follow(stream.boxed(), &mut rv, record, shared).await;
        shared.lock().reconnects += 1;
    }
}

/// Lists the objects, recording each as [`EventKind::Listed`]: the list's resourceVersion,
/// to watch from; `None` after an error (recorded, then a pause before the next try).
async fn list<K>(
    api: &Api<K>,
    selector: &Selector,
    record: &impl Fn(EventKind, &K),
    shared: &Shared,
) -> Option<String>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    match api.list(&selector.list_params()).await {
        Ok(list) => {
            for object in &list.items {
                record(EventKind::Listed, object);
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

/// Records every event of one watch until it ends, `rv` following the last resourceVersion
/// seen (a bookmark's included); `None` when the server says that version is gone (410), so
/// that the next round lists again.
async fn follow<K>(
    mut stream: BoxStream<'_, kube::Result<WatchEvent<K>>>,
    rv: &mut Option<String>,
    record: &impl Fn(EventKind, &K),
    shared: &Shared,
) where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    loop {
        let (kind, object) = match stream.next().await {
            Some(Ok(WatchEvent::Added(o))) => (EventKind::Added, o),
            Some(Ok(WatchEvent::Modified(o))) => (EventKind::Modified, o),
            Some(Ok(WatchEvent::Deleted(o))) => (EventKind::Deleted, o),
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
        if let Some(v) = &object.meta().resource_version {
            *rv = Some(v.clone());
        }
        record(kind, &object);
    }
}
