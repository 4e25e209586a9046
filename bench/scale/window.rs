//! The steady-state windows at scale: where they fall ([`window_span`]), and both
//! implementations' at once, each on its steady set and control plane, beside the trials:
//! that kube-apiserver's CPU seconds over the window and every replica's memory at its end.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::LEADERS_TIMEOUT_S;
use super::planes::SteadyPlane;
use crate::driver::Bench;
use crate::progress::log;
use crate::replicas::{ReplicaSet, wait_leaders};
use crate::results::Memory;
use crate::steady::{all_alive, memory};
use crate::support::lease_watch::epoch_now;

/// From the steady sets' leaders to the earliest opening of their windows, seconds.
pub const SETTLE_S: f64 = 15.0;
/// A k8sensus standby re-reads the Lease and re-opens its watch 120 to 180 s after it opened
/// the last one (src/elector/config.rs: `DEFAULT_RESYNC_PERIOD`, 150 s, ±20 % jitter).
pub const K8SENSUS_RESYNC_S: (f64, f64) = (120.0, 180.0);
/// How long after the latest possible first resync a window closes, at the earliest.
pub const RESYNC_MARGIN_S: f64 = 5.0;
/// How often a window's sleep looks whether it is cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// `(t0, t1)` of the steady-state windows of sets started together that all had a renewed
/// leader at `leaders_t`: `seconds` long, opening `settle` s after that at the earliest, and
/// closing no earlier than [`RESYNC_MARGIN_S`] after the latest first resync of a k8sensus
/// standby whose watch was open by `leaders_t`. With the default 120 s, and sets that had
/// their leaders within 55 s of starting, the window then holds every standby's first resync
/// (it opens 65 s after `leaders_t`, before any can come) and no second one (240 s or more
/// after the standby started), however the jitter fell: one resync per standby.
pub fn window_span(leaders_t: f64, seconds: f64, settle: f64) -> (f64, f64) {
    let t1 = (leaders_t + settle + seconds).max(leaders_t + K8SENSUS_RESYNC_S.1 + RESYNC_MARGIN_S);
    (t1 - seconds, t1)
}

/// What one implementation's steady-state window measured: its span, that kube-apiserver's
/// CPU seconds over it, and the set's memory at its end.
pub struct WindowFigures {
    pub t0: f64,
    pub t1: f64,
    pub cpu_s: f64,
    pub memory: Memory,
}

/// Both implementations' steady-state windows at once (`sets[j]` on `planes[j]`), over the
/// same span ([`window_span`]): each steady control plane's kube-apiserver CPU seconds over
/// it (from its /metrics) and every replica's memory at its end. Each steady control plane
/// serves that one set and the driver's watch, nothing else. Run beside the trials, which
/// run on the run's control plane; gives up early once `cancel` is set.
pub fn steady_windows(
    bench: &Bench,
    sets: &mut [ReplicaSet],
    planes: &[SteadyPlane],
    cancel: &AtomicBool,
) -> Result<Vec<WindowFigures>, String> {
    let seconds = bench.settings.scale.steady_seconds;
    let log_dir = &bench.settings.log_dir;
    wait_steady_leaders(sets, planes, log_dir)?;
    let (t0, _) = window_span(epoch_now(), seconds, SETTLE_S);
    sleep_unless(cancel, t0 - epoch_now())?;
    let cpu0 = apiservers_cpu(bench, planes)?;
    let t0 = epoch_now();
    let names: Vec<&str> = sets.iter().map(|rs| rs.ns.as_str()).collect();
    log(&format!(
        "scale: steady windows on {} ({} replicas each, each on its own control plane) for {seconds:.0} s",
        names.join(", "),
        sets.first().map_or(0, |rs| rs.replicas.len())
    ));
    sleep_unless(cancel, seconds)?;
    let cpu1 = apiservers_cpu(bench, planes)?;
    let t1 = epoch_now();
    all_alive(sets.iter_mut(), log_dir)?;
    let out = sets
        .iter()
        .zip(planes)
        .zip(cpu0.iter().zip(&cpu1))
        .map(|((rs, p), (c0, c1))| WindowFigures {
            t0,
            t1,
            cpu_s: c1 - c0,
            memory: memory(rs, &p.plane.watcher),
        })
        .collect();
    log("scale: steady windows closed");
    Ok(out)
}

/// Each steady set's leader, on its own control plane's watch, all within
/// [`LEADERS_TIMEOUT_S`] together.
fn wait_steady_leaders(
    sets: &mut [ReplicaSet],
    planes: &[SteadyPlane],
    log_dir: &Path,
) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs_f64(LEADERS_TIMEOUT_S);
    for (rs, p) in sets.iter_mut().zip(planes) {
        let left = end.saturating_duration_since(Instant::now()).as_secs_f64();
        wait_leaders(&mut [rs], &p.plane.watcher, left, log_dir)?;
    }
    Ok(())
}

/// Both kube-apiservers' CPU seconds, read at the same time, so that the two windows'
/// readings are as close as they can be.
fn apiservers_cpu(bench: &Bench, planes: &[SteadyPlane]) -> Result<Vec<f64>, String> {
    bench.rt.block_on(futures::future::try_join_all(
        planes
            .iter()
            .map(|p| p.plane.cp.apiserver_cpu_seconds(&p.plane.admin)),
    ))
}

/// Sleeps `seconds` (nothing if not positive), in short steps so that `cancel` ends it early
/// (an error then).
fn sleep_unless(cancel: &AtomicBool, seconds: f64) -> Result<(), String> {
    let start = Instant::now();
    let total = Duration::from_secs_f64(seconds.max(0.0));
    let step = CANCEL_POLL;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        let left = total.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(step));
    }
}
