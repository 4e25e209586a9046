//! The rollout trial: `kubectl rollout restart`, until no old pod is left, three new pods are
//! Ready and the holder works; then the terms of work that covered that stretch, their gaps
//! and overlaps.

use std::collections::BTreeSet;
use std::time::Duration;

use k8sensus::telemetry::monotonic_ns;

use super::{holding_turn, steady_turn};
use crate::cluster::Result;
use crate::cluster::deployment::{API_POLL, DEPLOYMENT, Deployment, REPLICAS, is_ready};
use crate::cluster::results::{RolloutTrial, TermRecord, Trial};
use crate::progress::{fs_log, log};
use crate::support::overlap::{Overlap, Term, find_overlaps};

/// How long the rollout may take to end; past it the trial is recorded as not ok.
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(300);
/// The pause after the rollout's end in which the last lines of the old pods reach the
/// tailer; the rollout's duration leaves it out.
const TAIL_PAUSE: Duration = Duration::from_secs(1);

/// The `k`-th of `n` rollouts, recorded in the deployment's `raw.rollout`.
pub(super) fn trial(dep: &Deployment, k: usize, n: usize) -> Result<()> {
    let ns = dep.ns();
    let record = |t| dep.raw.lock().unwrap().rollout.push(t);
    let Some(st) = steady_turn(dep, k, n, "waiting to roll out", "a rollout", false, |f| {
        record(Trial::Failed(f))
    })?
    else {
        return Ok(());
    };
    holding_turn(dep, || {
        dep.set_activity(format!("rollout {}", k + 1));
        let beside = dep.beside();
        let old_pods: BTreeSet<String> = st.pods.into_keys().collect();
        let target = format!("deployment/{DEPLOYMENT}");
        let (child, t_wall, t_mono) =
            dep.spawn_kubectl(&["rollout", "restart", &target, "-n", ns])?;
        dep.kubectl_done(child, "rollout restart")?;
        let done = rolled_out(dep, &old_pods, t_mono)?;
        dep.ctx.sleep(TAIL_PAUSE)?;
        let t_end = monotonic_ns();
        let rec = record_of(
            k,
            Rollout {
                done: done.is_some(),
                beside,
                old_pods,
                t_wall,
                t_mono,
                t_end,
            },
            terms_during(dep, t_mono, t_end),
        );
        progress(dep, &rec, k, n);
        record(Trial::Ran(rec));
        Ok(())
    })
}

/// Waits until no pod of `old_pods` is left, three pods are Ready, one of them holds the
/// Lease and works, having started to after the restart (`t_mono`); `None` after
/// [`ROLLOUT_TIMEOUT`].
fn rolled_out(dep: &Deployment, old_pods: &BTreeSet<String>, t_mono: u64) -> Result<Option<()>> {
    let ns = dep.ns();
    dep.ctx.wait(ROLLOUT_TIMEOUT, API_POLL, || {
        let pods = dep.pods();
        let h = dep.holder();
        if pods.len() != REPLICAS
            || pods.keys().any(|p| old_pods.contains(p))
            || !pods.values().all(is_ready)
            || !pods.contains_key(&h)
        {
            return Ok(None);
        }
        let worked = dep
            .ctx
            .logs
            .first_work_after(ns, t_mono, Some(&h))
            .is_some();
        Ok((worked && dep.ctx.logs.working(ns, &h)).then_some(()))
    })
}

/// The terms that worked during the rollout, the one working when it began included (a term
/// works until its stop line, so its end is after the restart).
fn terms_during(dep: &Deployment, t_mono: u64, t_end: u64) -> Vec<Term> {
    dep.ctx
        .logs
        .terms(dep.ns())
        .into_iter()
        .filter(|t| t.last_ns >= t_mono && t.first_ns <= t_end)
        .collect()
}

/// A rollout as it ran: whether it ended, what the other deployment was doing, the pods it
/// replaced, and when it began (wall clock and CLOCK_MONOTONIC) and ended.
struct Rollout {
    done: bool,
    beside: String,
    old_pods: BTreeSet<String>,
    t_wall: f64,
    t_mono: u64,
    t_end: u64,
}

/// The trial's record: ok when the rollout ended and some term worked during it.
fn record_of(k: usize, r: Rollout, ts: Vec<Term>) -> RolloutTrial {
    let gaps: Vec<f64> = ts
        .windows(2)
        .map(|w| (w[1].first_ns as f64 - w[0].last_ns as f64) / 1e9)
        .collect();
    let ov = find_overlaps(&ts);
    RolloutTrial {
        trial: k,
        ok: r.done && !ts.is_empty(),
        beside: r.beside,
        restart_t: r.t_wall,
        restart_mono_ns: r.t_mono,
        end_mono_ns: r.t_end,
        duration_s: (r.t_end - r.t_mono) as f64 / 1e9 - TAIL_PAUSE.as_secs_f64(),
        handovers: ts.len().saturating_sub(1),
        leaderless_total_s: gaps.iter().filter(|g| **g > 0.0).sum(),
        leaderless_max_s: gaps
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))))
            .unwrap_or(0.0),
        gaps_s: gaps,
        overlaps: ov.len(),
        terms: ts.iter().map(TermRecord::of).collect(),
        old_pods: r.old_pods.into_iter().collect(),
        overlap_detail: overlap_detail(&ov),
    }
}

/// Each overlap as `pod [first_ns, last_ns] and pod [first_ns, last_ns]`; `None` if there is
/// none.
fn overlap_detail(ov: &[Overlap]) -> Option<Vec<String>> {
    (!ov.is_empty()).then(|| {
        ov.iter()
            .map(|o| {
                format!(
                    "{} [{}, {}] and {} [{}, {}]",
                    o.a.replica, o.a.first_ns, o.a.last_ns, o.b.replica, o.b.first_ns, o.b.last_ns
                )
            })
            .collect()
    })
}

/// The trial's progress line.
fn progress(dep: &Deployment, rec: &RolloutTrial, k: usize, n: usize) {
    log(&format!(
        "rollout {:9} trial {:2}/{n}: {} handovers, leaderless {} in all (longest {}), {} overlaps, rollout {:.1} s (beside {})",
        dep.imp.key,
        k + 1,
        rec.handovers,
        fs_log(Some(rec.leaderless_total_s)),
        fs_log(Some(rec.leaderless_max_s)),
        rec.overlaps,
        rec.duration_s,
        rec.beside,
    ));
}
