//! A set of replicas of one implementation on one Lease (its own namespace), and the
//! timeline's markers (kills, SIGTERMs, restarts) that every set writes to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::progress::log;
use crate::support::Timings;
use crate::support::lease_watch::{LeaseEvent, LeaseWatcher, epoch_now};
use crate::support::replica::{Implementation, LoggedReplica};

/// The replicas of each set of the local part.
pub const REPLICAS: usize = 3;
/// How often a wait looks again (the watch's events arrive with their own time: this only
/// bounds how late a wait notices them).
pub const POLL: Duration = Duration::from_millis(5);

/// The namespace of one set: the run's seed is in every name, so that ServiceAccount names
/// in the audit log belong to this run alone (even if another run wrote to the same log).
pub fn namespace_name(seed: u64, part: &str, key: &str) -> String {
    format!("bench-{}-{part}-{key}", seed % 100_000)
}

/// One mark on the timeline: a replica started, killed, sent SIGTERM or restarted.
#[derive(Clone, Debug)]
pub struct Marker {
    pub ns: String,
    pub kind: &'static str,
    pub replica: String,
    /// Seconds since the epoch.
    pub t: f64,
    pub trial: Option<usize>,
}

/// Every set's marks, in the order made.
#[derive(Default)]
pub struct Markers(Mutex<Vec<Marker>>);

impl Markers {
    pub fn push(&self, marker: Marker) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(marker);
    }

    /// The marks made on namespace `ns`.
    pub fn of(&self, ns: &str) -> Vec<Marker> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().filter(|m| m.ns == ns).cloned().collect()
    }
}

/// `n` replicas of one implementation on the Lease of namespace `ns`, each with the
/// kubeconfig of its own ServiceAccount.
pub struct ReplicaSet {
    pub implementation: Implementation,
    pub ns: String,
    pub timings: Timings,
    pub replicas: Vec<LoggedReplica>,
}

impl ReplicaSet {
    pub fn new(
        implementation: &Implementation,
        ns: &str,
        kubeconfigs: &HashMap<(String, usize), PathBuf>,
        timings: Timings,
        n: usize,
        log_dir: &Path,
    ) -> Self {
        let replicas = (0..n)
            .map(|slot| {
                let kubeconfig = &kubeconfigs[&(ns.to_string(), slot)];
                LoggedReplica::new(implementation, ns, slot, kubeconfig, timings, log_dir)
            })
            .collect();
        ReplicaSet {
            implementation: implementation.clone(),
            ns: ns.to_string(),
            timings,
            replicas,
        }
    }

    /// The index of the replica whose identity is `identity`.
    pub fn index_of(&self, identity: &str) -> Option<usize> {
        self.replicas.iter().position(|r| r.identity == identity)
    }

    fn mark(
        &self,
        markers: &Markers,
        kind: &'static str,
        replica: &str,
        t: f64,
        trial: Option<usize>,
    ) {
        markers.push(Marker {
            ns: self.ns.clone(),
            kind,
            replica: replica.to_string(),
            t,
            trial,
        });
    }

    /// Starts every replica.
    pub fn start_all(&mut self, markers: &Markers) -> Result<(), String> {
        for i in 0..self.replicas.len() {
            let t = self.replicas[i].start()?;
            self.mark(markers, "start", &self.replicas[i].identity, t, None);
        }
        Ok(())
    }

    /// Starts replica `i` again, with the same identity, after trial `trial`.
    pub fn restart(&mut self, i: usize, markers: &Markers, trial: usize) {
        match self.replicas[i].start() {
            Ok(t) => self.mark(
                markers,
                "restart",
                &self.replicas[i].identity,
                t,
                Some(trial),
            ),
            Err(e) => log(&format!(
                "could not restart {}: {e}",
                self.replicas[i].identity
            )),
        }
    }

    /// Sends signal `signal` to replica `i`, marked as `kind` on the timeline; returns when
    /// it was sent.
    pub fn strike(
        &mut self,
        i: usize,
        signal: rustix::process::Signal,
        kind: &'static str,
        markers: &Markers,
        trial: usize,
    ) -> Result<f64, String> {
        let t = self.replicas[i].signal(signal)?;
        self.mark(markers, kind, &self.replicas[i].identity, t, Some(trial));
        Ok(t)
    }

    /// SIGTERM to every replica at once, then a wait for each (kill -9 past `grace`).
    pub fn stop_all(&mut self, grace: Duration) {
        let mut running = Vec::new();
        for (i, r) in self.replicas.iter_mut().enumerate() {
            if r.alive() {
                let _ = r.signal(rustix::process::Signal::TERM);
                running.push(i);
            }
        }
        let end = Instant::now() + grace;
        for i in running {
            let r = &mut self.replicas[i];
            let left = end
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100));
            if r.wait(left).is_none() {
                r.kill();
            }
            r.reap("stop");
        }
    }

    /// The latest event of the set's Lease if every replica is running and has been for
    /// `settle` s, one of them holds the Lease, and it has renewed at least once.
    pub fn steady(&mut self, watcher: &LeaseWatcher, settle: f64) -> Option<LeaseEvent> {
        let now = epoch_now();
        if !self
            .replicas
            .iter_mut()
            .all(|r| r.alive() && now - r.started >= settle)
        {
            return None;
        }
        let ev = watcher.latest(&self.ns)?;
        let i = self.index_of(&ev.holder)?;
        if !self.replicas[i].alive() || !ev.renewed() {
            return None;
        }
        Some(ev)
    }
}

/// Waits until every set has a steady leader ([`ReplicaSet::steady`] with no settling), at
/// most `timeout` s; the error names the sets without one.
pub fn wait_leaders(
    sets: &mut [&mut ReplicaSet],
    watcher: &LeaseWatcher,
    timeout: f64,
    log_dir: &Path,
) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        if sets.iter_mut().all(|rs| rs.steady(watcher, 0.0).is_some()) {
            return Ok(());
        }
        if Instant::now() > end {
            let missing: Vec<String> = sets
                .iter_mut()
                .filter_map(|rs| rs.steady(watcher, 0.0).is_none().then(|| rs.ns.clone()))
                .collect();
            return Err(format!(
                "no leader elected within {timeout:.0} s in {missing:?}; see {}",
                log_dir.display()
            ));
        }
        std::thread::sleep(POLL);
    }
}
