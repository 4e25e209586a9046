//! At scale: one Lease with N candidates, for each N (`--scale-only`, what `make
//! bench-scale` and the scale part of `make bench` run).
//!
//! The trials run on the run's control plane (`Bench::plane`, with its audit log and watch);
//! beside it, one *steady* control plane per implementation starts once for the whole part
//! (`planes.rs`), both at once, while the trial sets' namespaces are made. Each
//! is an etcd + kube-apiserver of its own with an audit log and the driver's watch, so that
//! its kube-apiserver's CPU and its audit log belong to one implementation. For each N, four
//! sets start together, each on its own Lease and namespace with one ServiceAccount per
//! replica: per implementation a *trial set* of N replicas on the trial control plane and a
//! *steady set* of N replicas on that implementation's steady control plane. On the trial
//! sets, crash trials on both at once, then graceful trials alternating; the requests each
//! takeover caused come from the trial control plane's audit log. Beside the trials, on a
//! thread of their own, both implementations' steady-state windows run over the same span
//! ([`window::window_span`]): requests per standby from each steady control plane's audit log, that
//! kube-apiserver's CPU seconds from its own /metrics, every replica's RSS at the end. The
//! trial sets stop when their trials end; the windows then close with only the steady sets
//! running, and those stop too. After each N the results file gets the section so far, so
//! that a run cut short keeps the N done.
//!
//! # Layout
//!
//! - `mod.rs`: this map, and the part's steps in their order ([`run`]): the steady control
//!   planes and the namespaces, then each N, its section written after it.
//! - `args.rs`: the part's flags, and its settings built from them.
//! - `planes.rs`: the steady control planes, one per implementation.
//! - `namespaces.rs`: the sets' namespaces, on the trial control plane and on each steady one.
//! - `one_n.rs`: one N: the four sets, the trials beside the windows, the sets stopped.
//! - `trials.rs`: the trial sets' crash and graceful trials.
//! - `window.rs`: where the steady-state windows fall, and both measured at once.
//! - `takeover.rs`: the requests each takeover caused, from the audit log.
//! - `figures.rs`: one implementation's figures at one N.
//! - `section.rs`: the section so far, written into the results file after each N.
//! - `results.rs`: the `scale` section as types, and the one way a section goes into the
//!   results file (every other key kept).
//!
//! tests/bench_parts/scale_part.rs tests the pure parts: the windows, the namespaces, the
//! takeover requests, the section and its keys.

pub mod args;
mod figures;
pub mod namespaces;
mod one_n;
mod planes;
pub mod results;
mod section;
pub mod takeover;
mod trials;
pub mod window;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::driver::Bench;
use crate::progress::{elapsed, log};
use crate::support::Timings;
use namespaces::{steady_namespaces, trial_namespaces};
use one_n::one_n;
use planes::{SteadyPlane, start_steady_planes, stop_steady_planes};
use results::ByN;
use section::Part;

/// The election timings of every set: k8sensus's defaults, client-go's usual.
pub const TIMINGS: Timings = Timings::REAL;
/// How long the sets of one N may take to elect their leaders (100 replicas of each start at
/// once on a 2-core machine).
const LEADERS_TIMEOUT_S: f64 = 180.0;
/// How long a replica may take to exit after SIGTERM when a set stops.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// `{(namespace, slot): kubeconfig}` of every replica.
type Kubeconfigs = HashMap<(String, usize), PathBuf>;

/// The scale part on the run's control plane (`bench.plane`, the trials') and the steady
/// control planes it starts: its section written into the results file (`--out`) after each
/// N and at the end, every other key of that file kept.
pub fn run(bench: &Bench) -> Result<(), String> {
    let settings = &bench.settings;
    let part = Part::new(bench);
    let ns = &settings.scale.ns;
    let (mut planes, kubeconfigs) = start_steady_planes(
        &bench.rt,
        &bench.impls,
        &bench.cp_bin,
        &bench.work,
        &settings.log_dir,
        // The trial control plane's namespaces while the steady ones come up.
        || trial_namespaces(bench),
    )?;
    let result = steady_namespaces(bench, &planes).and_then(|steady| {
        let mut kubeconfigs = kubeconfigs;
        kubeconfigs.extend(steady);
        log(&format!(
            "scale: namespaces ready for N = {}, on the trial control plane and on each \
                 steady control plane",
            join(ns)
        ));
        each_n(&part, &planes, &kubeconfigs)
    });
    stop_steady_planes(&mut planes, &settings.log_dir);
    let (figures, done) = result?;
    part.save(&figures, &done, true)
}

/// For each N, the four sets measured ([`one_n`]) and the section written: each
/// implementation's figures by N, and the N done.
fn each_n(
    part: &Part,
    planes: &[SteadyPlane],
    kubeconfigs: &Kubeconfigs,
) -> Result<(Vec<ByN>, Vec<usize>), String> {
    let bench = part.bench;
    let mut figures: Vec<ByN> = bench.impls.iter().map(|_| ByN::default()).collect();
    let mut done = Vec::new();
    for &n in &bench.settings.scale.ns {
        let t_n = Instant::now();
        let got = one_n(bench, n, planes, kubeconfigs)?;
        for (by_n, f) in figures.iter_mut().zip(got) {
            by_n.0.push((n, f));
        }
        log(&format!(
            "scale N={n}: done in {}",
            elapsed(t_n.elapsed().as_secs_f64())
        ));
        done.push(n);
        part.save(&figures, &done, done == bench.settings.scale.ns)?;
    }
    Ok((figures, done))
}

/// The N as a progress line lists them: `3, 10, 30`.
fn join(ns: &[usize]) -> String {
    ns.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
