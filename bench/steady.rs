//! The steady state: a window on replica sets that no trial touches, the Lease requests each
//! replica made in it (from the audit log), by role, and the replicas' memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::machine_load::LoadSampler;
use crate::progress::log;
use crate::replicas::{ReplicaSet, wait_leaders};
use crate::results::{
    ApiLoad, ByVerbPerS, Memory, ReplicaLoad, ReplicaMemory, RoleSeconds, VerbRates, WriteIntervals,
};
use crate::support::audit::{AuditByUser, AuditRequest, audit_counts, service_account_user};
use crate::support::lease_watch::{EventKind, LeaseEvent, LeaseWatcher, epoch_now};
use crate::support::namespace::replica_service_account;
use crate::support::replica::LoggedReplica;
use crate::support::stats::median;

/// The verbs the per-role rates are given for.
pub const VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// A window that has closed: its span, and every set's memory at its end (in the sets'
/// order).
pub struct Window {
    pub t0: f64,
    pub t1: f64,
    pub memory: Vec<Memory>,
}

/// The steady-state window on sets that no trial touches: it opens `settle` s after each has
/// a leader that renewed, lasts `seconds`, and ends by reading every replica's memory. Run
/// beside the trials, on a thread of its own, so it costs the run no time of its own. An
/// error if a replica exited during it.
pub fn steady_window(
    sets: &mut [&mut ReplicaSet],
    watcher: &LeaseWatcher,
    seconds: f64,
    settle: f64,
    sampler: &LoadSampler,
    log_dir: &Path,
) -> Result<Window, String> {
    wait_leaders(sets, watcher, 120.0, log_dir)?;
    std::thread::sleep(Duration::from_secs_f64(settle));
    let t0 = epoch_now();
    let names: Vec<&str> = sets.iter().map(|rs| rs.ns.as_str()).collect();
    log(&format!(
        "steady state: counting Lease requests of {} for {seconds:.0} s, while the trials run on other namespaces",
        names.join(", ")
    ));
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let t1 = epoch_now();
    all_alive(sets.iter_mut().map(|rs| &mut **rs), log_dir)?;
    let memory = sets.iter().map(|rs| memory(rs, watcher)).collect();
    sampler.span("steady-state window (beside the trials)", t0, t1);
    log("steady state: window closed");
    Ok(Window { t0, t1, memory })
}

/// An error if a replica of one of `sets` is no longer running: its exit during a
/// steady-state window would make the window's figures those of fewer replicas.
pub fn all_alive<'a>(
    sets: impl IntoIterator<Item = &'a mut ReplicaSet>,
    log_dir: &Path,
) -> Result<(), String> {
    for rs in sets {
        if !rs.replicas.iter_mut().all(|r| r.alive()) {
            return Err(format!(
                "a replica of {} exited during the steady-state window; see {}",
                rs.ns,
                log_dir.display()
            ));
        }
    }
    Ok(())
}

/// A set's memory now: each replica's VmRSS and role, and their mean.
pub fn memory(rs: &ReplicaSet, watcher: &LeaseWatcher) -> Memory {
    let holder = watcher.latest(&rs.ns).map(|e| e.holder).unwrap_or_default();
    let now = epoch_now();
    let per_replica: BTreeMap<String, ReplicaMemory> = rs
        .replicas
        .iter()
        .map(|r| {
            (
                r.identity.clone(),
                ReplicaMemory {
                    rss_mib: r.rss_mib(),
                    role: if r.identity == holder {
                        "leader"
                    } else {
                        "standby"
                    },
                    uptime_s: now - r.started,
                },
            )
        })
        .collect();
    let values: Vec<f64> = per_replica.values().filter_map(|p| p.rss_mib).collect();
    Memory {
        rss_mib: crate::support::stats::mean(&values),
        per_replica,
    }
}

/// Who held the Lease when: `(holder, from, to)`, a holder holding from its acquireTime (or
/// the event's arrival) to the arrival of the next event that names someone else or no one.
pub fn holder_intervals(events: &[LeaseEvent]) -> Vec<(String, f64, f64)> {
    let mut out = Vec::new();
    let (mut cur, mut start): (Option<String>, f64) = (None, 0.0);
    for ev in events {
        let h = (ev.kind != EventKind::Deleted && !ev.holder.is_empty()).then(|| ev.holder.clone());
        if h != cur {
            if let Some(c) = cur.take() {
                out.push((c, start, ev.t));
            }
            if h.is_some() {
                start = ev.acquire.unwrap_or(ev.t);
            }
            cur = h;
        }
    }
    if let Some(c) = cur {
        out.push((c, start, f64::INFINITY));
    }
    out
}

/// Seconds of `[t0, t1]` during which `identity` held the Lease.
pub fn lead_time(intervals: &[(String, f64, f64)], identity: &str, t0: f64, t1: f64) -> f64 {
    intervals
        .iter()
        .filter(|(h, _, _)| h == identity)
        .map(|(_, s, e)| (e.min(t1) - s.max(t0)).max(0.0))
        .sum()
}

/// The holder at time `t`.
pub fn holder_at(intervals: &[(String, f64, f64)], t: f64) -> Option<&str> {
    intervals
        .iter()
        .find(|(_, s, e)| *s <= t && t < *e)
        .map(|(h, _, _)| h.as_str())
}

/// Counts by role and verb: `[leader, standby]`.
type RoleCounts = [BTreeMap<String, u64>; 2];

/// One replica's Lease requests by verb and by status code, and the times of its writes
/// while leading; each request is also added to `role_counts` under the role its replica
/// had when it was received.
fn count_requests<'a>(
    requests: impl Iterator<Item = &'a AuditRequest>,
    intervals: &[(String, f64, f64)],
    identity: &str,
    role_counts: &mut RoleCounts,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>, Vec<f64>) {
    let (mut by_verb, mut codes, mut writes) = (BTreeMap::new(), BTreeMap::new(), Vec::new());
    for q in requests {
        *by_verb.entry(q.verb.clone()).or_default() += 1;
        let code = q.code.map_or("None".to_string(), |c| c.to_string());
        *codes.entry(code).or_default() += 1;
        let leading = holder_at(intervals, q.t) == Some(identity);
        *role_counts[usize::from(!leading)]
            .entry(q.verb.clone())
            .or_default() += 1;
        if leading && ["create", "update", "patch"].contains(&q.verb.as_str()) {
            writes.push(q.t);
        }
    }
    (by_verb, codes, writes)
}

/// `{"resource verb": n}` of the requests that are not for Leases.
fn other_requests<'a>(requests: impl Iterator<Item = &'a AuditRequest>) -> BTreeMap<String, u64> {
    let mut other = BTreeMap::new();
    for q in requests.filter(|q| q.resource != "leases") {
        *other
            .entry(format!("{} {}", q.resource, q.verb))
            .or_default() += 1;
    }
    other
}

/// Each set's Lease requests over `[t0, t1]` from the audit log, per replica and per role
/// (in the sets' order). Waits a second first, for the last audit events to reach the file.
pub fn steady_state(
    sets: &[&ReplicaSet],
    watcher: &LeaseWatcher,
    audit_log: &Path,
    t0: f64,
    t1: f64,
) -> Vec<ApiLoad> {
    std::thread::sleep(Duration::from_secs(1));
    let seen = audit_counts(audit_log, t0, t1, true);
    let everything = audit_counts(audit_log, t0, t1, false);
    sets.iter()
        .map(|rs| set_load(rs, &watcher.all(&rs.ns), &seen, &everything, t0, t1))
        .collect()
}

/// What [`set_load`] adds up over a set's replicas: requests by role and verb, seconds in
/// each role (`[leader, standby]`), and the leaders' writes.
#[derive(Default)]
struct Tally {
    role_counts: RoleCounts,
    role_time: [f64; 2],
    writes_count: usize,
    writes_allowed: u64,
    /// The time between two consecutive writes of one leader.
    intervals: Vec<f64>,
}

/// One set's figures: the Lease requests (`seen`) and every request (`everything`) over
/// `[t0, t1]`, split by replica and by role, the roles from the set's Lease `events`.
pub fn set_load(
    rs: &ReplicaSet,
    events: &[LeaseEvent],
    seen: &AuditByUser,
    everything: &AuditByUser,
    t0: f64,
    t1: f64,
) -> ApiLoad {
    let window = t1 - t0;
    let ivs = holder_intervals(events);
    let transitions_in_window = ivs.iter().filter(|(_, s, _)| t0 < *s && *s < t1).count();
    let mut tally = Tally::default();
    let mut per_replica = BTreeMap::new();
    for r in &rs.replicas {
        let user = service_account_user(&rs.ns, &replica_service_account(r.slot));
        let load = replica_load(rs, r, user, &ivs, (seen, everything), (t0, t1), &mut tally);
        per_replica.insert(r.identity.clone(), load);
    }
    api_load(window, transitions_in_window, tally, per_replica)
}

/// One replica's requests over `[t0, t1]` (`audit`: the Lease requests, then every request),
/// its role the one it held longer; its requests and lead time added to `tally`.
fn replica_load(
    rs: &ReplicaSet,
    r: &LoggedReplica,
    user: String,
    ivs: &[(String, f64, f64)],
    (seen, everything): (&AuditByUser, &AuditByUser),
    (t0, t1): (f64, f64),
    tally: &mut Tally,
) -> ReplicaLoad {
    let window = t1 - t0;
    let empty = BTreeMap::new();
    let lt = lead_time(ivs, &r.identity, t0, t1);
    tally.role_time[0] += lt;
    tally.role_time[1] += window - lt;
    let mine = seen.get(&user).unwrap_or(&empty);
    let (by_verb, by_code, mut writes) =
        count_requests(mine.values(), ivs, &r.identity, &mut tally.role_counts);
    if lt > 0.0 {
        // At most one write per retry period over lt seconds is floor(lt / RP) + 1
        // writes: the window's two edges can each catch one.
        tally.writes_count += writes.len();
        tally.writes_allowed += (lt / rs.timings.retry_period.as_secs_f64()).floor() as u64 + 1;
        writes.sort_by(f64::total_cmp);
        tally
            .intervals
            .extend(writes.windows(2).map(|w| w[1] - w[0]));
    }
    let total: u64 = by_verb.values().sum();
    ReplicaLoad {
        other_requests: other_requests(everything.get(&user).unwrap_or(&empty).values()),
        service_account: user,
        led_s: (lt * 1000.0).round() / 1000.0,
        role: if lt > window / 2.0 {
            "leader"
        } else {
            "standby"
        },
        requests: total,
        requests_per_s: total as f64 / window,
        by_verb,
        by_code,
    }
}

/// Requests per second of each of [`VERBS`] made in a role, over the `seconds` spent in it
/// (none if no time was).
fn verb_rates(counts: &BTreeMap<String, u64>, seconds: f64) -> VerbRates {
    if seconds > 0.0 {
        VerbRates(
            VERBS
                .iter()
                .map(|v| {
                    let n = counts.get(*v).copied().unwrap_or(0);
                    (*v, n as f64 / seconds)
                })
                .collect(),
        )
    } else {
        VerbRates::default()
    }
}

/// The set's figures from its replicas' (`per_replica`) and what they added up to.
fn api_load(
    window: f64,
    transitions_in_window: usize,
    tally: Tally,
    per_replica: BTreeMap<String, ReplicaLoad>,
) -> ApiLoad {
    let rate = |role: usize| verb_rates(&tally.role_counts[role], tally.role_time[role]);
    let (leader, standby) = (rate(0), rate(1));
    let standbys: Vec<f64> = per_replica
        .values()
        .filter(|p| p.role == "standby")
        .map(|p| p.requests_per_s)
        .collect();
    let intervals = tally.intervals;
    ApiLoad {
        window_s: window,
        transitions_in_window,
        standby_requests_per_s: standby.total(),
        standby_requests_per_s_max: standbys.iter().copied().reduce(f64::max),
        leader_requests_per_s: leader.total(),
        leader_reads_per_s: leader.get("get") + leader.get("list"),
        leader_writes_per_s: ["create", "update", "patch"]
            .iter()
            .map(|v| leader.get(v))
            .sum(),
        leader_writes_in_window: tally.writes_count,
        leader_writes_allowed: tally.writes_allowed,
        leader_write_interval_s: (!intervals.is_empty()).then(|| WriteIntervals {
            median: median(&intervals).unwrap_or_default(),
            min: intervals.iter().copied().fold(f64::INFINITY, f64::min),
            max: intervals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }),
        by_verb_per_s: ByVerbPerS {
            leader,
            standby_mean: standby,
        },
        role_seconds: RoleSeconds {
            leader: tally.role_time[0],
            standby: tally.role_time[1],
        },
        per_replica,
    }
}
