//! The one Lease watcher: every write to the Leases named [`LEASE`], in one namespace or in
//! all, each kept with the wall-clock time and the instant it arrived. The chaos suite reads
//! takeover delays from it; the benchmark reads every failover and handoff from it, comparing
//! its wall-clock times with the acquire and renew times the replicas wrote.
//!
//! It lists, then watches from the list's resourceVersion (field selector
//! `metadata.name=<LEASE>`, bookmarks on); when a watch ends it resumes from the last
//! resourceVersion seen (a bookmark's included), and when the server says that version is
//! gone (410, as a status or as an ERROR event) it lists again. It runs on a thread of its
//! own with a runtime of its own, so that callers on plain threads can use it; dropping it
//! (or [`LeaseWatcher::stop`]) ends the thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use tokio_util::sync::CancellationToken;

use super::control_plane::client_for;
use super::lease::LEASE;

/// How long one watch request lasts on the server before it ends and is resumed: under the
/// kube client's 295 s read timeout, so that the server's clean end comes first.
const WATCH_TIMEOUT_S: u32 = 290;
/// The pause before retrying after an error (the API server restarting, say).
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How many of the last errors are kept.
const ERRORS_KEPT: usize = 50;

/// How the watcher came to see a Lease: in the list that starts each watch, or as a watch
/// event.
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

/// One write to a Lease, as the watcher received it.
#[derive(Clone, Debug)]
pub struct LeaseEvent {
    /// When it arrived: wall-clock, seconds since the epoch (to compare with the times the
    /// replicas wrote into the Lease, on the same host).
    pub t: f64,
    /// When it arrived, on the monotonic clock.
    pub at: Instant,
    pub kind: EventKind,
    pub namespace: String,
    pub resource_version: Option<String>,
    /// `spec.holderIdentity`; "" when none.
    pub holder: String,
    /// `spec.acquireTime`, seconds since the epoch.
    pub acquire: Option<f64>,
    /// `spec.renewTime`, seconds since the epoch.
    pub renew: Option<f64>,
    pub lease_duration_seconds: Option<i32>,
    pub lease_transitions: Option<i32>,
}

impl LeaseEvent {
    /// Whether the holder it names has renewed since it acquired the Lease.
    pub fn renewed(&self) -> bool {
        matches!((self.acquire, self.renew), (Some(a), Some(r)) if r > a)
    }

    fn of(kind: EventKind, lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        LeaseEvent {
            t: epoch_now(),
            at: Instant::now(),
            kind,
            namespace: lease.metadata.namespace.clone().unwrap_or_default(),
            resource_version: lease.metadata.resource_version.clone(),
            holder: spec.holder_identity.unwrap_or_default(),
            acquire: spec.acquire_time.as_ref().map(micro_time),
            renew: spec.renew_time.as_ref().map(micro_time),
            lease_duration_seconds: spec.lease_duration_seconds,
            lease_transitions: spec.lease_transitions,
        }
    }
}

/// Seconds since the epoch, now.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn micro_time(t: &MicroTime) -> f64 {
    t.0.as_second() as f64 + f64::from(t.0.subsec_nanosecond()) / 1e9
}

#[derive(Default)]
struct State {
    events: HashMap<String, Vec<LeaseEvent>>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `event` under its namespace.
    fn record(&self, event: LeaseEvent) {
        self.lock()
            .events
            .entry(event.namespace.clone())
            .or_default()
            .push(event);
    }

    /// Says that a watch request is open, waking [`LeaseWatcher::wait_started`].
    fn mark_started(&self) {
        let mut s = self.lock();
        s.started = true;
        self.started.notify_all();
    }

    fn error(&self, what: String) {
        let mut s = self.lock();
        s.errors.push(format!("{:.3} {what}", epoch_now()));
        let excess = s.errors.len().saturating_sub(ERRORS_KEPT);
        s.errors.drain(..excess);
    }
}

/// The watch, on a thread of its own; the events it saw, by namespace.
pub struct LeaseWatcher {
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl LeaseWatcher {
    /// Starts watching the Leases named [`LEASE`] in `namespace` (or in every namespace)
    /// with the credentials of `kubeconfig` (the admin's, usually).
    pub fn start(kubeconfig: &Path, namespace: Option<&str>) -> Self {
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let (shared2, stop2) = (shared.clone(), stop.clone());
        let (kubeconfig, namespace): (PathBuf, Option<String>) =
            (kubeconfig.to_path_buf(), namespace.map(str::to_string));
        let thread = std::thread::Builder::new()
            .name("lease-watch".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the watcher's runtime");
                runtime.block_on(async move {
                    tokio::select! {
                        _ = stop2.cancelled() => {}
                        _ = watch(&kubeconfig, namespace.as_deref(), &shared2) => {}
                    }
                });
            })
            .expect("spawn the lease watcher's thread");
        LeaseWatcher {
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// A watcher that watches nothing and has seen `events`: for testing what is asked of
    /// one.
    pub fn replay(events: Vec<LeaseEvent>) -> Self {
        let shared = Arc::new(Shared::default());
        {
            let mut s = shared.lock();
            for e in events {
                s.events.entry(e.namespace.clone()).or_default().push(e);
            }
            s.started = true;
        }
        LeaseWatcher {
            shared,
            stop: CancellationToken::new(),
            thread: None,
        }
    }

    /// Blocks until the first watch request is open (so that no later write is missed), at
    /// most `limit`; an error naming `what` and the last errors otherwise.
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

    /// How many events of `ns` so far: a position to ask [`Self::since`] from later.
    pub fn count(&self, ns: &str) -> usize {
        self.shared.lock().events.get(ns).map_or(0, Vec::len)
    }

    /// The events of `ns` from position `idx` on.
    pub fn since(&self, ns: &str, idx: usize) -> Vec<LeaseEvent> {
        self.shared
            .lock()
            .events
            .get(ns)
            .map(|e| e.get(idx..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }

    /// Every event of `ns`.
    pub fn all(&self, ns: &str) -> Vec<LeaseEvent> {
        self.since(ns, 0)
    }

    /// The last event of `ns`.
    pub fn latest(&self, ns: &str) -> Option<LeaseEvent> {
        self.shared
            .lock()
            .events
            .get(ns)
            .and_then(|e| e.last().cloned())
    }

    /// The first event of `ns` since position `idx` that names a holder other than `old`.
    pub fn new_holder_since(&self, ns: &str, idx: usize, old: &str) -> Option<LeaseEvent> {
        let s = self.shared.lock();
        s.events
            .get(ns)?
            .get(idx..)?
            .iter()
            .find(|e| !e.holder.is_empty() && e.holder != old)
            .cloned()
    }

    /// How long after the last change to `ns`'s Lease that named `old` the Lease first named
    /// someone else, and who (a deleted Lease names no one): the takeover as a standby sees
    /// it.
    pub fn takeover_after_last_change(&self, ns: &str, old: &str) -> Option<(f64, String)> {
        let events = self.all(ns);
        let holder = |e: &LeaseEvent| {
            (e.kind != EventKind::Deleted && !e.holder.is_empty()).then(|| e.holder.clone())
        };
        let handover = events
            .iter()
            .position(|e| holder(e).is_some_and(|h| h != old))?;
        let last_old = events[..handover]
            .iter()
            .rev()
            .find(|e| holder(e).as_deref() == Some(old))?;
        let new = &events[handover];
        Some((
            new.at.duration_since(last_old.at).as_secs_f64(),
            holder(new)?,
        ))
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

impl Drop for LeaseWatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The watcher's loop: list when there is no resourceVersion to resume from, then watch from
/// it until the stream ends; forever (the caller cancels it).
async fn watch(kubeconfig: &Path, namespace: Option<&str>, shared: &Shared) {
    let client = client_for(kubeconfig).await;
    let leases: Api<Lease> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let selector = format!("metadata.name={LEASE}");
    let mut rv: Option<String> = None;
    loop {
        let from = match &rv {
            Some(rv) => rv.clone(),
            None => match list(&leases, &selector, shared).await {
                Some(listed) => {
                    rv = Some(listed.clone());
                    listed
                }
                None => continue,
            },
        };
        let params = WatchParams::default()
            .fields(&selector)
            .timeout(WATCH_TIMEOUT_S);
        let stream = match leases.watch(&params, &from).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(status)) if status.code == 410 => {
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
        follow(stream.boxed(), &mut rv, shared).await;
        shared.lock().reconnects += 1;
    }
}

/// Lists the Leases, recording each as [`EventKind::Listed`]: the list's resourceVersion,
/// to watch from; `None` after an error (recorded, then a pause before the next try).
async fn list(leases: &Api<Lease>, selector: &str, shared: &Shared) -> Option<String> {
    match leases.list(&ListParams::default().fields(selector)).await {
        Ok(list) => {
            for lease in &list.items {
                shared.record(LeaseEvent::of(EventKind::Listed, lease));
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
async fn follow(
    mut stream: BoxStream<'_, kube::Result<WatchEvent<Lease>>>,
    rv: &mut Option<String>,
    shared: &Shared,
) {
    loop {
        let (kind, lease) = match stream.next().await {
            Some(Ok(WatchEvent::Added(l))) => (EventKind::Added, l),
            Some(Ok(WatchEvent::Modified(l))) => (EventKind::Modified, l),
            Some(Ok(WatchEvent::Deleted(l))) => (EventKind::Deleted, l),
            Some(Ok(WatchEvent::Bookmark(b))) => {
                *rv = Some(b.metadata.resource_version);
                continue;
            }
            Some(Ok(WatchEvent::Error(e))) => {
                if e.code == 410 {
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
        if let Some(v) = &lease.metadata.resource_version {
            *rv = Some(v.clone());
        }
        shared.record(LeaseEvent::of(kind, &lease));
    }
}
