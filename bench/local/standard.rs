//! The 15s/10s/2s sets: per implementation a steady-state set and `--lanes` lanes. The crash
//! trials run on every lane at once, one thread per lane, with the steady-state window on
//! its own thread beside them; then the graceful trials on the first lanes, alternating;
//! then the rest of the window, and its figures.

use std::thread::ScopedJoinHandle;

use super::{Figures, Kubeconfigs, Namespaces, REPLICAS, STOP_GRACE, TIMINGS, record_exits};
use crate::driver::{Bench, rng_for};
use crate::progress::log;
use crate::replicas::{ReplicaSet, wait_leaders};
use crate::results::CrashTrial;
use crate::steady::{Window, steady_state, steady_window};
use crate::trials::{TrialContext, crash_trials, graceful_alternating, lanes_of};

/// From the steady sets' leaders to the opening of the steady-state window.
const STEADY_SETTLE_S: f64 = 15.0;
/// How long the sets may take to elect their first leaders, seconds (every set of both
/// implementations starts at once).
const LEADERS_TIMEOUT_S: f64 = 120.0;

/// Each implementation's steady-state set, then its lanes (`lanes[j][l]`).
type Sets = (Vec<ReplicaSet>, Vec<Vec<ReplicaSet>>);

/// The steady-state set and the lanes of each implementation, started; the crash trials on
/// every lane at once with the steady-state window beside them; then the graceful trials on
/// the first lanes, alternating; then the rest of the window, and its figures.
pub(super) fn trials(
    b: &Bench,
    ns: &Namespaces,
    kubeconfigs: &Kubeconfigs,
    lane_names: &[String],
    figures: &mut [Figures],
) -> Result<(), String> {
    let (mut steady_sets, mut lanes) = start_sets(b, ns, kubeconfigs, lane_names)?;
    for (f, lane) in figures.iter_mut().zip(&lanes) {
        f.first_lane = lane[0].ns.clone();
    }
    let window: Result<Window, String> = std::thread::scope(|scope| {
        let steady = scope.spawn(|| open_window(b, &mut steady_sets));
        crash_on_every_lane(b, &mut lanes, figures);
        for sets in lanes.iter_mut() {
            for rs in sets.iter_mut().skip(1) {
                rs.stop_all(STOP_GRACE);
            }
        }
        graceful_on_first_lanes(b, &mut lanes, figures);
        wait_for_window(b, &steady);
        steady
            .join()
            .unwrap_or_else(|_| Err("the steady-state window's thread panicked".into()))
    });
    b.sampler.phase("");
    for rs in &mut steady_sets {
        rs.stop_all(STOP_GRACE);
    }
    record_window(b, &steady_sets, window?, figures);
    for (j, f) in figures.iter_mut().enumerate() {
        for rs in std::iter::once(&steady_sets[j]).chain(&lanes[j]) {
            record_exits(rs, &mut f.exits);
        }
    }
    Ok(())
}

/// Every set started, then each one's first leader waited for and logged.
fn start_sets(
    b: &Bench,
    ns: &Namespaces,
    kubeconfigs: &Kubeconfigs,
    lane_names: &[String],
) -> Result<Sets, String> {
    let log_dir = &b.settings.log_dir;
    let set = |j: usize, part: &str| {
        ReplicaSet::new(
            &b.impls[j],
            &ns[&(j, part.to_string())],
            kubeconfigs,
            TIMINGS,
            REPLICAS,
            log_dir,
        )
    };
    let mut steady_sets: Vec<ReplicaSet> = (0..b.impls.len()).map(|j| set(j, "steady")).collect();
    let mut lanes: Vec<Vec<ReplicaSet>> = (0..b.impls.len())
        .map(|j| lane_names.iter().map(|l| set(j, l)).collect())
        .collect();
    for rs in steady_sets.iter_mut().chain(lanes.iter_mut().flatten()) {
        rs.start_all(&b.markers)?;
    }
    let count = steady_sets.len() + lanes.iter().map(Vec::len).sum::<usize>();
    log(&format!(
        "started {count} sets of 3 replicas (15s/10s/2s): per implementation one for the steady \
         state and {} for the trials; waiting for leaders",
        b.settings.lanes
    ));
    let mut all: Vec<&mut ReplicaSet> = steady_sets
        .iter_mut()
        .chain(lanes.iter_mut().flatten())
        .collect();
    wait_leaders(&mut all, &b.plane.watcher, LEADERS_TIMEOUT_S, log_dir)?;
    for rs in all {
        let holder = b.plane.watcher.latest(&rs.ns).map(|e| e.holder);
        log(&format!("{}: leader {}", rs.ns, holder.unwrap_or_default()));
    }
    Ok((steady_sets, lanes))
}

/// The steady-state window on the steady sets (the thread beside the trials).
fn open_window(b: &Bench, steady_sets: &mut [ReplicaSet]) -> Result<Window, String> {
    let mut refs: Vec<&mut ReplicaSet> = steady_sets.iter_mut().collect();
    steady_window(
        &mut refs,
        &b.plane.watcher,
        b.settings.steady_seconds,
        STEADY_SETTLE_S,
        &b.sampler,
        &b.settings.log_dir,
    )
}

/// Crash trials: every lane of every implementation at once, each on its thread, each lane
/// with its own share of the trials ([`lanes_of`]) and its own random choices.
fn crash_on_every_lane(b: &Bench, lanes: &mut [Vec<ReplicaSet>], figures: &mut [Figures]) {
    let (watcher, markers, settings) = (&b.plane.watcher, &b.markers, &b.settings);
    b.sampler.phase("crash trials");
    log(&format!(
        "crash failover (kill -9 of the leader), {} trials each, {} lane(s) per \
         implementation, all at once",
        settings.crash_trials, settings.lanes
    ));
    let crash: Vec<Vec<CrashTrial>> = std::thread::scope(|lanes_scope| {
        let handles: Vec<(usize, _)> = lanes
            .iter_mut()
            .enumerate()
            .flat_map(|(j, sets)| {
                let ranges = lanes_of(settings.crash_trials, settings.lanes);
                sets.iter_mut()
                    .zip(ranges)
                    .enumerate()
                    .map(move |(l, (rs, trials))| (j, l, rs, trials))
            })
            .map(|(j, l, rs, trials)| {
                let mut cx = TrialContext {
                    watcher,
                    markers,
                    rng: rng_for(settings.seed, &format!("crash {j} {l}")),
                };
                (
                    j,
                    lanes_scope.spawn(move || crash_trials(rs, trials, "crash 15s", &mut cx)),
                )
            })
            .collect();
        let mut crash: Vec<Vec<CrashTrial>> = (0..figures.len()).map(|_| Vec::new()).collect();
        for (j, h) in handles {
            crash[j].extend(h.join().unwrap_or_default());
        }
        crash
    });
    for (f, mut c) in figures.iter_mut().zip(crash) {
        c.sort_by_key(CrashTrial::trial);
        f.crash = c;
    }
}

/// Graceful trials: the first lanes, one trial at a time, alternating; those lanes stopped
/// after.
fn graceful_on_first_lanes(b: &Bench, lanes: &mut [Vec<ReplicaSet>], figures: &mut [Figures]) {
    let settings = &b.settings;
    b.sampler.phase("graceful trials");
    log(&format!(
        "graceful handoff (SIGTERM to the leader), {} trials each, alternating",
        settings.graceful_trials
    ));
    let mut firsts: Vec<&mut ReplicaSet> = lanes.iter_mut().map(|l| &mut l[0]).collect();
    let mut cx = TrialContext {
        watcher: &b.plane.watcher,
        markers: &b.markers,
        rng: rng_for(settings.seed, "graceful"),
    };
    let graceful = graceful_alternating(
        &mut firsts,
        settings.graceful_trials,
        "graceful 15s",
        &mut cx,
    );
    for (f, g) in figures.iter_mut().zip(graceful) {
        f.graceful = g;
    }
    for rs in firsts {
        rs.stop_all(STOP_GRACE);
    }
}

/// Waits for the window's thread if it still runs, with a progress line every 30 s.
fn wait_for_window(b: &Bench, steady: &ScopedJoinHandle<'_, Result<Window, String>>) {
    if steady.is_finished() {
        return;
    }
    b.sampler.phase("rest of the steady-state window");
    log("waiting for the steady-state window to close");
    crate::progress::heartbeat_until(
        || steady.is_finished(),
        "waiting for the steady-state window",
    );
}

/// The window's figures: each steady set's requests per role from the audit log, and its
/// memory at the window's end.
fn record_window(b: &Bench, steady_sets: &[ReplicaSet], window: Window, figures: &mut [Figures]) {
    let refs: Vec<&ReplicaSet> = steady_sets.iter().collect();
    let loads = steady_state(
        &refs,
        &b.plane.watcher,
        &b.plane.audit_log,
        window.t0,
        window.t1,
    );
    for (j, ((f, load), mem)) in figures.iter_mut().zip(loads).zip(window.memory).enumerate() {
        log(&format!(
            "{:9}: standby {:.3} req/s, leader {:.3} req/s ({:.3} reads/s), RSS {:.1} MiB",
            b.impls[j].key,
            load.standby_requests_per_s,
            load.leader_requests_per_s,
            load.leader_reads_per_s,
            mem.rss_mib.unwrap_or(f64::NAN)
        ));
        f.load = Some(load);
        f.memory = Some(mem);
    }
}
