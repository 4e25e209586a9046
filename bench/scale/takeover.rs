//! The requests each takeover caused, from the trial control plane's audit log: every
//! request by the set's replicas but the old leader's slot, from the moment the takeover
//! could begin to just after the new holder's acquireTime.

use std::collections::BTreeMap;
use std::path::Path;

use super::results::Takeover;
use crate::replicas::ReplicaSet;
use crate::results::{CrashTrial, GracefulTrial};
use crate::support::Timings;
use crate::support::audit::{AuditByUser, audit_counts, request_key, service_account_user};
use crate::support::namespace::replica_service_account;

/// For each good trial, every request (any resource) by the set's replicas but the old
/// leader's slot, received from the moment the takeover could begin (crash: the old holder's
/// last renewal + the lease duration; graceful: SIGTERM) to one retry period after the new
/// holder's acquireTime. The old leader's slot is left out: its process is dead or exiting,
/// and the restarted one's start-up requests are not the takeover's. The new holder's
/// requests count up to half a retry period after its acquireTime: the winning write and
/// what comes with it, not its first renewal.
pub fn takeover_requests(
    audit_log: &Path,
    rs: &ReplicaSet,
    takeovers: &[TakeoverSpan],
) -> Vec<Takeover> {
    if takeovers.is_empty() {
        return Vec::new();
    }
    let rp = rs.timings.retry_period.as_secs_f64();
    let from = takeovers
        .iter()
        .map(|x| x.from)
        .fold(f64::INFINITY, f64::min);
    let to = takeovers
        .iter()
        .map(|x| x.acquire + rp)
        .fold(f64::NEG_INFINITY, f64::max);
    let seen = audit_counts(audit_log, from, to, false);
    takeovers
        .iter()
        .map(|x| one_takeover(rs, &seen, x, rp))
        .collect()
}

/// One takeover's requests among those `seen` over every takeover's span, by request;
/// `rp` is the set's retry period, in seconds.
fn one_takeover(rs: &ReplicaSet, seen: &AuditByUser, x: &TakeoverSpan, rp: f64) -> Takeover {
    let prefix = format!("system:serviceaccount:{}:", rs.ns);
    let user_of = |identity: &str| {
        rs.index_of(identity)
            .map(|i| service_account_user(&rs.ns, &replica_service_account(rs.replicas[i].slot)))
    };
    let (a, b) = (x.from, x.acquire + rp);
    let skip = user_of(&x.old);
    let winner = user_of(&x.new);
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for (user, requests) in seen {
        if !user.starts_with(&prefix) || Some(user) == skip.as_ref() {
            continue;
        }
        // The new holder's renewals, one retry period on, are the leader's steady work.
        let end = if Some(user) == winner.as_ref() {
            x.acquire + rp / 2.0
        } else {
            b
        };
        for q in requests.values().filter(|q| a <= q.t && q.t <= end) {
            *by.entry(request_key(q)).or_default() += 1;
        }
    }
    Takeover {
        trial: x.trial,
        from_t: a,
        to_t: b,
        requests: by.values().sum(),
        by_request: by,
    }
}

/// One good trial's takeover, as [`takeover_requests`] reads it: from when it could begin to
/// the new holder's acquireTime.
pub struct TakeoverSpan {
    pub trial: usize,
    pub old: String,
    pub new: String,
    pub from: f64,
    pub acquire: f64,
}

impl TakeoverSpan {
    /// The good crash trials' spans: from the old holder's last renewal + the lease duration.
    pub fn crash(trials: &[CrashTrial], t: Timings) -> Vec<Self> {
        trials
            .iter()
            .filter_map(CrashTrial::ok)
            .filter_map(|m| {
                Some(TakeoverSpan {
                    trial: m.trial,
                    old: m.old.clone(),
                    new: m.new.clone(),
                    from: m.last_renew_t? + t.lease_duration.as_secs_f64(),
                    acquire: m.acquire_t?,
                })
            })
            .collect()
    }

    /// The good graceful trials' spans: from SIGTERM.
    pub fn graceful(trials: &[GracefulTrial]) -> Vec<Self> {
        trials
            .iter()
            .filter_map(GracefulTrial::ok)
            .filter_map(|m| {
                Some(TakeoverSpan {
                    trial: m.trial,
                    old: m.old.clone(),
                    new: m.new.clone(),
                    from: m.sigterm_t,
                    acquire: m.acquire_t?,
                })
            })
            .collect()
    }
}
