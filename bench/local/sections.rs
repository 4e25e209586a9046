//! results.json's local sections from what the local part's steps measured: each
//! implementation's figures and timeline, the whole run's requests from the audit log, the
//! machine, the source and the watch.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::{Figures, Namespaces, REPLICAS, SHORT_TIMINGS, TIMINGS};
use crate::driver::{Bench, results_key};
use crate::progress::elapsed_s;
use crate::results::{
    CrashTrial, FirstRun, GracefulTrial, ImplFigures, ImplTimeline, LocalResults, MachineSection,
    Method, PerImpl, Raw, SourceSection, TrialSummaries, WatchSection,
};
use crate::support::audit::audit_totals;
use crate::support::lease_watch::epoch_now;
use crate::support::provenance::sha256_file;
use crate::support::replica::Implementation;
use crate::support::stats::{median, round};
use crate::timeline::timeline;

/// How many of the watch's last errors the results keep.
const WATCH_ERRORS_KEPT: usize = 10;

/// `{implementation's results key: {request: count}}` over the whole run.
type Totals = BTreeMap<String, BTreeMap<String, u64>>;

/// An RFC 3339 time to the second, as Python's `isoformat(timespec="seconds")` writes a UTC
/// time.
pub fn iso_seconds(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// results.json's local sections from what was measured.
pub(super) fn local_results(
    bench: &Bench,
    figures: Vec<Figures>,
    ns: &Namespaces,
    finished_at: Timestamp,
) -> LocalResults {
    let watcher = &bench.plane.watcher;
    let totals = whole_run_totals(bench, ns);
    let mut timelines = Vec::new();
    let mut impl_figures = Vec::new();
    for (j, f) in figures.into_iter().enumerate() {
        let imp = &bench.impls[j];
        timelines.push(impl_timeline(bench, imp, &f));
        impl_figures.push(impl_figures_of(imp, f, &totals));
    }
    let errors = watcher.errors();
    let source = source_section(bench);
    LocalResults {
        command: bench.settings.command.clone(),
        generated_at: iso_seconds(finished_at),
        started_at: iso_seconds(bench.started_at),
        duration_s: round(elapsed_s(), 1),
        seed: bench.settings.seed,
        machine: MachineSection::now(bench.load_at_start, &bench.sampler),
        source,
        timings: TIMINGS.into(),
        short_timings: SHORT_TIMINGS.into(),
        method: Method::new(bench.settings.lanes),
        timeline: per_impl(timelines),
        implementations: per_impl(impl_figures),
        watch: WatchSection {
            reconnects: watcher.reconnects(),
            relists: watcher.relists(),
            errors: errors[errors.len().saturating_sub(WATCH_ERRORS_KEPT)..].to_vec(),
        },
    }
}

/// Every request of each implementation's replicas over the whole run, from the audit log.
/// Waits a second first, for the last audit events to reach the file.
fn whole_run_totals(bench: &Bench, ns: &Namespaces) -> Totals {
    std::thread::sleep(Duration::from_secs(1));
    let by_ns: BTreeMap<String, String> = ns
        .iter()
        .map(|((j, _), n)| (n.clone(), results_key(&bench.impls[*j])))
        .collect();
    audit_totals(
        &bench.plane.audit_log,
        &by_ns,
        bench.started_epoch,
        epoch_now(),
    )
}

/// The timeline's trials on the first lane: its crash trials and the graceful trials, each
/// the sample of good ones the picture shows.
fn impl_timeline(bench: &Bench, imp: &Implementation, f: &Figures) -> ImplTimeline {
    let ids: Vec<String> = (0..REPLICAS).map(|i| format!("{}-{i}", imp.key)).collect();
    let events = bench.plane.watcher.all(&f.first_lane);
    let marks = bench.markers.of(&f.first_lane);
    let crash_good: Vec<_> = f
        .crash
        .iter()
        .filter(|t| t.ns() == f.first_lane)
        .filter_map(CrashTrial::ok)
        .collect();
    let graceful_good: Vec<_> = f.graceful.iter().filter_map(GracefulTrial::ok).collect();
    ImplTimeline {
        crash: timeline(&events, &marks, &crash_good, &ids),
        graceful: timeline(&events, &marks, &graceful_good, &ids),
    }
}

/// The source measured: the tree, the binaries' hashes, the versions.
fn source_section(bench: &Bench) -> SourceSection {
    SourceSection {
        snapshot: bench.source.clone(),
        k8sensus_binary_sha256: sha256_file(&bench.impls[0].bin),
        client_go_ref_binary_sha256: bench.impls.get(1).and_then(|i| sha256_file(&i.bin)),
        client_go_version: "v0.33.13".into(),
        kubernetes_version: bench.plane.cp.state_text("kubernetes_version"),
        etcd_version: "v3.5.21".into(),
    }
}

/// k8sensus's value, then the client-go reference's if there is one.
fn per_impl<T>(mut v: Vec<T>) -> PerImpl<T> {
    let client_go = (v.len() > 1).then(|| v.remove(1));
    PerImpl {
        k8sensus: v.remove(0),
        client_go,
    }
}

/// One implementation's figures.
fn impl_figures_of(
    imp: &Implementation,
    f: Figures,
    totals: &BTreeMap<String, BTreeMap<String, u64>>,
) -> ImplFigures {
    let load = f
        .load
        .expect("the steady-state window measured every implementation");
    let memory = f
        .memory
        .expect("the steady-state window measured every implementation");
    let bytes = std::fs::metadata(&imp.bin).map_or(0, |m| m.len());
    let runs: Vec<f64> = f.first.iter().filter_map(FirstRun::value).collect();
    ImplFigures {
        binary_path: imp.bin.display().to_string(),
        trials: TrialSummaries::of(&f.crash, &f.graceful),
        standby_requests_per_s: load.standby_requests_per_s,
        standby_requests_per_s_max: load.standby_requests_per_s_max,
        leader_requests_per_s: load.leader_requests_per_s,
        leader_reads_per_s: load.leader_reads_per_s,
        leader_writes_per_s: load.leader_writes_per_s,
        leader_writes_in_window: load.leader_writes_in_window,
        leader_writes_allowed: load.leader_writes_allowed,
        leader_write_interval_s: load.leader_write_interval_s.clone(),
        requests_by_verb_per_s: load.by_verb_per_s.clone(),
        rss_mib: memory.rss_mib,
        rss_per_replica: memory.per_replica,
        binary_mib: bytes as f64 / (1u64 << 20) as f64,
        binary_bytes: bytes,
        first_leadership_s: median(&runs),
        first_leadership_runs_s: runs,
        short: TrialSummaries::of(&f.short_crash, &f.short_graceful),
        raw: Raw {
            crash: f.crash,
            graceful: f.graceful,
            short_crash: f.short_crash,
            short_graceful: f.short_graceful,
            first_leadership: f.first,
            process_exits: f.exits,
        },
        argv: imp.argv("NAMESPACE", TIMINGS),
        api_requests_whole_run: totals.get(&results_key(imp)).cloned().unwrap_or_default(),
        api_load: load,
    }
}
