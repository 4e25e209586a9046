//! One N: the four sets started together; crash trials on both trial sets at once, then
//! graceful trials alternating, with both steady-state windows beside them on a thread of
//! their own; the trial sets stopped when their trials end, the steady sets when the windows
//! close; then each implementation's figures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;

use super::figures::figures;
use super::namespaces::scale_namespaces;
use super::planes::SteadyPlane;
use super::results::ScaleFigures;
use super::trials::{TrialRecords, trials};
use super::window::{WindowFigures, steady_windows};
use super::{Kubeconfigs, STOP_GRACE, TIMINGS};
use crate::driver::Bench;
use crate::progress::{heartbeat_until, log};
use crate::replicas::ReplicaSet;
use crate::support::replica::Implementation;

/// Each implementation's steady set, then its trial set, in the implementations' order.
type Sets = (Vec<ReplicaSet>, Vec<ReplicaSet>);

/// One N: the four sets started together; crash trials on both trial sets at once, then
/// graceful trials alternating, with both steady-state windows beside them on a thread of
/// their own; the trial sets stopped when their trials end, the steady sets when the windows
/// close. Each implementation's figures, in the implementations' order.
pub fn one_n(
    bench: &Bench,
    n: usize,
    planes: &[SteadyPlane],
    kubeconfigs: &Kubeconfigs,
) -> Result<Vec<ScaleFigures>, String> {
    let (mut steady, mut trial) = start_sets(bench, n, kubeconfigs)?;
    let (trials, windows) = trials_beside_windows(bench, n, planes, &mut steady, &mut trial);
    bench.sampler.phase("");
    for rs in &mut steady {
        rs.stop_all(STOP_GRACE);
    }
    let (crash, graceful) = trials?;
    let windows = windows?;
    let trial_audit_log = &bench.plane.audit_log;
    Ok(windows
        .into_iter()
        .zip(crash.into_iter().zip(graceful))
        .enumerate()
        .map(|(j, (w, (c, g)))| {
            figures(
                &trial[j],
                &steady[j],
                &planes[j],
                trial_audit_log,
                c,
                g,
                w,
                n,
            )
        })
        .collect())
}

/// The four sets of N = `n` started together: per implementation a steady set (on its
/// steady control plane, through its namespace's kubeconfigs) and a trial set.
fn start_sets(bench: &Bench, n: usize, kubeconfigs: &Kubeconfigs) -> Result<Sets, String> {
    let settings = &bench.settings;
    let log_dir = &settings.log_dir;
    bench
        .sampler
        .phase(&format!("scale N={n}: start-up of the four sets"));
    let set =
        |i: &Implementation, ns: String| ReplicaSet::new(i, &ns, kubeconfigs, TIMINGS, n, log_dir);
    let mut steady: Vec<ReplicaSet> = bench
        .impls
        .iter()
        .map(|i| set(i, scale_namespaces(settings.seed, &i.key, n).1))
        .collect();
    let mut trial: Vec<ReplicaSet> = bench
        .impls
        .iter()
        .map(|i| set(i, scale_namespaces(settings.seed, &i.key, n).0))
        .collect();
    for rs in steady.iter_mut().chain(trial.iter_mut()) {
        rs.start_all(&bench.markers)?;
    }
    log(&format!(
        "scale N={n}: started {n} replicas of each implementation for the trials and {n} of each \
         for the steady state, on one Lease each; waiting for leaders"
    ));
    Ok((steady, trial))
}

/// The trials on this thread, the steady-state windows on a thread of their own beside
/// them; the trial sets stopped when their trials end. Failed trials cancel the windows;
/// otherwise the windows are waited for.
fn trials_beside_windows(
    bench: &Bench,
    n: usize,
    planes: &[SteadyPlane],
    steady: &mut [ReplicaSet],
    trial: &mut [ReplicaSet],
) -> (
    Result<TrialRecords, String>,
    Result<Vec<WindowFigures>, String>,
) {
    let cancel = AtomicBool::new(false);
    std::thread::scope(|s| {
        let cancel = &cancel;
        let windows = s.spawn(move || {
            let w = steady_windows(bench, steady, planes, cancel);
            if let Err(e) = &w {
                log(&format!(
                    "scale N={n}: the steady-state windows failed: {e}"
                ));
            }
            w
        });
        let trials = trials(bench, n, trial);
        for rs in trial.iter_mut() {
            rs.stop_all(STOP_GRACE);
        }
        if trials.is_err() {
            cancel.store(true, Ordering::Relaxed);
        } else if !windows.is_finished() {
            wait_for_windows(bench, n, &windows);
        }
        let windows = windows
            .join()
            .unwrap_or_else(|_| Err("the steady-state windows' thread panicked".into()));
        (trials, windows)
    })
}

/// The rest of the windows, with only the steady sets running.
fn wait_for_windows(
    bench: &Bench,
    n: usize,
    windows: &ScopedJoinHandle<'_, Result<Vec<WindowFigures>, String>>,
) {
    bench.sampler.phase(&format!(
        "scale N={n}: steady sets alone, until their windows close"
    ));
    log(&format!(
        "scale N={n}: trials done; waiting for the steady windows to close"
    ));
    heartbeat_until(
        || windows.is_finished(),
        &format!("waiting for the steady windows of N={n} to close"),
    );
}
