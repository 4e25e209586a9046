//! The local part, 3 replicas per set: the steady state beside the crash trials, then the
//! graceful trials, then (if asked for) the short timings, then first leadership; and the
//! results from what they measured.
//!
//! # Layout
//!
//! - `mod.rs`: this map, the part's steps in their order ([`measure`]), the namespaces, and
//!   what the steps measured (`Figures`).
//! - `standard.rs`: the 15s/10s/2s sets: the steady-state window beside the crash trials on
//!   every lane, then the graceful trials on the first lanes.
//! - `short.rs`: the 4s/3s/0.5s sets, if asked for.
//! - `sections.rs`: results.json's local sections from what the steps measured.

mod sections;
mod short;
mod standard;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::driver::Bench;
use crate::first::{FirstTarget, first_leadership};
use crate::progress::log;
use crate::replicas::{REPLICAS, ReplicaSet, namespace_name};
use crate::results::{CrashTrial, FirstRun, GracefulTrial, LocalResults};
use crate::support::Timings;
use crate::support::namespace::setup_namespaces;
use crate::support::replica::ProcessExit;

/// The cluster part writes its times the same way.
pub use sections::iso_seconds;

/// The timings of every figure but the short-timing ones: k8sensus's defaults, and
/// client-go's usual 15s/10s/2s.
pub const TIMINGS: Timings = Timings::REAL;
/// The short timings: 4s/3s/0.5s.
pub const SHORT_TIMINGS: Timings = Timings::SHORT;
/// How long a set's replicas get to exit after SIGTERM before kill -9.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// `{(implementation index, part): namespace}`.
type Namespaces = BTreeMap<(usize, String), String>;
/// `{(namespace, slot): kubeconfig}` of every replica.
type Kubeconfigs = HashMap<(String, usize), PathBuf>;

/// What the local part measured, per implementation (in `Bench::impls`' order).
#[derive(Default)]
struct Figures {
    crash: Vec<CrashTrial>,
    graceful: Vec<GracefulTrial>,
    short_crash: Vec<CrashTrial>,
    short_graceful: Vec<GracefulTrial>,
    first: Vec<FirstRun>,
    load: Option<crate::results::ApiLoad>,
    memory: Option<crate::results::Memory>,
    /// The first lane's namespace (the timeline follows it).
    first_lane: String,
    exits: BTreeMap<String, Vec<ProcessExit>>,
}

/// Every step of the local part; the results without the sections bench/run.py adds.
pub fn measure(bench: &mut Bench) -> Result<LocalResults, String> {
    let lane_names = lane_names(bench.settings.lanes);
    let (ns, kubeconfigs) = make_namespaces(bench, &lane_names)?;
    let mut figures: Vec<Figures> = bench.impls.iter().map(|_| Figures::default()).collect();
    // kube-apiserver's own CPU over the part, for the progress line at its end (the scale
    // part keeps this figure; here it only tells how busy the run kept the API server).
    let cpu_at_start = bench.apiserver_cpu_seconds();

    // -- 15s/10s/2s: steady state and memory beside crash, then graceful ----
    standard::trials(bench, &ns, &kubeconfigs, &lane_names, &mut figures)?;
    // -- 4s/3s/0.5s ---------------------------------------------------------
    short::trials(bench, &ns, &kubeconfigs, &mut figures)?;
    // -- first leadership ---------------------------------------------------
    first_leadership_runs(bench, &ns, &kubeconfigs, &mut figures)?;
    bench.sampler.phase("");
    if let (Ok(a), Ok(b)) = (cpu_at_start, bench.apiserver_cpu_seconds()) {
        log(&format!(
            "kube-apiserver: {:.1} CPU s over the local part",
            b - a
        ));
    }
    let finished_at = Timestamp::now();
    Ok(sections::local_results(bench, figures, &ns, finished_at))
}

/// The lanes' names: `lanea`, `laneb`, …
fn lane_names(lanes: usize) -> Vec<String> {
    (0..lanes)
        .map(|i| format!("lane{}", (b'a' + i as u8) as char))
        .collect()
}

/// `{(implementation index, part): namespace}`.
fn namespaces(bench: &Bench, parts: &[String]) -> Namespaces {
    let mut out = BTreeMap::new();
    for (j, imp) in bench.impls.iter().enumerate() {
        for p in parts {
            out.insert(
                (j, p.clone()),
                namespace_name(bench.settings.seed, p, &imp.key),
            );
        }
    }
    out
}

/// Every part's namespace for each implementation (the steady set's, the lanes', the short
/// timings', first leadership's), made with one ServiceAccount and kubeconfig per replica.
fn make_namespaces(
    bench: &Bench,
    lane_names: &[String],
) -> Result<(Namespaces, Kubeconfigs), String> {
    let mut parts = vec!["steady".to_string()];
    parts.extend(lane_names.iter().cloned());
    parts.extend(["short".to_string(), "first".to_string()]);
    let ns = namespaces(bench, &parts);
    let mut names: Vec<String> = ns.values().cloned().collect();
    names.sort();
    let wanted: Vec<(String, usize)> = names.iter().map(|n| (n.clone(), REPLICAS)).collect();
    let kubeconfigs = bench.rt.block_on(setup_namespaces(
        &bench.plane.cp,
        &bench.plane.admin,
        &bench.work.join("kubeconfigs"),
        &wanted,
    ))?;
    log(&format!("namespaces ready: {}", names.join(", ")));
    Ok((ns, kubeconfigs))
}

/// Time to first leadership on each implementation's empty namespace, `--first-runs` runs
/// each, alternating.
fn first_leadership_runs(
    bench: &Bench,
    ns: &Namespaces,
    kubeconfigs: &Kubeconfigs,
    figures: &mut [Figures],
) -> Result<(), String> {
    bench.sampler.phase("first leadership");
    log(&format!(
        "time to first leadership on an empty namespace, {} runs each",
        bench.settings.first_runs
    ));
    let targets: Vec<FirstTarget> = bench
        .impls
        .iter()
        .enumerate()
        .map(|(j, imp)| FirstTarget {
            implementation: imp,
            ns: &ns[&(j, "first".to_string())],
        })
        .collect();
    let first = first_leadership(
        bench,
        &targets,
        kubeconfigs,
        TIMINGS,
        bench.settings.first_runs,
    )?;
    for (f, runs) in figures.iter_mut().zip(first) {
        f.first = runs;
    }
    Ok(())
}

/// Every replica's exits, under `namespace/identity`.
fn record_exits(rs: &ReplicaSet, exits: &mut BTreeMap<String, Vec<ProcessExit>>) {
    for r in &rs.replicas {
        exits.insert(format!("{}/{}", rs.ns, r.identity), r.exits.clone());
    }
}
