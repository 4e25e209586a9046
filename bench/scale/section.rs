//! The section so far, written into the results file after each N and at the end, every
//! other key of that file kept: the figures of the N done, how the part ran, the source and
//! machine measured.

use std::time::Instant;

use super::results::{ByN, Json, Method, ScaleMachine, ScaleSection, ScaleSource, write_section};
use super::{TIMINGS, join};
use crate::driver::{Bench, CLIENT_GO, K8SENSUS};
use crate::progress::log;
use crate::support::provenance::sha256_file;

/// What every write of the section needs besides the figures: the run, when the part began,
/// and the source measured.
pub struct Part<'a> {
    pub bench: &'a Bench,
    started: Instant,
    started_at: String,
    source: ScaleSource,
}

impl<'a> Part<'a> {
    /// The part beginning now, on `bench`.
    pub fn new(bench: &'a Bench) -> Self {
        Part {
            bench,
            started: Instant::now(),
            started_at: iso_now(),
            source: source(bench),
        }
    }

    /// The section so far (the figures of the N in `done`; `complete` once every N asked for
    /// is done) written into the results file, every other key kept.
    pub fn save(&self, figures: &[ByN], done: &[usize], complete: bool) -> Result<(), String> {
        let settings = &self.bench.settings;
        let section = ScaleSection {
            k8sensus: figures.first().cloned().unwrap_or_default(),
            client_go: figures.get(1).cloned().unwrap_or_default(),
            complete,
            started_at: self.started_at.clone(),
            generated_at: iso_now(),
            duration_s: (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            ns: done.to_vec(),
            timings: TIMINGS.into(),
            crash_trials: settings.scale.crash_trials,
            graceful_trials: settings.scale.graceful_trials,
            steady_seconds: settings.scale.steady_seconds,
            method: Method::new(),
            command: settings.command.clone(),
            seed: settings.seed,
            source: self.source.clone(),
            machine: ScaleMachine {
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                load_by_phase: self
                    .bench
                    .sampler
                    .summary()
                    .into_iter()
                    .filter(|p| p.phase.starts_with("scale"))
                    .collect(),
            },
        };
        write_section(&settings.out, "scale", &section)?;
        log(&format!(
            "wrote {} (scale: N = {}{})",
            settings.out.display(),
            join(done),
            if complete { "" } else { ", so far" }
        ));
        Ok(())
    }
}

/// The source measured: bench/run.py's snapshot of the source its build took (with the
/// build's own keys) if it gave one (`--source-json`), the tree as this run found it
/// otherwise; then the binaries' hashes and the control plane's version.
fn source(bench: &Bench) -> ScaleSource {
    let build = bench.settings.scale.source_json.clone().unwrap_or_else(|| {
        serde_json::to_string(&bench.source)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Json::Object(Vec::new()))
    });
    let bin = |key: &str| {
        bench
            .impls
            .iter()
            .find(|i| i.key == key)
            .and_then(|i| sha256_file(&i.bin))
    };
    ScaleSource {
        build,
        k8sensus_binary_sha256: bin(K8SENSUS),
        client_go_ref_binary_sha256: bin(CLIENT_GO),
        kubernetes_version: bench.plane.cp.state_text("kubernetes_version"),
    }
}

/// Now, as results.json writes times: `2026-11-30T15:13:40+00:00`.
fn iso_now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}
