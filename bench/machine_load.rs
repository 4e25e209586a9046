//! Machine load while the run goes on: other work on the host biases the timings. Every 2 s
//! the share of all CPUs busy (from /proc/stat) and the 1-minute load average, summed up per
//! phase of the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::support::lease_watch::epoch_now;
use crate::support::provenance::load_average;

/// The time between two samples.
const EVERY: Duration = Duration::from_secs(2);

/// One phase's load, as results.json keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseLoad {
    pub phase: String,
    pub seconds: f64,
    pub cpu_busy_mean: f64,
    pub cpu_busy_max: f64,
    pub load1_max: f64,
}

#[derive(Default)]
struct State {
    /// (time, share of CPUs busy, 1-min load average)
    samples: Vec<(f64, f64, f64)>,
    /// (name, start, end) of each phase, in order; the last may be open.
    phases: Vec<(String, f64, Option<f64>)>,
    /// Stretches that overlap the phases, reported after them.
    spans: Vec<(String, f64, f64)>,
}

/// The sampler, on a thread of its own until dropped.
pub struct LoadSampler {
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
}

fn cpu_times() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (v.iter().sum(), idle)
}

impl LoadSampler {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (state2, stopping2) = (state.clone(), stopping.clone());
        std::thread::Builder::new()
            .name("load-sampler".into())
            .spawn(move || {
                let mut prev = cpu_times();
                while !stopping2.load(Ordering::Relaxed) {
                    std::thread::sleep(EVERY);
                    let cur = cpu_times();
                    let (total, idle) = (cur.0 - prev.0, cur.1 - prev.1);
                    prev = cur;
                    if total > 0 {
                        let busy = 1.0 - idle as f64 / total as f64;
                        let mut s = state2.lock().unwrap_or_else(|e| e.into_inner());
                        s.samples.push((epoch_now(), busy, load_average()[0]));
                    }
                }
            })
            .expect("spawn the load sampler");
        LoadSampler { state, stopping }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the current phase and, unless `name` is empty, opens one named `name`.
    pub fn phase(&self, name: &str) {
        let now = epoch_now();
        let mut s = self.lock();
        if let Some(last) = s.phases.last_mut()
            && last.2.is_none()
        {
            last.2 = Some(now);
        }
        if !name.is_empty() {
            s.phases.push((name.to_string(), now, None));
        }
    }

    /// A stretch that overlaps the phases (the steady-state window beside the trials).
    pub fn span(&self, name: &str, t0: f64, t1: f64) {
        self.lock().spans.push((name.to_string(), t0, t1));
    }

    /// Every phase and span with samples, the current phase closed first.
    pub fn summary(&self) -> Vec<PhaseLoad> {
        self.phase("");
        let now = epoch_now();
        let s = self.lock();
        let stretches = s
            .phases
            .iter()
            .map(|(n, a, b)| (n.clone(), *a, b.unwrap_or(now)))
            .chain(s.spans.iter().cloned());
        let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
        stretches
            .filter_map(|(name, t0, t1)| {
                let xs: Vec<_> = s
                    .samples
                    .iter()
                    .filter(|(t, _, _)| t0 <= *t && *t <= t1)
                    .collect();
                if xs.is_empty() {
                    return None;
                }
                let busy: Vec<f64> = xs.iter().map(|x| x.1).collect();
                Some(PhaseLoad {
                    phase: name,
                    seconds: round(t1 - t0, 1),
                    cpu_busy_mean: round(busy.iter().sum::<f64>() / busy.len() as f64, 3),
                    cpu_busy_max: round(busy.iter().copied().fold(0.0, f64::max), 3),
                    load1_max: round(xs.iter().map(|x| x.2).fold(0.0, f64::max), 2),
                })
            })
            .collect()
    }
}

impl Drop for LoadSampler {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}
