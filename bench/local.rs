//! The local part, 3 replicas per set: the steady state beside the crash trials, then the
//! graceful trials, then (if asked for) the short timings, then first leadership; and the
//! results from what they measured.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::driver::{Bench, results_key, rng_for};
use crate::first::{FirstTarget, first_leadership};
use crate::progress::{elapsed_s, log};
use crate::replicas::{REPLICAS, ReplicaSet, namespace_name, wait_leaders};
use crate::results::{
    CrashTrial, FirstRun, GracefulTrial, ImplFigures, ImplTimeline, LocalResults, MachineSection,
    Method, PerImpl, Raw, SourceSection, TrialSummaries, WatchSection,
};
use crate::steady::{Window, steady_state, steady_window};
use crate::support::Timings;
use crate::support::audit::audit_totals;
use crate::support::lease_watch::epoch_now;
use crate::support::namespace::setup_namespaces;
use crate::support::provenance::{Machine, load_average, sha256_file};
use crate::support::replica::{Implementation, ProcessExit};
use crate::support::stats::median;
use crate::timeline::timeline;
use crate::trials::{TrialContext, crash_trials, graceful_alternating, lanes_of, settle_time};

/// The timings of every figure but the short-timing ones: k8sensus's defaults, and
/// client-go's usual 15s/10s/2s.
pub const TIMINGS: Timings = Timings::REAL;
/// The short timings: 4s/3s/0.5s.
pub const SHORT_TIMINGS: Timings = Timings::SHORT;
/// From the steady sets' leaders to the opening of the steady-state window.
const STEADY_SETTLE_S: f64 = 15.0;
/// The time between two "still waiting" lines of a long wait.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long a set's replicas get to exit after SIGTERM before kill -9.
const STOP_GRACE: Duration = Duration::from_secs(10);

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

/// `{(implementation index, part): namespace}`.
fn namespaces(bench: &Bench, parts: &[String]) -> BTreeMap<(usize, String), String> {
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

/// Every step of the local part; the results without the sections bench/run.py adds.
pub fn measure(bench: &mut Bench) -> Result<LocalResults, String> {
    let s = &bench.settings;
    let lane_names: Vec<String> = (0..s.lanes)
        .map(|i| format!("lane{}", (b'a' + i as u8) as char))
        .collect();
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
    let mut figures: Vec<Figures> = bench.impls.iter().map(|_| Figures::default()).collect();
    // kube-apiserver's own CPU over the part, for the progress line at its end (the scale
    // part keeps this figure; here it only tells how busy the run kept the API server).
    let cpu_at_start = bench.apiserver_cpu_seconds();

    // -- 15s/10s/2s: steady state and memory beside crash, then graceful ----
    standard_trials(bench, &ns, &kubeconfigs, &lane_names, &mut figures)?;
    // -- 4s/3s/0.5s ---------------------------------------------------------
    short_trials(bench, &ns, &kubeconfigs, &mut figures)?;
    // -- first leadership ---------------------------------------------------
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
        &kubeconfigs,
        TIMINGS,
        bench.settings.first_runs,
    )?;
    for (f, runs) in figures.iter_mut().zip(first) {
        f.first = runs;
    }
    bench.sampler.phase("");
    if let (Ok(a), Ok(b)) = (cpu_at_start, bench.apiserver_cpu_seconds()) {
        log(&format!(
            "kube-apiserver: {:.1} CPU s over the local part",
            b - a
        ));
    }
    let finished_at = Timestamp::now();
    Ok(local_results(bench, figures, &ns, finished_at))
}

/// The steady-state set and the lanes of each implementation, started; the crash trials on
/// every lane at once with the steady-state window beside them; then the graceful trials on
/// the first lanes, alternating; then the rest of the window, and its figures.
fn standard_trials(
    bench: &mut Bench,
    ns: &BTreeMap<(usize, String), String>,
    kubeconfigs: &HashMap<(String, usize), PathBuf>,
    lane_names: &[String],
    figures: &mut [Figures],
) -> Result<(), String> {
    let b: &Bench = bench;
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
    {
        let mut all: Vec<&mut ReplicaSet> = steady_sets
            .iter_mut()
            .chain(lanes.iter_mut().flatten())
            .collect();
        wait_leaders(&mut all, &b.plane.watcher, 120.0, log_dir)?;
        for rs in all {
            let holder = b.plane.watcher.latest(&rs.ns).map(|e| e.holder);
            log(&format!("{}: leader {}", rs.ns, holder.unwrap_or_default()));
        }
    }
    for (f, lane) in figures.iter_mut().zip(&lanes) {
        f.first_lane = lane[0].ns.clone();
    }
    let (watcher, markers, sampler) = (&b.plane.watcher, &b.markers, &b.sampler);
    let settings = &b.settings;
    let window: Result<Window, String> = std::thread::scope(|scope| {
        let steady = scope.spawn(|| {
            let mut refs: Vec<&mut ReplicaSet> = steady_sets.iter_mut().collect();
            steady_window(
                &mut refs,
                watcher,
                settings.steady_seconds,
                STEADY_SETTLE_S,
                sampler,
                log_dir,
            )
        });
        // Crash trials: every lane of every implementation at once, each on its thread.
        sampler.phase("crash trials");
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
        for sets in lanes.iter_mut() {
            for rs in sets.iter_mut().skip(1) {
                rs.stop_all(STOP_GRACE);
            }
        }
        // Graceful trials: the first lanes, one trial at a time, alternating.
        sampler.phase("graceful trials");
        log(&format!(
            "graceful handoff (SIGTERM to the leader), {} trials each, alternating",
            settings.graceful_trials
        ));
        let mut firsts: Vec<&mut ReplicaSet> = lanes.iter_mut().map(|l| &mut l[0]).collect();
        let mut cx = TrialContext {
            watcher,
            markers,
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
        if !steady.is_finished() {
            sampler.phase("rest of the steady-state window");
            log("waiting for the steady-state window to close");
            let since = std::time::Instant::now();
            let mut next = HEARTBEAT;
            while !steady.is_finished() {
                std::thread::sleep(Duration::from_millis(200));
                if since.elapsed() >= next {
                    next += HEARTBEAT;
                    log(&format!(
                        "  ... still waiting for the steady-state window ({})",
                        crate::progress::elapsed(since.elapsed().as_secs_f64())
                    ));
                }
            }
        }
        steady
            .join()
            .unwrap_or_else(|_| Err("the steady-state window's thread panicked".into()))
    });
    sampler.phase("");
    for rs in &mut steady_sets {
        rs.stop_all(STOP_GRACE);
    }
    let window = window?;
    let refs: Vec<&ReplicaSet> = steady_sets.iter().collect();
    let loads = steady_state(&refs, watcher, &b.plane.audit_log, window.t0, window.t1);
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
    for (j, f) in figures.iter_mut().enumerate() {
        for rs in std::iter::once(&steady_sets[j]).chain(&lanes[j]) {
            record_exits(rs, &mut f.exits);
        }
    }
    Ok(())
}

/// Every replica's exits, under `namespace/identity`.
fn record_exits(rs: &ReplicaSet, exits: &mut BTreeMap<String, Vec<ProcessExit>>) {
    for r in &rs.replicas {
        exits.insert(format!("{}/{}", rs.ns, r.identity), r.exits.clone());
    }
}

/// With --short-crash-trials or --short-graceful-trials: 3 replicas of each with the short
/// timings, crash trials on both at once, then graceful trials alternating if the budget
/// allows.
fn short_trials(
    bench: &mut Bench,
    ns: &BTreeMap<(usize, String), String>,
    kubeconfigs: &HashMap<(String, usize), PathBuf>,
    figures: &mut [Figures],
) -> Result<(), String> {
    let b: &Bench = bench;
    let s = &b.settings;
    if s.short_crash_trials == 0 && s.short_graceful_trials == 0 {
        return Ok(());
    }
    let mut sets: Vec<ReplicaSet> = (0..b.impls.len())
        .map(|j| {
            ReplicaSet::new(
                &b.impls[j],
                &ns[&(j, "short".to_string())],
                kubeconfigs,
                SHORT_TIMINGS,
                REPLICAS,
                &s.log_dir,
            )
        })
        .collect();
    b.sampler.phase("");
    for rs in &mut sets {
        rs.start_all(&b.markers)?;
    }
    log("started 3 replicas of each with short timings (4s/3s/0.5s)");
    {
        let mut refs: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
        wait_leaders(&mut refs, &b.plane.watcher, 60.0, &s.log_dir)?;
    }
    let (watcher, markers) = (&b.plane.watcher, &b.markers);
    if s.short_crash_trials > 0 {
        b.sampler.phase("crash trials, short timings");
        log(&format!(
            "crash failover, short timings, {} trials each, both at once",
            s.short_crash_trials
        ));
        let crash: Vec<Vec<CrashTrial>> = std::thread::scope(|scope| {
            let handles: Vec<_> = sets
                .iter_mut()
                .enumerate()
                .map(|(j, rs)| {
                    let mut cx = TrialContext {
                        watcher,
                        markers,
                        rng: rng_for(s.seed, &format!("short crash {j}")),
                    };
                    let n = s.short_crash_trials;
                    scope.spawn(move || crash_trials(rs, 0..n, "crash 4s", &mut cx))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (f, c) in figures.iter_mut().zip(crash) {
            f.short_crash = c;
        }
    }
    if s.short_graceful_trials > 0 {
        let t = SHORT_TIMINGS;
        let per_trial = 2.0 * (settle_time(t) + t.retry_period.as_secs_f64() + 1.5);
        let projected = elapsed_s() + s.short_graceful_trials as f64 * per_trial + 60.0;
        if projected > s.budget_minutes * 60.0 {
            log(&format!(
                "skipping short-timing graceful trials: projected end {:.1} min > budget {:.0} min",
                projected / 60.0,
                s.budget_minutes
            ));
        } else {
            b.sampler.phase("graceful trials, short timings");
            log(&format!(
                "graceful handoff, short timings, {} trials each, alternating",
                s.short_graceful_trials
            ));
            let mut refs: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
            let mut cx = TrialContext {
                watcher,
                markers,
                rng: rng_for(s.seed, "short graceful"),
            };
            let graceful =
                graceful_alternating(&mut refs, s.short_graceful_trials, "graceful 4s", &mut cx);
            for (f, g) in figures.iter_mut().zip(graceful) {
                f.short_graceful = g;
            }
        }
    }
    b.sampler.phase("");
    for (f, rs) in figures.iter_mut().zip(&mut sets) {
        rs.stop_all(STOP_GRACE);
        record_exits(rs, &mut f.exits);
    }
    Ok(())
}

/// An RFC 3339 time to the second, as Python's `isoformat(timespec="seconds")` writes a UTC
/// time.
pub fn iso_seconds(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// results.json's local sections from what was measured.
fn local_results(
    bench: &Bench,
    figures: Vec<Figures>,
    ns: &BTreeMap<(usize, String), String>,
    finished_at: Timestamp,
) -> LocalResults {
    let watcher = &bench.plane.watcher;
    std::thread::sleep(Duration::from_secs(1));
    let by_ns: BTreeMap<String, String> = ns
        .iter()
        .map(|((j, _), n)| (n.clone(), results_key(&bench.impls[*j])))
        .collect();
    let totals = audit_totals(
        &bench.plane.audit_log,
        &by_ns,
        bench.started_epoch,
        epoch_now(),
    );
    let mut timelines = Vec::new();
    let mut impl_figures = Vec::new();
    for (j, f) in figures.into_iter().enumerate() {
        let imp = &bench.impls[j];
        let ids: Vec<String> = (0..REPLICAS).map(|i| format!("{}-{i}", imp.key)).collect();
        let events = watcher.all(&f.first_lane);
        let marks = bench.markers.of(&f.first_lane);
        let crash_good: Vec<_> = f
            .crash
            .iter()
            .filter(|t| t.ns() == f.first_lane)
            .filter_map(CrashTrial::ok)
            .collect();
        let graceful_good: Vec<_> = f.graceful.iter().filter_map(GracefulTrial::ok).collect();
        timelines.push(ImplTimeline {
            crash: timeline(&events, &marks, &crash_good, &ids),
            graceful: timeline(&events, &marks, &graceful_good, &ids),
        });
        impl_figures.push(impl_figures_of(imp, f, &totals));
    }
    let machine = Machine::now();
    let errors = watcher.errors();
    let source = SourceSection {
        snapshot: bench.source.clone(),
        k8sensus_binary_sha256: sha256_file(&bench.impls[0].bin),
        client_go_ref_binary_sha256: bench.impls.get(1).and_then(|i| sha256_file(&i.bin)),
        client_go_version: "v0.33.13".into(),
        kubernetes_version: bench.plane.cp.state_text("kubernetes_version"),
        etcd_version: "v3.5.21".into(),
    };
    LocalResults {
        command: bench.settings.command.clone(),
        generated_at: iso_seconds(finished_at),
        started_at: iso_seconds(bench.started_at),
        duration_s: round(elapsed_s(), 1),
        seed: bench.settings.seed,
        machine: MachineSection {
            hostname: machine.hostname,
            kernel: machine.kernel,
            cpu_model: machine.cpu_model,
            cpus: machine.cpus,
            memory_gib: machine.memory_gib.map(|m| round(m, 1)),
            go: machine.go,
            rustc: machine.rustc,
            loadavg_at_start: bench.load_at_start.map(|x| round(x, 2)),
            loadavg_at_end: load_average().map(|x| round(x, 2)),
            load_by_phase: bench.sampler.summary(),
        },
        source,
        timings: TIMINGS.into(),
        short_timings: SHORT_TIMINGS.into(),
        method: Method::new(bench.settings.lanes),
        timeline: per_impl(timelines),
        implementations: per_impl(impl_figures),
        watch: WatchSection {
            reconnects: watcher.reconnects(),
            relists: watcher.relists(),
            errors: errors[errors.len().saturating_sub(10)..].to_vec(),
        },
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
