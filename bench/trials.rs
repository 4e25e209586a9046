//! The trials on a replica set: crash (kill -9 of the leader) and graceful (SIGTERM to the
//! leader), each measured from the outside, by the driver's watch on the Lease: wall-clock
//! arrival times and the acquire and renew times the replicas wrote, on one host.

use std::ops::Range;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::StdRng;
use rustix::process::Signal;

use crate::progress::{fs_log, log};
use crate::replicas::{Markers, POLL, ReplicaSet};
use crate::results::{CrashMeasured, CrashTrial, FailedTrial, GracefulMeasured, GracefulTrial};
use crate::support::Timings;
use crate::support::lease_watch::{LeaseEvent, LeaseWatcher, epoch_now};

/// How long every replica must have run before a trial: at least 3 s, and two retry periods.
pub fn settle_time(t: Timings) -> f64 {
    3.0_f64.max(2.0 * t.retry_period.as_secs_f64())
}

/// How long a trial waits for a new holder: the lease duration, four retry periods with
/// client-go's 1.2 jitter, and 20 s more.
pub fn takeover_timeout(t: Timings) -> f64 {
    t.lease_duration.as_secs_f64() + 4.0 * 1.2 * t.retry_period.as_secs_f64() + 20.0
}

/// How long a trial waits for a steady leader before it fails.
const STEADY_LEADER_TIMEOUT_S: f64 = 120.0;
/// How long a crash trial waits for the killed leader's process to end: SIGKILL cannot be
/// caught, so it ends at once; this is only the bound the wait takes.
const KILLED_EXIT_WAIT: Duration = Duration::from_secs(3600);

/// What every trial needs besides its set: the watch, the timeline's markers, and its own
/// random choices.
pub struct TrialContext<'a> {
    pub watcher: &'a LeaseWatcher,
    pub markers: &'a Markers,
    pub rng: StdRng,
}

/// A trial's progress line: its figure (failover or handoff), or FAILED.
pub fn progress(rs: &ReplicaSet, phase: &str, k: usize, value: Option<f64>) {
    let v = value.map_or("FAILED".to_string(), |v| fs_log(Some(v)));
    log(&format!(
        "{phase:15} {:9} trial {:2}: {v}",
        rs.implementation.key,
        k + 1
    ));
}

/// Trial numbers `0..n` split into `lanes` consecutive runs, as even as possible.
pub fn lanes_of(n: usize, lanes: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..lanes {
        let size = n / lanes + usize::from(i < n % lanes);
        out.push(start..start + size);
        start += size;
    }
    out
}

/// Polls `check` every [`POLL`] until it answers or `timeout` s pass.
pub fn wait_for<T>(timeout: f64, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Every trial's start: let the set settle (plus a random part of a retry period, so that
/// the fault lands anywhere in the renewal cycle), then wait for a steady leader. `None`
/// after recording the trial as failed.
fn steady_leader(
    rs: &mut ReplicaSet,
    cx: &mut TrialContext,
    k: usize,
    phase: &str,
) -> Result<LeaseEvent, FailedTrial> {
    let settle = settle_time(rs.timings);
    let offset = cx
        .rng
        .random_range(0.0..=rs.timings.retry_period.as_secs_f64());
    std::thread::sleep(Duration::from_secs_f64(settle + offset));
    let watcher = cx.watcher;
    match wait_for(STEADY_LEADER_TIMEOUT_S, || rs.steady(watcher, settle)) {
        Some(ev) => Ok(ev),
        None => {
            progress(rs, phase, k, None);
            Err(FailedTrial {
                trial: k,
                ns: rs.ns.clone(),
                ok: false,
                old: None,
                reason: "no steady leader within 120 s".into(),
                exit_code: None,
            })
        }
    }
}

/// The steady leader a trial signalled: its identity, its index in the set, the watch
/// position before the signal, and when the signal was sent (seconds since the epoch).
struct Strike {
    old: String,
    i: usize,
    idx: usize,
    t: f64,
}

/// Every trial's fault: a steady leader (see [`steady_leader`]), then `signal` to it, marked
/// `kind` on the timeline. `Err(Some(failed))` when no steady leader came; `Err(None)` when
/// the signal could not be sent (the trial is then left out, as if it had not been run).
fn strike_leader(
    rs: &mut ReplicaSet,
    cx: &mut TrialContext,
    k: usize,
    phase: &str,
    signal: Signal,
    kind: &'static str,
) -> Result<Strike, Option<FailedTrial>> {
    let st = steady_leader(rs, cx, k, phase).map_err(Some)?;
    let old = st.holder.clone();
    let i = rs.index_of(&old).expect("steady() names one of the set");
    let idx = cx.watcher.count(&rs.ns);
    match rs.strike(i, signal, kind, cx.markers, k) {
        Ok(t) => Ok(Strike { old, i, idx, t }),
        Err(e) => {
            log(&format!("{phase} {} trial {}: {e}", rs.ns, k + 1));
            Err(None)
        }
    }
}

/// The first event since watch position `idx` that names a holder other than `old`, with its
/// position among the namespace's events.
fn new_holder(
    watcher: &LeaseWatcher,
    ns: &str,
    idx: usize,
    old: &str,
) -> Option<(usize, LeaseEvent)> {
    watcher
        .since(ns, idx)
        .into_iter()
        .enumerate()
        .find(|(_, e)| !e.holder.is_empty() && e.holder != old)
        .map(|(i, e)| (idx + i, e))
}

/// Crash trials `trials` on `rs`: each kills the steady leader with SIGKILL, waits for the
/// takeover, and restarts the killed replica with the same identity.
pub fn crash_trials(
    rs: &mut ReplicaSet,
    trials: Range<usize>,
    phase: &str,
    cx: &mut TrialContext,
) -> Vec<CrashTrial> {
    trials
        .filter_map(|k| crash_trial(rs, k, phase, cx))
        .collect()
}

/// Crash trial `k` on `rs`; `None` if the leader could not be signalled (the trial is then
/// left out, as if it had not been run).
fn crash_trial(
    rs: &mut ReplicaSet,
    k: usize,
    phase: &str,
    cx: &mut TrialContext,
) -> Option<CrashTrial> {
    let Strike {
        old,
        i,
        idx,
        t: t_kill,
    } = match strike_leader(rs, cx, k, phase, Signal::KILL, "kill") {
        Ok(strike) => strike,
        Err(failed) => return failed.map(CrashTrial::Failed),
    };
    rs.replicas[i].wait(KILLED_EXIT_WAIT);
    rs.replicas[i].reap("kill -9");
    let watcher = cx.watcher;
    let found = wait_for(takeover_timeout(rs.timings), || {
        new_holder(watcher, &rs.ns, idx, &old)
    });
    let Some((at, ev)) = found else {
        let failed = CrashTrial::Failed(FailedTrial {
            trial: k,
            ns: rs.ns.clone(),
            ok: false,
            old: Some(old),
            reason: "no takeover before timeout".into(),
            exit_code: None,
        });
        rs.restart(i, cx.markers, k);
        progress(rs, phase, k, None);
        return Some(failed);
    };
    let rec = crash_measured(rs, &watcher.all(&rs.ns), k, old, t_kill, at, &ev);
    let failover_s = rec.failover_s;
    rs.restart(i, cx.markers, k);
    progress(rs, phase, k, failover_s);
    Some(CrashTrial::Measured(rec))
}

/// A crash trial's record: `ev`, at position `at` among the namespace's `events`, is the
/// new holder's first; the old holder's last renewal is the last one before it.
fn crash_measured(
    rs: &ReplicaSet,
    events: &[LeaseEvent],
    k: usize,
    old: String,
    t_kill: f64,
    at: usize,
    ev: &LeaseEvent,
) -> CrashMeasured {
    let last_renew = events[..at]
        .iter()
        .rfind(|e| e.holder == old && e.renew.is_some())
        .and_then(|e| e.renew);
    let failover_s = match (last_renew, ev.acquire) {
        (Some(r), Some(a)) => Some(a - r),
        _ => None,
    };
    CrashMeasured {
        trial: k,
        ns: rs.ns.clone(),
        ok: last_renew.is_some() && ev.acquire.is_some(),
        old,
        new: ev.holder.clone(),
        kill_t: t_kill,
        last_renew_t: last_renew,
        acquire_t: ev.acquire,
        seen_t: ev.t,
        failover_s,
        failover_seen_s: last_renew.map(|r| ev.t - r),
        kill_after_renew_s: last_renew.map(|r| t_kill - r),
        transitions: ev.lease_transitions,
    }
}

/// One graceful trial on `rs`: SIGTERM to the steady leader, then the takeover and the old
/// leader's exit watched together; the old leader restarted with the same identity.
pub fn graceful_trial(
    rs: &mut ReplicaSet,
    k: usize,
    phase: &str,
    cx: &mut TrialContext,
) -> Option<GracefulTrial> {
    let Strike {
        old,
        i,
        idx,
        t: t_term,
    } = match strike_leader(rs, cx, k, phase, Signal::TERM, "sigterm") {
        Ok(strike) => strike,
        Err(failed) => return failed.map(GracefulTrial::Failed),
    };
    let (found, exit_t) = takeover_and_exit(rs, i, idx, &old, cx.watcher);
    let code = rs.replicas[i].exit_code();
    let Some((at, ev)) = found else {
        rs.restart(i, cx.markers, k);
        progress(rs, phase, k, None);
        return Some(GracefulTrial::Failed(FailedTrial {
            trial: k,
            ns: rs.ns.clone(),
            ok: false,
            old: Some(old),
            reason: "no takeover before timeout".into(),
            exit_code: code,
        }));
    };
    let events = cx.watcher.all(&rs.ns);
    let rec = graceful_measured(rs, &events[idx..at], k, old, t_term, &ev, (code, exit_t));
    let handoff_s = rec.handoff_s;
    rs.restart(i, cx.markers, k);
    progress(rs, phase, k, handoff_s);
    Some(GracefulTrial::Measured(rec))
}

/// A graceful trial's record: `ev` is the new holder's first event, `between` the events
/// from SIGTERM to it (where the old leader's release shows, if it released); `exit` is the
/// old leader's exit code and time, if it exited.
fn graceful_measured(
    rs: &ReplicaSet,
    between: &[LeaseEvent],
    k: usize,
    old: String,
    t_term: f64,
    ev: &LeaseEvent,
    (code, exit_t): (Option<i32>, Option<f64>),
) -> GracefulMeasured {
    let released = between.iter().find(|e| e.holder.is_empty());
    let handoff_s = ev.acquire.map(|a| a - t_term);
    GracefulMeasured {
        trial: k,
        ns: rs.ns.clone(),
        ok: ev.acquire.is_some(),
        old,
        new: ev.holder.clone(),
        sigterm_t: t_term,
        acquire_t: ev.acquire,
        seen_t: ev.t,
        handoff_s,
        handoff_seen_s: ev.t - t_term,
        released: released.is_some(),
        release_seen_t: released.map(|r| r.t),
        release_renew_t: released.and_then(|r| r.renew),
        release_after_sigterm_s: released.map(|r| r.t - t_term),
        exit_code: code,
        exited_after_s: exit_t.map(|t| t - t_term),
        transitions: ev.lease_transitions,
    }
}

/// After SIGTERM to replica `i`, the takeover (the first event since watch position `idx`
/// naming a holder other than `old`) and the replica's exit, watched together until both
/// are seen or the takeover timeout passes; a replica that did not exit is killed. Its exit
/// reaped either way.
fn takeover_and_exit(
    rs: &mut ReplicaSet,
    i: usize,
    idx: usize,
    old: &str,
    watcher: &LeaseWatcher,
) -> (Option<(usize, LeaseEvent)>, Option<f64>) {
    let end = Instant::now() + Duration::from_secs_f64(takeover_timeout(rs.timings));
    let (mut found, mut exit_t) = (None, None);
    while Instant::now() < end && (found.is_none() || exit_t.is_none()) {
        if exit_t.is_none() && !rs.replicas[i].alive() {
            exit_t = Some(epoch_now());
        }
        if found.is_none() {
            found = new_holder(watcher, &rs.ns, idx, old);
        }
        std::thread::sleep(POLL);
    }
    if exit_t.is_none() {
        rs.replicas[i].kill();
    }
    rs.replicas[i].reap(if exit_t.is_some() {
        "sigterm"
    } else {
        "sigterm, then kill -9 (did not exit)"
    });
    (found, exit_t)
}

/// `n` graceful trials on each of `sets`, one at a time, alternating between the sets;
/// `outs[j]` gets set `j`'s.
pub fn graceful_alternating(
    sets: &mut [&mut ReplicaSet],
    n: usize,
    phase: &str,
    cx: &mut TrialContext,
) -> Vec<Vec<GracefulTrial>> {
    let mut outs: Vec<Vec<GracefulTrial>> = sets.iter().map(|_| Vec::new()).collect();
    for k in 0..n {
        for (j, rs) in sets.iter_mut().enumerate() {
            if let Some(t) = graceful_trial(rs, k, phase, cx) {
                outs[j].push(t);
            }
        }
    }
    outs
}
