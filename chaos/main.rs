//! The chaos suite: randomized faults against real `k8sensus` processes and a real
//! kube-apiserver, every trial checked for two leaders working at once.
//!
//! Every trial runs in a fresh namespace with its own replicas (3, or 10 for the start-together
//! case), each behind its own fault-injecting TCP proxy (`support::proxy`), with short
//! timings (4 s / 3 s / 0.5 s) and the sample task every 100 ms. A fault is injected at a random
//! moment within a retry period, with random durations; then the replicas must converge on one
//! leader again, every replica that was not ended on purpose must still run, no output may
//! show a panic, and the overlap checker (`support::overlap`) must find no two terms whose
//! work overlaps on the host's monotonic clock, to the nanosecond. The leaderless gap of each
//! trial is recorded.
//!
//! It is a program with flags (`cargo test --test chaos -- --help`), a test target without
//! libtest's harness. With no flags it is the smoke run that `cargo test`, and so `make test`,
//! runs: one trial of each fault, its results in a scratch file under target/. `make chaos`
//! runs `--trials 20 --out chaos/results.json`, then `--render-only chaos/results.json`,
//! which writes CHAOS.md from them.
//!
//! Trials of independent namespaces run concurrently. The kube-apiserver restarts disturb
//! every namespace of this program's control plane, so they run alone, after the others.
//!
//! # Layout
//!
//! - `main.rs`: this map, and the run, from the flags to the exit status.
//! - `args.rs`: the flags, and the settings built from them.
//! - `faults/`: the catalogue (`mod.rs`), and each fault's script in a file named after it.
//! - `trial.rs`: one trial: the script, then the checks every trial must pass, and its record.
//! - `fleet.rs`: a trial's replicas, each behind its proxy, in a fresh namespace.
//! - `pool.rs`: the schedule: a few trials at a time, the API server restarts alone.
//! - `results.rs`: the results file as types, its schema, which the renderer reads too.
//! - `summarize.rs`: the trials' records summed up into those types.
//! - `render.rs`: CHAOS.md from the results' types (`--render-only` reads them back from a
//!   results file); tests/harness.rs tests it.
//! - `../tests/support/`: the control plane, namespaces, replicas, the proxy, the overlap
//!   checker, the Lease watcher (`lease_watch`: the Lease's changes as a standby sees them),
//!   percentiles and rounding (`stats`), and the commit, binary and machine (`provenance`),
//!   shared with the benchmark and the other test binaries. Their own tests are in
//!   tests/harness.rs.

#[path = "../tests/support/mod.rs"]
mod support;

mod args;
mod faults;
mod fleet;
mod pool;
mod render;
mod results;
mod summarize;
mod trial;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::jiff::Timestamp;

use crate::args::{Args, Settings};
use crate::faults::Fault;
use crate::results::{LoadAverage, Machine, Provenance, Results};
use crate::summarize::Run;
use crate::support::provenance::{self, SourceSnapshot, sha256_file};
use crate::support::stats::round3;
use crate::support::{BIN, Timings, control_plane};
use crate::trial::TrialRecord;

/// The election timings of every replica: 4 s / 3 s / 0.5 s.
const T: Timings = Timings::SHORT;
/// The sample task's period in every replica.
const TASK_PERIOD: Duration = Duration::from_millis(100);
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Exit status 0 when every trial passed, 1 when one failed or the run could not start, 2 for
/// bad usage.
fn main() -> ExitCode {
    let settings = match Settings::try_from(Args::parse()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if settings.list {
        // Written, not printed: `--list | head` must not panic when head stops reading.
        let mut out = std::io::stdout().lock();
        for fault in Fault::ALL {
            if writeln!(out, "{:<32} {}", fault.name(), fault.what()).is_err() {
                break;
            }
        }
        return ExitCode::SUCCESS;
    }
    let outcome = if let Some(render) = &settings.render {
        render_only(&render.results, &render.to)
    } else if settings.faults.is_empty() {
        // As libtest runs no test when `cargo test NAME` names none of its tests.
        eprintln!("[chaos] no fault matches the filter (or --ignored): nothing to run");
        Ok(())
    } else {
        run(&settings)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// CHAOS.md from a results file, read back into the results' types.
fn render_only(from: &Path, to: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(from)
        .map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let results = Results::from_json(&text)
        .map_err(|e| format!("{} is not this suite's results: {e}", from.display()))?;
    std::fs::write(to, render::render(&results))
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    eprintln!("[chaos] wrote {} from {}", to.display(), from.display());
    Ok(())
}

/// Every trial the settings ask for; the results written; `Err` if any trial failed.
fn run(settings: &Settings) -> Result<(), String> {
    let log_dir = prepare(settings)?;
    let start = RunStart::now();
    let started = start.started;
    eprintln!(
        "[chaos] {} trial(s) of each of {:?}, seed {}, {} at a time; results to {}",
        settings.trials,
        settings.faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
        settings.seed,
        settings.parallel,
        settings.out.display()
    );
    control_plane();

    let records = pool::run_all(settings);

    let results = Results::new(settings, &records, start.finish());
    std::fs::write(&settings.out, results.to_json())
        .map_err(|e| format!("cannot write {}: {e}", settings.out.display()))?;
    print_table(settings, &results);
    eprintln!(
        "[chaos] {} trials in {:.0} s; results in {}{}",
        records.len(),
        started.elapsed().as_secs_f64(),
        settings.out.display(),
        if settings.scratch {
            " (scratch: `make chaos` writes chaos/results.json)"
        } else {
            ""
        }
    );
    failures(&records, &log_dir)
}

/// What must hold before anything starts: libfaketime when the clock-skew fault is to run
/// (the way out in the message), and the log directory. Returns that directory.
fn prepare(settings: &Settings) -> Result<PathBuf, String> {
    if settings.faults.contains(&Fault::ClockSkew) {
        faults::standby_clock_fast::libfaketime()?;
    }
    let log_dir = settings.log_dir();
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    Ok(log_dir)
}

/// What the results say about the run itself, as it stood when the trials began.
struct RunStart {
    source: SourceSnapshot,
    started_at: Timestamp,
    started: Instant,
    load: String,
}

impl RunStart {
    fn now() -> Self {
        RunStart {
            source: SourceSnapshot::now(),
            started_at: Timestamp::now(),
            started: Instant::now(),
            load: load_average(),
        }
    }

    /// The run's record, now that its trials are done.
    fn finish(self) -> Run {
        Run {
            started_at: self.started_at.to_string(),
            finished_at: Timestamp::now().to_string(),
            duration_s: round3(self.started.elapsed().as_secs_f64()),
            load_average: LoadAverage {
                start: self.load,
                end: load_average(),
            },
            produced_by: produced_by(self.source),
        }
    }
}

/// /proc/loadavg's three load averages, as the results write them.
fn load_average() -> String {
    provenance::load_average()
        .map(|x| format!("{x:.2}"))
        .join(" ")
}

/// The provenance of a run whose trials began with the source at `at_start`, as of now: the
/// binary's source changed during the run if its build inputs hash differently now (a commit
/// that only touched tests or documents does not count).
fn produced_by(at_start: SourceSnapshot) -> Provenance {
    let at_end = SourceSnapshot::now();
    let machine = provenance::Machine::now();
    let known = |s: String| (!s.is_empty()).then_some(s);
    Provenance {
        source_changed_during_run: at_start.build_inputs_sha256 != at_end.build_inputs_sha256,
        commit: known(at_start.commit),
        commit_subject: known(at_start.commit_subject),
        working_tree_changes: at_start.dirty_paths,
        binary_sha256: sha256_file(std::path::Path::new(BIN)),
        commit_at_end: known(at_end.commit),
        machine: Machine {
            cpus: Some(machine.cpus),
            cpu_model: known(machine.cpu_model),
            memory_gib: machine.memory_gib.map(round3),
            kernel: machine.kernel,
            rustc: machine.rustc,
            kubernetes: "v1.33.13 (kube-apiserver from hack/control-plane)".to_string(),
        },
    }
}

/// Each fault's trials, overlaps, failures and gaps, one line each, on stderr.
fn print_table(settings: &Settings, results: &Results) {
    eprintln!(
        "[chaos] {:<26} {:>6} {:>8} {:>8} {:>9} {:>9}",
        "fault", "trials", "overlaps", "failures", "max gap", "p90 gap"
    );
    let gap = |g: Option<f64>| g.map_or("-".to_string(), |g| format!("{g:.3} s"));
    for fault in &settings.faults {
        let f = &results.faults[fault.name()];
        eprintln!(
            "[chaos] {:<26} {:>6} {:>8} {:>8} {:>9} {:>9}",
            fault.name(),
            f.trials,
            f.overlaps,
            f.failures,
            gap(f.max_gap_s),
            gap(f.p90_gap_s)
        );
    }
}

/// `Err` naming every trial that found an overlap or a problem, and what it found.
fn failures(records: &[TrialRecord], log_dir: &Path) -> Result<(), String> {
    let bad: BTreeMap<String, Vec<String>> = records
        .iter()
        .filter(|r| !r.overlaps.is_empty() || !r.problems.is_empty())
        .map(|r| {
            (
                format!("{} #{} (seed {})", r.fault.name(), r.index, r.seed),
                r.overlaps.iter().chain(&r.problems).cloned().collect(),
            )
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut text = format!(
        "{} of {} trials failed (logs: {}):",
        bad.len(),
        records.len(),
        log_dir.display()
    );
    for (trial, what) in &bad {
        text.push_str(&format!("\n  {trial}:"));
        for line in what {
            text.push_str(&format!("\n    {line}"));
        }
    }
    Err(text)
}
