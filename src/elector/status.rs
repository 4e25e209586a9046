//! What the elector knows right now, published for logs, probes and metrics, and the few
//! named transitions that change it. Nothing else writes the status.

use tokio::sync::watch;
use tokio::time::Instant;

use super::record::LeaseRecord;

/// What the elector knows right now, for logs, probes and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElectionStatus {
    /// The holder we last saw (`None`: the Lease is free, or not read yet).
    pub leader: Option<String>,
    /// Whether this replica leads right now.
    pub leading: bool,
    /// `leaseTransitions` as last seen; while we lead, our fencing token.
    pub transitions: i32,
    /// When our last renewal succeeded (monotonic), while we lead.
    pub last_renewal: Option<Instant>,
    /// The Lease's uid, once seen (Events refer to the Lease by it).
    pub lease_uid: Option<String>,
    /// While we lead: who held the Lease before we took it, if anyone.
    pub previous_leader: Option<String>,
    /// While we lead a term that began by creating a missing Lease: when its work starts.
    pub work_starts_at: Option<Instant>,
}

/// A term that just began, as the status shows it.
pub(super) struct TermBegun<'a> {
    pub identity: &'a str,
    pub fencing_token: i32,
    pub started: Instant,
    pub lease_uid: Option<String>,
    pub previous_leader: Option<String>,
    /// `Some` only when the work waits past `started`.
    pub work_starts_at: Option<Instant>,
}

/// The sending side of the status, with one method per transition.
pub(super) struct StatusBoard(watch::Sender<ElectionStatus>);

impl StatusBoard {
    pub fn new() -> Self {
        Self(watch::Sender::new(ElectionStatus::default()))
    }

    pub fn subscribe(&self) -> watch::Receiver<ElectionStatus> {
        self.0.subscribe()
    }

    /// A record read from the Lease by a candidate: who holds it, and its transition count.
    /// Subscribers wake only if either changed.
    pub fn holder_seen(&self, record: &LeaseRecord) {
        self.publish_holder(record, false);
    }

    /// A leader found someone else's record on the Lease: it no longer leads.
    pub fn lost_to(&self, record: &LeaseRecord) {
        self.publish_holder(record, true);
    }

    fn publish_holder(&self, record: &LeaseRecord, no_longer_leading: bool) {
        let leader = record.holder().map(str::to_string);
        self.0.send_if_modified(|s| {
            let modified = s.leader != leader || s.transitions != record.transitions;
            s.leader = leader;
            s.transitions = record.transitions;
            if no_longer_leading {
                s.leading = false;
            }
            modified
        });
    }

    /// This replica won the Lease and leads.
    pub fn term_begun(&self, term: TermBegun<'_>) {
        self.0.send_modify(|s| {
            s.leader = Some(term.identity.to_string());
            s.leading = true;
            s.transitions = term.fencing_token;
            s.last_renewal = Some(term.started);
            s.lease_uid = term.lease_uid;
            s.previous_leader = term.previous_leader;
            s.work_starts_at = term.work_starts_at;
        });
    }

    /// A renewal that started at `at` succeeded.
    pub fn renewed(&self, at: Instant) {
        self.0.send_modify(|s| s.last_renewal = Some(at));
    }

    /// The leader recreated its deleted Lease: a new object, with a new uid.
    pub fn lease_recreated(&self, uid: Option<String>) {
        self.0.send_modify(|s| s.lease_uid = uid);
    }

    /// The term is over (its work is being stopped). The Lease may still name us.
    pub fn stepped_down(&self) {
        self.0.send_modify(|s| {
            s.leading = false;
            s.last_renewal = None;
            s.previous_leader = None;
            s.work_starts_at = None;
        });
    }

    /// We gave the Lease back: nobody holds it.
    pub fn released(&self) {
        self.0.send_modify(|s| s.leader = None);
    }
}
