//! The benchmark's local and scale parts: k8sensus side by side with the client-go
//! reference, as local processes on real kube-apiservers, measured from the outside — a
//! watch on the Leases and kube-apiserver's audit log — with wall-clock times compared with
//! the acquire and renew times the replicas wrote, on one host.
//!
//! bench/run.py (`make bench`) builds both electors, runs this program with their binaries
//! and its flags, then runs it again with `--scale-only` for the scale part (`scale/`),
//! then renders BENCHMARKS.md from results.json. This program writes results.json's local
//! sections (`--out`), and run.py merges in what it alone knows (the builds); with
//! `--scale-only` it writes the `scale` section into `--out` itself, every other key kept.
//! It is a test target without libtest's harness (`cargo test --test bench -- --help`);
//! with no flags it is a short smoke run of the local part, k8sensus alone, one trial of
//! each kind, its results in a scratch file under target/, which `cargo test`, and so `make
//! test`, runs.
//!
//! What it runs, in order (as bench/k8sbench/local.py did): per implementation a steady-state
//! set and `--lanes` lanes of 3 replicas each, each set in its own namespace with one
//! ServiceAccount per replica; crash trials (kill -9 of the leader) on every lane at once, one
//! thread per lane, with the steady-state window on its own thread beside them; graceful
//! trials (SIGTERM to the leader) on the first lanes, alternating; the rest of the window and
//! its figures (requests per role from the audit log, RSS); the short-timing trials if asked
//! for; first leadership on an empty namespace.
//!
//! Every replica runs under `setpriv --pdeathsig KILL`, spawned from one thread that lasts as
//! long as the program (`support::process::spawn_from_lasting_thread`), so it dies with the
//! program however it ends; the control plane's runner ends when its stdin closes.
//!
//! # Layout
//!
//! - `main.rs`: this map, and the run, from the flags to the exit status (`--cluster` runs
//!   the cluster part instead).
//! - `args.rs`: the flags, and the settings built from them.
//! - `cluster/`: the cluster part (`--cluster`, run by bench/cluster.py): both
//!   implementations as Deployments in the one-node cluster; `cluster/mod.rs` has its layout.
//! - `driver.rs`: the run's shared state (`Bench`), a control plane with its audit log, admin
//!   client and watch (`Plane`), starting and stopping.
//! - `replicas.rs`: a set of replicas on one Lease (`ReplicaSet`), the timeline's markers.
//! - `trials.rs`: crash and graceful trials, the lanes' split, the waits they share.
//! - `steady.rs`: the steady-state window, its requests per role, memory.
//! - `first.rs`: first leadership on an empty namespace.
//! - `timeline.rs`: the sample of trials the picture shows.
//! - `local/`: the local part's steps in their order (`local/mod.rs`, with its layout): the
//!   15s/10s/2s sets (`standard.rs`), the short timings (`short.rs`), and its results built
//!   from what they measured (`sections.rs`).
//! - `scale/`: the scale part (`--scale-only`): one Lease with N candidates for each N;
//!   `scale/mod.rs` has its layout: its flags, its steady control planes, its namespaces,
//!   one N with both steady-state windows beside the trials, the windows, the takeovers'
//!   requests, its figures, and results.json's `scale` section as types with the one way a
//!   section goes into the results file (every other key kept);
//!   tests/bench_parts/scale_part.rs tests its pure parts.
//! - `results.rs`: results.json's local sections as types, with exactly the keys
//!   bench/render.py reads.
//! - `machine_load.rs`: the share of CPUs busy per phase. `progress.rs`: the progress line.
//! - `../tests/support/`: the control plane, namespaces, replicas, the Lease watcher
//!   (`lease_watch`), the audit log (`audit`), percentiles (`stats`) and provenance, shared
//!   with the chaos suite and the other test binaries; their own tests are in
//!   tests/harness.rs.
//!
//! # API map (for the parts built on these pieces, such as the scale part)
//!
//! - A control plane with an audit log: `driver::Plane::start(rt, cp_bin, work, name,
//!   audit_name, log_file)` → `Plane { cp, audit_log, admin, watcher }`; several at once:
//!   `Plane::start_together(rt, cp_bin, work, &[(name, audit_name, log_file)])`;
//!   `Plane::stop`. kube-apiserver's CPU: `plane.cp.apiserver_cpu_seconds(&plane.admin)`
//!   (`Bench::apiserver_cpu_seconds` for the run's own). The binaries: `Bench::cp_bin`.
//! - Namespaces with one ServiceAccount and kubeconfig per replica:
//!   `support::namespace::setup_namespaces(&cp, &admin, dir, &[(ns, replicas)])` →
//!   `{(ns, slot): kubeconfig}`.
//! - Replica sets: `replicas::ReplicaSet::new(&implementation, ns, &kubeconfigs, timings, n,
//!   log_dir)`, `start_all`, `stop_all`, `steady`; `replicas::wait_leaders`.
//! - Trials: `trials::crash_trials(&mut rs, range, phase, &mut TrialContext)`,
//!   `trials::graceful_alternating(&mut [&mut rs], n, phase, &mut cx)`, `trials::lanes_of`.
//! - Steady state: `steady::steady_state(&[&rs], &watcher, audit_log, t0, t1)` →
//!   `[results::ApiLoad]`; `steady::memory(&rs, &watcher)`; `steady::holder_intervals`.
//! - The audit log: `support::audit::{audit_counts, audit_totals, request_key}`.
//! - Figures: `results::TrialSummaries::of(&crash, &graceful)`, `support::stats::{Summary,
//!   percentile, median, mean}`.
//! - Progress lines: `progress::{log, fs_log, elapsed}`; per-stream randomness:
//!   `driver::rng_for(seed, stream)`; load per phase: `machine_load::LoadSampler`.

#[path = "../tests/support/mod.rs"]
mod support;

mod args;
mod cluster;
mod driver;
mod first;
mod local;
mod machine_load;
mod progress;
mod replicas;
mod results;
mod scale;
mod steady;
mod timeline;
mod trials;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Args, Settings};
use crate::driver::Bench;
use crate::progress::log;

/// Exit status 0 when the run completed and its results are written, 1 when it failed, 2
/// for bad usage.
fn main() -> ExitCode {
    let args = Args::parse();
    if args.source_snapshot {
        return print_source_snapshot();
    }
    if args.cluster.cluster {
        return cluster::main_from(&args);
    }
    let settings = match Settings::try_from(args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if settings.nothing_to_run {
        eprintln!("[bench] the filter (or --ignored) selects nothing: nothing to run");
        return ExitCode::SUCCESS;
    }
    progress::set_since(settings.since);
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log(&format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// `--source-snapshot`: the tree as the results record it, one JSON object on stdout.
fn print_source_snapshot() -> ExitCode {
    let snapshot = support::provenance::SourceSnapshot::now();
    match serde_json::to_string(&snapshot) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot serialize the source snapshot: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The local part, its results written to `--out`; everything stopped on every path.
fn run(settings: Settings) -> Result<(), String> {
    let mut bench = Bench::start(settings)?;
    if bench.settings.scale.only {
        let outcome = scale::run(&bench);
        bench.stop_everything();
        return outcome;
    }
    let outcome = local::measure(&mut bench);
    bench.stop_everything();
    let results = outcome?;
    let out = &bench.settings.out;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&results)
        .map_err(|e| format!("cannot serialize the results: {e}"))?;
    std::fs::write(out, text + "\n").map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    log(&format!(
        "wrote the local part's results to {}{}",
        out.display(),
        if bench.settings.scratch {
            " (scratch: `make bench` writes bench/results.json)"
        } else {
            ""
        }
    ));
    Ok(())
}
