//! The one Lease watcher: every write to the Leases named [`LEASE`], in one namespace or in
//! all, each kept with the wall-clock time and the instant it arrived. The chaos suite reads
//! takeover delays from it; the benchmark reads every failover and handoff from it, comparing
//! its wall-clock times with the acquire and renew times the replicas wrote.
//!
//! It follows the Leases with the harness's one list-then-watch loop ([`super::watch`], field
//! selector `metadata.name=<LEASE>`), which resumes a watch that ends and lists again when
//! the server has forgotten the version; it runs on a thread of its own, so that callers on
//! plain threads can use it; dropping it (or [`LeaseWatcher::stop`]) ends the thread.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

use super::lease::LEASE;
pub use super::watch::{EventKind, epoch_now};
use super::watch::{Selector, Watch};

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

fn micro_time(t: &MicroTime) -> f64 {
    t.0.as_second() as f64 + f64::from(t.0.subsec_nanosecond()) / 1e9
}

/// The events seen, by namespace.
type Events = Arc<Mutex<HashMap<String, Vec<LeaseEvent>>>>;

/// The watch, on a thread of its own; the events it saw, by namespace.
pub struct LeaseWatcher {
    events: Events,
    watch: Watch,
}

impl LeaseWatcher {
    /// Starts watching the Leases named [`LEASE`] in `namespace` (or in every namespace)
    /// with the credentials of `kubeconfig` (the admin's, usually).
    pub fn start(kubeconfig: &Path, namespace: Option<&str>) -> Self {
        let events = Events::default();
        let sink = events.clone();
        let watch = Watch::start(
            "lease-watch",
            kubeconfig,
            namespace,
            Selector::Fields(format!("metadata.name={LEASE}")),
            move |kind, lease: &Lease| {
                let event = LeaseEvent::of(kind, lease);
                lock(&sink)
                    .entry(event.namespace.clone())
                    .or_default()
                    .push(event);
            },
        );
        LeaseWatcher { events, watch }
    }

    /// A watcher that watches nothing and has seen `events`: for testing what is asked of
    /// one.
    pub fn replay(events: Vec<LeaseEvent>) -> Self {
        let by_ns = Events::default();
        for e in events {
            lock(&by_ns).entry(e.namespace.clone()).or_default().push(e);
        }
        LeaseWatcher {
            events: by_ns,
            watch: Watch::idle(),
        }
    }

    /// Blocks until the first watch request is open (so that no later write is missed), at
    /// most `limit`; an error naming `what` and the last errors otherwise.
    pub fn wait_started(&self, what: &str, limit: Duration) -> Result<(), String> {
        self.watch.wait_started(what, limit)
    }

    /// How many events of `ns` so far: a position to ask [`Self::since`] from later.
    pub fn count(&self, ns: &str) -> usize {
        lock(&self.events).get(ns).map_or(0, Vec::len)
    }

    /// The events of `ns` from position `idx` on.
    pub fn since(&self, ns: &str, idx: usize) -> Vec<LeaseEvent> {
        lock(&self.events)
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
        lock(&self.events).get(ns).and_then(|e| e.last().cloned())
    }

    /// The first event of `ns` since position `idx` that names a holder other than `old`.
    pub fn new_holder_since(&self, ns: &str, idx: usize, old: &str) -> Option<LeaseEvent> {
        let events = lock(&self.events);
        events
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
        self.watch.reconnects()
    }

    /// Lists made (the first one included).
    pub fn relists(&self) -> u64 {
        self.watch.relists()
    }

    /// The last errors, oldest first, each with its wall-clock time.
    pub fn errors(&self) -> Vec<String> {
        self.watch.errors()
    }

    /// Ends the watch and waits for its thread.
    pub fn stop(&mut self) {
        self.watch.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
