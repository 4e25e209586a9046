//! What this process knows about the Lease beyond the object itself: the version it last
//! observed and when, the records it wrote, the highest fencing token seen, and since when
//! the Lease has been missing. Every read of the Lease goes through [`LeaderElector::observe`]
//! and every write of ours through [`LeaderElector::claimed`] and
//! [`LeaderElector::wrote`], so the rules always judge with the same facts.
//!
//! "Observe" means one thing in the elector: take in a version of the Lease, read or written.

use std::sync::MutexGuard;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::election::{LeaderElector, WORK_STARTS_AT_ANNOTATION};
use super::log_event;
use super::record::LeaseRecord;
use super::rules::{self, Observation, Verdict, Written};

/// How often, at most, the duplicate-identity error is logged.
const DUPLICATE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What this process remembers across attempts and terms.
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// The Lease as last observed, and when our clock first saw that version: the base of
    /// every expiry judgement (client-go's observedRecord and observedTime).
    pub observation: Option<Observation>,
    /// The records this process wrote: only those are "ours".
    pub written: Written,
    /// The highest `leaseTransitions` seen on any Lease of this name: no token we write is
    /// ever below it.
    pub highest_seen: Option<i32>,
    /// When we first saw the Lease missing, until we see it exist again.
    pub missing_since: Option<Instant>,
    /// When we last logged a duplicate identity.
    pub duplicate_logged_at: Option<Instant>,
    /// No work of any term of this process may start before this instant: the latest start
    /// of a delayed term so far. If that term ends before its work starts and we win again
    /// (our own record, found again), the reason for the wait still holds.
    pub work_not_before: Option<Instant>,
}

impl Memory {
    fn see_transitions(&mut self, transitions: i32) {
        self.highest_seen = Some(self.highest_seen.unwrap_or(i32::MIN).max(transitions));
    }
}

impl LeaderElector {
    pub(super) fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict on the Lease as last observed, with the records this process wrote.
    /// `None` before the first observation.
    pub(super) fn judge(&self, now: Instant) -> Option<Verdict> {
        let memory = self.memory();
        let seen = memory.observation.as_ref()?;
        Some(rules::judge(
            seen,
            &self.config.identity,
            &memory.written,
            now,
            self.config.timings.lease_duration,
        ))
    }

    /// Takes in a version of the Lease read from the API server (a GET or a watch event):
    /// it restarts the expiry clock if the record changed, and is published. A change under
    /// our name that we did not write is another process with our identity.
    pub(super) fn observe(&self, record: &LeaseRecord, now: Instant) {
        let (first, changed, ours) = {
            let mut memory = self.memory();
            memory.see_transitions(record.transitions);
            let (first, changed) = match &mut memory.observation {
                Some(seen) => (false, seen.update(record.clone(), now)),
                None => {
                    memory.observation = Some(Observation::new(record.clone(), now));
                    (true, true)
                }
            };
            (first, changed, memory.written.ours(record))
        };
        if !changed {
            return;
        }
        self.status.holder_seen(record);
        if record.holder == self.config.identity && !ours {
            if first {
                // Most often a container restarted with its pod name: its predecessor's
                // record. It is honoured like anyone else's, and taken over with a new token.
                info!(
                    "the lease names this replica's identity, but this process did not write it (an earlier process with the same identity, such as a restarted container, or another live one); waiting for its claim to run out like anyone else's"
                );
            } else {
                // A change we did not write, under our name: a live twin is renewing it.
                self.duplicate_identity();
            }
        }
        let own = self.config.timings.lease_duration;
        if rules::duration_capped(record, own) {
            warn!(lease_duration_seconds = record.lease_duration_seconds, event = log_event::DURATION_CAPPED,
                honoured = %humantime::format_duration(rules::effective_duration(record, own)),
                "the lease's leaseDurationSeconds is longer than k8sensus honours; its holder's claim is judged with the maximum instead");
        }
    }

    /// Takes in a version the leader read while renewing: only its transition count matters
    /// (the term's own clock decides when it ends), and whether it is still ours.
    pub(super) fn observe_while_leading(&self, record: &LeaseRecord) -> bool {
        let mut memory = self.memory();
        memory.see_transitions(record.transitions);
        memory.written.ours(record)
    }

    /// `lease` with our claim written in: a renewal inside our term, or a new term
    /// ([`rules::claim`] decides `acquireTime` and `leaseTransitions`). The resourceVersion
    /// it carries is the one it was read with, so the write is conditional on it. A new term
    /// also clears `preferredHolder` (as client-go does on takeover) and our work-start note.
    /// The record is remembered as ours before it is sent: if the answer is lost, the write
    /// may still have landed.
    pub(super) fn claimed(&self, mut lease: Lease, new_term: bool) -> Lease {
        let record = LeaseRecord::from_lease(&lease);
        let mut memory = self.memory();
        let next = rules::claim(
            &record,
            &self.config.identity,
            Timestamp::now(),
            self.config.timings.lease_duration,
            new_term,
            memory.highest_seen,
        );
        next.write_to(&mut lease);
        memory.written.wrote(next);
        if new_term {
            rules::clear_for_new_term(&mut lease, WORK_STARTS_AT_ANNOTATION);
        }
        lease
    }

    /// A new Lease object holding `record`, to be created. The record is remembered as ours
    /// before it is sent.
    pub(super) fn new_lease(&self, record: &LeaseRecord) -> Lease {
        let mut lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.lease_name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: None,
        };
        record.write_to(&mut lease);
        self.memory().written.wrote(record.clone());
        lease
    }

    /// Our own write succeeded: remember the record as the server stored it. The Lease
    /// exists again, so a later disappearance starts a new wait.
    pub(super) fn wrote(&self, lease: &Lease) {
        let record = LeaseRecord::from_lease(lease);
        let mut memory = self.memory();
        memory.missing_since = None;
        memory.see_transitions(record.transitions);
        memory.written.wrote(record);
    }

    /// Our write that won the Lease: also an observation, which restarts the expiry clock.
    pub(super) fn observe_own_write(&self, lease: &Lease) {
        self.wrote(lease);
        let record = LeaseRecord::from_lease(lease);
        let now = Instant::now();
        let mut memory = self.memory();
        match &mut memory.observation {
            Some(seen) => {
                seen.update(record, now);
            }
            None => memory.observation = Some(Observation::new(record, now)),
        }
    }

    /// Another live process carries our identity: say so loudly (once a minute at most),
    /// and count it.
    pub(super) fn duplicate_identity(&self) {
        self.hooks.duplicate_identity();
        let now = Instant::now();
        {
            let mut memory = self.memory();
            if memory
                .duplicate_logged_at
                .is_some_and(|at| now < at + DUPLICATE_LOG_INTERVAL)
            {
                return;
            }
            memory.duplicate_logged_at = Some(now);
        }
        error!(
            event = log_event::DUPLICATE_IDENTITY,
            "another process is renewing the lease with this replica's identity, {}: two replicas share one identity, so they cannot tell their leases apart; give every replica a unique identity (--identity or POD_NAME)",
            self.config.identity
        );
    }
}
