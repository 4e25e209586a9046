//! The short timings (4s/3s/0.5s), with `--short-crash-trials` or `--short-graceful-trials`:
//! 3 replicas of each implementation, crash trials on both at once, then graceful trials
//! alternating if the time budget allows.

use super::{Figures, Kubeconfigs, Namespaces, REPLICAS, SHORT_TIMINGS, STOP_GRACE, record_exits};
use crate::args::Settings;
use crate::driver::{Bench, rng_for};
use crate::progress::{elapsed_s, log};
use crate::replicas::{ReplicaSet, wait_leaders};
use crate::results::CrashTrial;
use crate::trials::{TrialContext, crash_trials, graceful_alternating, settle_time};

/// How long the short-timing sets may take to elect their first leaders, seconds.
const LEADERS_TIMEOUT_S: f64 = 60.0;
/// A graceful trial's time beyond its settle and retry period, seconds, for the budget's
/// projection (the handoff, the restart).
const GRACEFUL_EXTRA_S: f64 = 1.5;
/// What the budget's projection keeps for the rest of the run after these trials, seconds.
const REST_OF_RUN_S: f64 = 60.0;

/// The short-timing sets started, their trials, then the sets stopped and their exits
/// recorded. Nothing when neither kind of trial is asked for.
pub(super) fn trials(
    b: &Bench,
    ns: &Namespaces,
    kubeconfigs: &Kubeconfigs,
    figures: &mut [Figures],
) -> Result<(), String> {
    let s = &b.settings;
    if s.short_crash_trials == 0 && s.short_graceful_trials == 0 {
        return Ok(());
    }
    let mut sets = start_sets(b, ns, kubeconfigs)?;
    if s.short_crash_trials > 0 {
        crash_on_both(b, &mut sets, figures);
    }
    if s.short_graceful_trials > 0 {
        match over_budget(s) {
            Some(projected) => log(&format!(
                "skipping short-timing graceful trials: projected end {:.1} min > budget {:.0} min",
                projected / 60.0,
                s.budget_minutes
            )),
            None => graceful_alternating_short(b, &mut sets, figures),
        }
    }
    b.sampler.phase("");
    for (f, rs) in figures.iter_mut().zip(&mut sets) {
        rs.stop_all(STOP_GRACE);
        record_exits(rs, &mut f.exits);
    }
    Ok(())
}

/// One set of 3 replicas per implementation with the short timings, started, each with a
/// leader.
fn start_sets(
    b: &Bench,
    ns: &Namespaces,
    kubeconfigs: &Kubeconfigs,
) -> Result<Vec<ReplicaSet>, String> {
    let s = &b.settings;
    let mut sets: Vec<ReplicaSet> = (0..b.impls.len())
        .map(|j| {
            ReplicaSet::new(
                &b.impls[j],
                &ns[&(j, "short".to_string())],
                kubeconfigs,
                SHORT_TIMINGS,
                REPLICAS,
                &s.log_dir,
            )
        })
        .collect();
    b.sampler.phase("");
    for rs in &mut sets {
        rs.start_all(&b.markers)?;
    }
    log("started 3 replicas of each with short timings (4s/3s/0.5s)");
    let mut refs: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
    wait_leaders(&mut refs, &b.plane.watcher, LEADERS_TIMEOUT_S, &s.log_dir)?;
    Ok(sets)
}

/// Crash trials on every set at once, a thread each.
fn crash_on_both(b: &Bench, sets: &mut [ReplicaSet], figures: &mut [Figures]) {
    let (s, watcher, markers) = (&b.settings, &b.plane.watcher, &b.markers);
    b.sampler.phase("crash trials, short timings");
    log(&format!(
        "crash failover, short timings, {} trials each, both at once",
        s.short_crash_trials
    ));
    let crash: Vec<Vec<CrashTrial>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sets
            .iter_mut()
            .enumerate()
            .map(|(j, rs)| {
                let mut cx = TrialContext {
                    watcher,
                    markers,
                    rng: rng_for(s.seed, &format!("short crash {j}")),
                };
                let n = s.short_crash_trials;
                scope.spawn(move || crash_trials(rs, 0..n, "crash 4s", &mut cx))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (f, c) in figures.iter_mut().zip(crash) {
        f.short_crash = c;
    }
}

/// The run's projected end, seconds since it began, if the short graceful trials would take
/// it past `--budget-minutes`: each trial settles, waits up to a retry period, and hands
/// off, on each implementation.
fn over_budget(s: &Settings) -> Option<f64> {
    let t = SHORT_TIMINGS;
    let per_trial = 2.0 * (settle_time(t) + t.retry_period.as_secs_f64() + GRACEFUL_EXTRA_S);
    let projected = elapsed_s() + s.short_graceful_trials as f64 * per_trial + REST_OF_RUN_S;
    (projected > s.budget_minutes * 60.0).then_some(projected)
}

/// Graceful trials on the sets, one at a time, alternating.
fn graceful_alternating_short(b: &Bench, sets: &mut [ReplicaSet], figures: &mut [Figures]) {
    let s = &b.settings;
    b.sampler.phase("graceful trials, short timings");
    log(&format!(
        "graceful handoff, short timings, {} trials each, alternating",
        s.short_graceful_trials
    ));
    let mut refs: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
    let mut cx = TrialContext {
        watcher: &b.plane.watcher,
        markers: &b.markers,
        rng: rng_for(s.seed, "short graceful"),
    };
    let graceful = graceful_alternating(&mut refs, s.short_graceful_trials, "graceful 4s", &mut cx);
    for (f, g) in figures.iter_mut().zip(graceful) {
        f.short_graceful = g;
    }
}
