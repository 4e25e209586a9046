//! The trial sets' trials at one N, on the run's control plane: once every set has a
//! leader, crash trials on all at once (a thread each), then graceful trials alternating.

use super::LEADERS_TIMEOUT_S;
use crate::driver::{Bench, rng_for};
use crate::progress::log;
use crate::replicas::{ReplicaSet, wait_leaders};
use crate::results::{CrashTrial, GracefulTrial};
use crate::trials::{TrialContext, crash_trials, graceful_alternating};

/// Each trial set's crash and graceful trials, in the sets' order.
pub type TrialRecords = (Vec<Vec<CrashTrial>>, Vec<Vec<GracefulTrial>>);

/// The trial sets' trials: once every set has a leader, crash trials on all at once (a
/// thread each), then graceful trials alternating.
pub fn trials(bench: &Bench, n: usize, sets: &mut [ReplicaSet]) -> Result<TrialRecords, String> {
    {
        let mut all: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
        wait_leaders(
            &mut all,
            &bench.plane.watcher,
            LEADERS_TIMEOUT_S,
            &bench.settings.log_dir,
        )?;
    }
    let crash = crash_at_once(bench, n, sets);
    let graceful = graceful_in_turn(bench, n, sets);
    Ok((crash, graceful))
}

/// `--scale-crash-trials` crash trials on every set at once, a thread each, each with its
/// own random choices.
fn crash_at_once(bench: &Bench, n: usize, sets: &mut [ReplicaSet]) -> Vec<Vec<CrashTrial>> {
    let settings = &bench.settings;
    let (watcher, markers) = (&bench.plane.watcher, &bench.markers);
    bench
        .sampler
        .phase(&format!("scale N={n}: crash trials, steady sets beside"));
    log(&format!(
        "scale N={n}: crash failover, {} trials each, both at once",
        settings.scale.crash_trials
    ));
    let phase = format!("N={n} crash");
    std::thread::scope(|s| {
        let handles: Vec<_> = sets
            .iter_mut()
            .map(|rs| {
                let phase = &phase;
                s.spawn(move || {
                    let mut cx = TrialContext {
                        watcher,
                        markers,
                        rng: rng_for(settings.seed, &format!("scale {phase} {}", rs.ns)),
                    };
                    crash_trials(rs, 0..settings.scale.crash_trials, phase, &mut cx)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// `--scale-graceful-trials` graceful trials on the sets, one at a time, alternating.
fn graceful_in_turn(bench: &Bench, n: usize, sets: &mut [ReplicaSet]) -> Vec<Vec<GracefulTrial>> {
    let settings = &bench.settings;
    bench
        .sampler
        .phase(&format!("scale N={n}: graceful trials, steady sets beside"));
    log(&format!(
        "scale N={n}: graceful handoff, {} trials each, alternating",
        settings.scale.graceful_trials
    ));
    let phase = format!("N={n} graceful");
    let mut cx = TrialContext {
        watcher: &bench.plane.watcher,
        markers: &bench.markers,
        rng: rng_for(settings.seed, &format!("scale {phase}")),
    };
    let mut all: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
    graceful_alternating(&mut all, settings.scale.graceful_trials, &phase, &mut cx)
}
