//! The delete trial: `kubectl delete pod <holder>`, to the new holder, its first work and the
//! old leader's stop; then the turn is held until the pod is replaced.

use std::time::Duration;

use super::{holding_turn, steady_turn, wait_replaced};
use crate::cluster::Result;
use crate::cluster::deployment::{Deployment, LOG_POLL};
use crate::cluster::results::{DeleteHolder, DeleteTrial, FirstWork, Leaderless, Trial};
use crate::progress::{fs_log, log};
use crate::support::cluster::PodLine;
use crate::support::lease_watch::LeaseEvent;

/// How long the Lease may take to name a new holder after kubectl was started; past it the
/// trial is recorded without one (not ok).
const HOLDER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the new holder may take to log its first work; past it the trial is recorded
/// without it (not ok).
const WORK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long, after that, the old leader's stop line is looked for; without it the trial has
/// no leaderless gap.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `k`-th of `n` delete trials, recorded in the deployment's `raw.delete`.
pub(super) fn trial(dep: &Deployment, k: usize, n: usize) -> Result<()> {
    let record = |t| dep.raw.lock().unwrap().delete.push(t);
    let Some(st) = steady_turn(
        dep,
        k,
        n,
        "waiting to delete the leader pod",
        "a delete trial",
        false,
        |f| record(Trial::Failed(f)),
    )?
    else {
        return Ok(());
    };
    holding_turn(dep, || {
        dep.set_activity(format!("delete trial {}", k + 1));
        let old = st.holder;
        let beside = dep.beside();
        let idx = dep.ctx.leases.count(dep.ns());
        let seen = delete(dep, &old, idx)?;
        let rec = record_of(dep, k, old.clone(), beside, idx, &seen);
        progress(dep, &rec, k, n);
        record(Trial::Ran(rec));
        wait_replaced(dep, &old, "deleted")
    })
}

/// What the driver saw of a deletion.
struct Deletion {
    /// When kubectl was started: wall clock, and CLOCK_MONOTONIC.
    t_wall: f64,
    t_mono: u64,
    /// When kubectl was seen to have returned, wall clock.
    kubectl_t: f64,
    /// The Lease's first event that names a holder other than the old one.
    new_holder: Option<LeaseEvent>,
    /// The new holder's first work line.
    work: Option<PodLine>,
    /// The old leader's line that stops its work.
    stop: Option<PodLine>,
    /// When the driver's pod watch saw the pod marked for deletion, wall clock.
    accepted: Option<f64>,
}

/// Starts `kubectl delete pod <old>` (not waiting for the pod to go), then waits for the new
/// holder, kubectl's return, the new holder's first work and the old leader's stop, in that
/// order. The new holder is looked for as often as the Lease watch can answer.
fn delete(dep: &Deployment, old: &str, idx: usize) -> Result<Deletion> {
    let ns = dep.ns();
    let (child, t_wall, t_mono) =
        dep.spawn_kubectl(&["delete", "pod", old, "-n", ns, "--wait=false"])?;
    let new_holder = dep.ctx.wait(HOLDER_TIMEOUT, Duration::ZERO, || {
        Ok(dep.ctx.leases.new_holder_since(ns, idx, old))
    })?;
    let kubectl_t = dep.kubectl_done(child, &format!("delete pod {old}"))?;
    let work = match &new_holder {
        Some(ev) => dep.ctx.wait(WORK_TIMEOUT, LOG_POLL, || {
            Ok(dep.ctx.logs.first_work_after(ns, t_mono, Some(&ev.holder)))
        })?,
        None => None,
    };
    let stop = dep.ctx.wait(STOP_TIMEOUT, LOG_POLL, || {
        Ok(dep.ctx.logs.stopped_after(ns, old, t_mono))
    })?;
    let accepted = dep.ctx.pod_watch.deletion_seen(ns, old);
    Ok(Deletion {
        t_wall,
        t_mono,
        kubectl_t,
        new_holder,
        work,
        stop,
        accepted,
    })
}

/// The trial's record: ok when the new holder acquired the Lease and worked.
fn record_of(
    dep: &Deployment,
    k: usize,
    old: String,
    beside: String,
    idx: usize,
    d: &Deletion,
) -> DeleteTrial {
    let t_wall = d.t_wall;
    let holder = d
        .new_holder
        .as_ref()
        .map(|ev| holder_of(dep, idx, ev, t_wall));
    let acquire = d.new_holder.as_ref().and_then(|e| e.acquire);
    let work_mono = d.work.as_ref().and_then(|w| w.mono_ns());
    DeleteTrial {
        trial: k,
        ok: acquire.is_some() && work_mono.is_some(),
        old,
        beside,
        delete_t: t_wall,
        delete_mono_ns: d.t_mono,
        kubectl_returned_s: d.kubectl_t - t_wall,
        deletion_seen_s: d.accepted.map(|a| a - t_wall),
        deletion_seen_to_holder_s: match (acquire, d.accepted) {
            (Some(acquire), Some(accepted)) => Some(acquire - accepted),
            _ => None,
        },
        holder,
        work: work_mono.map(|m| FirstWork {
            work_mono_ns: m,
            to_work_s: (m - d.t_mono) as f64 / 1e9,
        }),
        leaderless: match (work_mono, d.stop.as_ref().and_then(|s| s.mono_ns())) {
            (Some(w), Some(s)) => Some(Leaderless {
                old_stop_mono_ns: s,
                leaderless_s: (w as f64 - s as f64) / 1e9,
            }),
            _ => None,
        },
    }
}

/// The new holder as the Lease watch saw it, and whether it first saw the Lease released.
fn holder_of(dep: &Deployment, idx: usize, ev: &LeaseEvent, t_wall: f64) -> DeleteHolder {
    let released = dep
        .ctx
        .leases
        .since(dep.ns(), idx)
        .into_iter()
        .find(|e| e.holder.is_empty());
    DeleteHolder {
        new: ev.holder.clone(),
        acquire_t: ev.acquire,
        seen_t: ev.t,
        to_holder_s: ev.acquire.map(|a| a - t_wall),
        to_holder_seen_s: ev.t - t_wall,
        released: released.is_some(),
        release_seen_s: released.map(|r| r.t - t_wall),
        transitions: ev.lease_transitions,
    }
}

/// The trial's progress line.
fn progress(dep: &Deployment, rec: &DeleteTrial, k: usize, n: usize) {
    log(&format!(
        "delete  {:9} trial {:2}/{n}: new holder {}, first work {} (the API's deletion seen at {}; beside {})",
        dep.imp.key,
        k + 1,
        fs_log(rec.holder.as_ref().and_then(|h| h.to_holder_s)),
        fs_log(rec.work.as_ref().map(|w| w.to_work_s)),
        fs_log(rec.deletion_seen_s),
        rec.beside,
    ));
}
