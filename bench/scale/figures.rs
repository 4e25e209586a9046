//! One implementation's figures at one N: the trials' from its trial set (through the trial
//! control plane's audit log), the steady state's from its steady set and window (through
//! its steady control plane's).

use std::collections::BTreeMap;
use std::path::Path;

use super::planes::SteadyPlane;
use super::results::{ReplicaRequests, ScaleFigures, ScaleRaw, Takeover, WindowSpan};
use super::takeover::{TakeoverSpan, takeover_requests};
use super::window::WindowFigures;
use crate::progress::{fs_log, log};
use crate::replicas::ReplicaSet;
use crate::results::{ApiLoad, CrashTrial, GracefulTrial, Memory, TrialSummaries};
use crate::steady::steady_state;
use crate::support::stats::{mean, median};

/// One implementation's figures at N = `n`: the trials' from its trial set `rs` (the trial
/// control plane's audit log), the steady state's from its steady set and window `w` (the
/// audit log of its steady control plane `plane`).
#[allow(clippy::too_many_arguments)]
pub fn figures(
    rs: &ReplicaSet,
    steady: &ReplicaSet,
    plane: &SteadyPlane,
    trial_audit_log: &Path,
    crash: Vec<CrashTrial>,
    graceful: Vec<GracefulTrial>,
    w: WindowFigures,
    n: usize,
) -> ScaleFigures {
    let key = rs.implementation.key.clone();
    let load = steady_load(steady, plane, &w);
    let window = w.t1 - w.t0;
    let standby_total = load.standby_requests_per_s * load.role_seconds.standby / window;
    let (tk_crash, tk_grace) = takeovers(trial_audit_log, rs, &crash, &graceful);
    let counts = |t: &[Takeover]| t.iter().map(|x| x.requests as f64).collect::<Vec<_>>();
    let (counts_c, counts_g) = (counts(&tk_crash), counts(&tk_grace));
    let rss: Vec<f64> = w
        .memory
        .per_replica
        .values()
        .filter_map(|p| p.rss_mib)
        .collect();
    let f = ScaleFigures {
        replicas: n,
        trials: TrialSummaries::of(&crash, &graceful),
        standby_requests_per_s: load.standby_requests_per_s,
        standby_requests_per_s_max: load.standby_requests_per_s_max,
        all_standbys_requests_per_s: standby_total,
        leader_requests_per_s: load.leader_requests_per_s,
        takeover_requests: median(&counts_c),
        takeover_requests_max: tk_crash.iter().map(|x| x.requests).max(),
        takeover_requests_graceful: median(&counts_g),
        takeover_requests_graceful_max: tk_grace.iter().map(|x| x.requests).max(),
        apiserver_cpu_s_per_min: w.cpu_s / window * 60.0,
        apiserver_cpu_s: w.cpu_s,
        window_s: window,
        transitions_in_window: load.transitions_in_window,
        rss_mib: mean(&rss),
        rss_mib_max: rss.iter().copied().reduce(f64::max),
        raw: ScaleRaw {
            crash,
            graceful,
            takeovers_crash: tk_crash,
            takeovers_graceful: tk_grace,
            window: WindowSpan { t0: w.t0, t1: w.t1 },
            requests_by_replica: requests_by_replica(&load),
            rss_per_replica: rss_per_replica(&w.memory),
        },
    };
    log_figures(n, &key, &f, standby_total);
    f
}

/// The steady set's requests over its window, from its steady control plane's audit log.
fn steady_load(steady: &ReplicaSet, plane: &SteadyPlane, w: &WindowFigures) -> ApiLoad {
    steady_state(
        &[steady],
        &plane.plane.watcher,
        &plane.plane.audit_log,
        w.t0,
        w.t1,
    )
    .pop()
    .expect("one set, one load")
}

/// The requests of each good crash trial's takeover, then of each good graceful trial's.
fn takeovers(
    trial_audit_log: &Path,
    rs: &ReplicaSet,
    crash: &[CrashTrial],
    graceful: &[GracefulTrial],
) -> (Vec<Takeover>, Vec<Takeover>) {
    let tk_crash = takeover_requests(trial_audit_log, rs, &TakeoverSpan::crash(crash, rs.timings));
    let tk_grace = takeover_requests(trial_audit_log, rs, &TakeoverSpan::graceful(graceful));
    (tk_crash, tk_grace)
}

/// Each steady replica's requests over the window, with its role.
fn requests_by_replica(load: &ApiLoad) -> BTreeMap<String, ReplicaRequests> {
    load.per_replica
        .iter()
        .map(|(r, p)| {
            (
                r.clone(),
                ReplicaRequests {
                    role: p.role,
                    requests: p.requests,
                    by_verb: p.by_verb.clone(),
                },
            )
        })
        .collect()
}

/// Each steady replica's RSS at the window's end.
fn rss_per_replica(memory: &Memory) -> BTreeMap<String, Option<f64>> {
    memory
        .per_replica
        .iter()
        .map(|(r, p)| (r.clone(), p.rss_mib))
        .collect()
}

/// The progress line of one implementation's figures at N = `n`.
fn log_figures(n: usize, key: &str, f: &ScaleFigures, standby_total: f64) {
    let number = |v: Option<f64>| v.map_or("None".to_string(), |x| format!("{x}"));
    log(&format!(
        "scale N={n} {key:9}: crash p90 {}, graceful p50 {}, standby {:.4} req/s (all {standby_total:.3}), \
         takeover {} requests, apiserver {:.2} CPU s/min, RSS {}",
        fs_log(f.trials.crash_failover_s.p90),
        fs_log(f.trials.graceful_handoff_s.p50),
        f.standby_requests_per_s,
        number(f.takeover_requests),
        f.apiserver_cpu_s_per_min,
        f.rss_mib.map_or("n/a".into(), |r| format!("{r:.1} MiB")),
    ));
}
