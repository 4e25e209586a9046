//! At scale: one Lease with N candidates, for each N (`--scale-only`, what `make
//! bench-scale` and the scale part of `make bench` run).
//!
//! The trials run on the run's control plane (`Bench::plane`, with its audit log and watch);
//! beside it, one *steady* control plane per implementation starts once for the whole part
//! ([`crate::scale_planes`]), both at once, while the trial sets' namespaces are made. Each
//! is an etcd + kube-apiserver of its own with an audit log and the driver's watch, so that
//! its kube-apiserver's CPU and its audit log belong to one implementation. For each N, four
//! sets start together, each on its own Lease and namespace with one ServiceAccount per
//! replica: per implementation a *trial set* of N replicas on the trial control plane and a
//! *steady set* of N replicas on that implementation's steady control plane. On the trial
//! sets, crash trials on both at once, then graceful trials alternating; the requests each
//! takeover caused come from the trial control plane's audit log. Beside the trials, on a
//! thread of their own, both implementations' steady-state windows run over the same span
//! ([`window_span`]): requests per standby from each steady control plane's audit log, that
//! kube-apiserver's CPU seconds from its own /metrics, every replica's RSS at the end. The
//! trial sets stop when their trials end; the windows then close with only the steady sets
//! running, and those stop too. After each N the results file gets the section so far, so
//! that a run cut short keeps the N done.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::driver::{Bench, CLIENT_GO, K8SENSUS, rng_for};
use crate::progress::{elapsed, fs_log, log};
use crate::replicas::{ReplicaSet, wait_leaders};
use crate::results::{CrashTrial, GracefulTrial, Memory, TrialSummaries};
use crate::scale_planes::{SteadyPlane, start_steady_planes, stop_steady_planes};
use crate::scale_results::{
    ByN, Json, Method, ReplicaRequests, ScaleFigures, ScaleMachine, ScaleRaw, ScaleSection,
    ScaleSource, Takeover, WindowSpan, write_section,
};
use crate::steady::{memory, steady_state};
use crate::support::Timings;
use crate::support::audit::{audit_counts, request_key, service_account_user};
use crate::support::lease_watch::epoch_now;
use crate::support::namespace::{replica_service_account, setup_namespaces};
use crate::support::provenance::sha256_file;
use crate::support::replica::Implementation;
use crate::support::stats::{mean, median};
use crate::trials::{TrialContext, crash_trials, graceful_alternating};

/// The numbers of candidates measured by default.
pub const SCALE_NS: [usize; 4] = [3, 10, 30, 100];
/// The election timings of every set: k8sensus's defaults, client-go's usual.
pub const TIMINGS: Timings = Timings::REAL;
/// From the steady sets' leaders to the earliest opening of their windows, seconds.
pub const SETTLE_S: f64 = 15.0;
/// A k8sensus standby re-reads the Lease and re-opens its watch 120 to 180 s after it opened
/// the last one (src/elector/config.rs: `DEFAULT_RESYNC_PERIOD`, 150 s, ±20 % jitter).
pub const K8SENSUS_RESYNC_S: (f64, f64) = (120.0, 180.0);
/// How long after the latest possible first resync a window closes, at the earliest.
pub const RESYNC_MARGIN_S: f64 = 5.0;
/// How long the sets of one N may take to elect their leaders (100 replicas of each start at
/// once on a 2-core machine).
const LEADERS_TIMEOUT_S: f64 = 180.0;
/// How long a replica may take to exit after SIGTERM when a set stops.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Between two "still waiting" lines of a long wait.
const HEARTBEAT_S: f64 = 30.0;

/// The scale part's flags (flattened into the program's), as bench/run.py passes them.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "At scale (one Lease with N candidates, for each N)")]
pub struct ScaleArgs {
    /// Run only the scale part, and write its section into --out, every other key of that
    /// file kept (`make bench-scale`)
    #[arg(long)]
    pub scale_only: bool,
    /// The numbers of candidates, comma-separated
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_values_t = SCALE_NS)]
    pub scale: Vec<usize>,
    /// Crash trials per implementation and N
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub scale_crash_trials: usize,
    /// Graceful trials per implementation and N
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub scale_graceful_trials: usize,
    /// Each steady-state window at scale, seconds (one per implementation and N, both
    /// implementations' at once, beside the trials, each on a control plane of its own; it
    /// closes at least 185 s after the steady sets have leaders, so that it holds each
    /// k8sensus standby's first resync)
    #[arg(long, value_name = "S", default_value_t = 120.0)]
    pub scale_steady_seconds: f64,
    /// bench/run.py's snapshot of the source its build took, a JSON object, which the
    /// section's `source` records [default: the tree as this run finds it]
    #[arg(long, value_name = "PATH")]
    pub source_json: Option<PathBuf>,
}

/// What the scale part runs, checked.
#[derive(Debug)]
pub struct ScaleSettings {
    /// Whether the run is the scale part alone.
    pub only: bool,
    /// The N, in the order they run.
    pub ns: Vec<usize>,
    pub crash_trials: usize,
    pub graceful_trials: usize,
    pub steady_seconds: f64,
    pub source_json: Option<Json>,
}

impl TryFrom<ScaleArgs> for ScaleSettings {
    type Error = String;

    fn try_from(args: ScaleArgs) -> Result<Self, String> {
        if args.scale_only && args.scale.is_empty() {
            return Err("--scale-only with no N to run".into());
        }
        if args.scale.iter().any(|&n| n < 2) {
            return Err("--scale: every N must be at least 2 (a takeover needs a standby)".into());
        }
        if args.scale_steady_seconds <= 0.0 {
            return Err("--scale-steady-seconds must be positive".into());
        }
        let source_json = match &args.source_json {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                match serde_json::from_str::<Json>(&text) {
                    Ok(object @ Json::Object(_)) => Some(object),
                    _ => return Err(format!("{} is not a JSON object", path.display())),
                }
            }
        };
        Ok(ScaleSettings {
            only: args.scale_only,
            ns: args.scale,
            crash_trials: args.scale_crash_trials,
            graceful_trials: args.scale_graceful_trials,
            steady_seconds: args.scale_steady_seconds,
            source_json,
        })
    }
}

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

/// The namespaces of one implementation's sets at N = `n`: (trial set's, steady set's). The
/// seed is in every name, as in the local part's; the steady sets' names differ from the trial
/// sets' too, so that their replicas' log files (`<namespace>-<identity>.log`) do not mix.
pub fn scale_namespaces(seed: u64, key: &str, n: usize) -> (String, String) {
    let s = seed % 100_000;
    (
        format!("bench-{s}-n{n}-{key}"),
        format!("bench-{s}-n{n}-steady-{key}"),
    )
}

/// The scale part on the run's control plane (`bench.plane`, the trials') and the steady
/// control planes it starts: its section written into the results file (`--out`) after each
/// N and at the end, every other key of that file kept.
pub fn run(bench: &Bench) -> Result<(), String> {
    let settings = &bench.settings;
    let part = Part {
        bench,
        started: Instant::now(),
        started_at: iso_now(),
        source: source(bench),
    };
    let ns = &settings.scale.ns;
    let (mut planes, kubeconfigs) = start_steady_planes(
        &bench.rt,
        &bench.impls,
        &bench.cp_bin,
        &bench.work,
        &settings.log_dir,
        // The trial control plane's namespaces while the steady ones come up.
        || {
            let trial: Vec<(String, usize)> = bench
                .impls
                .iter()
                .flat_map(|i| {
                    ns.iter()
                        .map(|&n| (scale_namespaces(settings.seed, &i.key, n).0, n))
                })
                .collect();
            let plane = &bench.plane;
            bench.rt.block_on(setup_namespaces(
                &plane.cp,
                &plane.admin,
                &bench.work.join("kubeconfigs"),
                &trial,
            ))
        },
    )?;
    let result = steady_namespaces(bench, &planes).and_then(|steady| {
        let mut kubeconfigs = kubeconfigs;
        kubeconfigs.extend(steady);
        log(&format!(
            "scale: namespaces ready for N = {}, on the trial control plane and on each \
                 steady control plane",
            join(ns)
        ));
        part.measure(&planes, &kubeconfigs)
    });
    stop_steady_planes(&mut planes, &settings.log_dir);
    let (figures, done) = result?;
    part.save(&figures, &done, true)
}

/// Each implementation's steady sets' namespaces, on its steady control plane.
fn steady_namespaces(bench: &Bench, planes: &[SteadyPlane]) -> Result<Kubeconfigs, String> {
    let mut kubeconfigs = Kubeconfigs::new();
    for (implementation, p) in bench.impls.iter().zip(planes) {
        let mine: Vec<(String, usize)> = bench
            .settings
            .scale
            .ns
            .iter()
            .map(|&n| {
                (
                    scale_namespaces(bench.settings.seed, &implementation.key, n).1,
                    n,
                )
            })
            .collect();
        kubeconfigs.extend(bench.rt.block_on(setup_namespaces(
            &p.plane.cp,
            &p.plane.admin,
            &bench.work.join("kubeconfigs"),
            &mine,
        ))?);
    }
    Ok(kubeconfigs)
}

/// `{(namespace, slot): kubeconfig}` of every replica.
type Kubeconfigs = HashMap<(String, usize), PathBuf>;

/// What every write of the section needs besides the figures: the run, when the part began,
/// and the source measured.
struct Part<'a> {
    bench: &'a Bench,
    started: Instant,
    started_at: String,
    source: ScaleSource,
}

impl Part<'_> {
    /// For each N, the four sets measured ([`one_n`]) and the section written: each
    /// implementation's figures by N, and the N done.
    fn measure(
        &self,
        planes: &[SteadyPlane],
        kubeconfigs: &Kubeconfigs,
    ) -> Result<(Vec<ByN>, Vec<usize>), String> {
        let bench = self.bench;
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
            self.save(&figures, &done, done == bench.settings.scale.ns)?;
        }
        Ok((figures, done))
    }

    /// The section so far (the figures of the N in `done`; `complete` once every N asked for
    /// is done) written into the results file, every other key kept.
    fn save(&self, figures: &[ByN], done: &[usize], complete: bool) -> Result<(), String> {
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

/// One N: the four sets started together; crash trials on both trial sets at once, then
/// graceful trials alternating, with both steady-state windows beside them on a thread of
/// their own; the trial sets stopped when their trials end, the steady sets when the windows
/// close. Each implementation's figures, in the implementations' order.
fn one_n(
    bench: &Bench,
    n: usize,
    planes: &[SteadyPlane],
    kubeconfigs: &Kubeconfigs,
) -> Result<Vec<ScaleFigures>, String> {
    let (settings, sampler) = (&bench.settings, &bench.sampler);
    let log_dir = &settings.log_dir;
    sampler.phase(&format!("scale N={n}: start-up of the four sets"));
    let set =
        |i: &Implementation, ns: String| ReplicaSet::new(i, &ns, kubeconfigs, TIMINGS, n, log_dir);
    let mut steady: Vec<ReplicaSet> = bench
        .impls
        .iter()
        .map(|i| set(i, scale_namespaces(settings.seed, &i.key, n).1))
        .collect();
    let mut trial: Vec<ReplicaSet> = bench
        .impls
        .iter()
        .map(|i| set(i, scale_namespaces(settings.seed, &i.key, n).0))
        .collect();
    for rs in steady.iter_mut().chain(trial.iter_mut()) {
        rs.start_all(&bench.markers)?;
    }
    log(&format!(
        "scale N={n}: started {n} replicas of each implementation for the trials and {n} of each \
         for the steady state, on one Lease each; waiting for leaders"
    ));
    let cancel = AtomicBool::new(false);
    let (trials, windows) = std::thread::scope(|s| {
        let (steady_sets, cancel) = (&mut steady, &cancel);
        let windows = s.spawn(move || {
            let w = steady_windows(bench, steady_sets, planes, cancel);
            if let Err(e) = &w {
                log(&format!(
                    "scale N={n}: the steady-state windows failed: {e}"
                ));
            }
            w
        });
        let trials = trials(bench, n, &mut trial);
        for rs in &mut trial {
            rs.stop_all(STOP_GRACE);
        }
        if trials.is_err() {
            cancel.store(true, Ordering::Relaxed);
        } else if !windows.is_finished() {
            sampler.phase(&format!(
                "scale N={n}: steady sets alone, until their windows close"
            ));
            log(&format!(
                "scale N={n}: trials done; waiting for the steady windows to close"
            ));
            heartbeat_until(
                || windows.is_finished(),
                &format!("waiting for the steady windows of N={n} to close"),
            );
        }
        let windows = windows
            .join()
            .unwrap_or_else(|_| Err("the steady-state windows' thread panicked".into()));
        (trials, windows)
    });
    sampler.phase("");
    for rs in &mut steady {
        rs.stop_all(STOP_GRACE);
    }
    let (crash, graceful) = trials?;
    let windows = windows?;
    let trial_audit_log = &bench.plane.audit_log;
    Ok(windows
        .into_iter()
        .zip(crash.into_iter().zip(graceful))
        .enumerate()
        .map(|(j, (w, (c, g)))| {
            figures(
                &trial[j],
                &steady[j],
                &planes[j],
                trial_audit_log,
                c,
                g,
                w,
                n,
            )
        })
        .collect())
}

/// Waits until `done()`, a progress line saying `what` every [`HEARTBEAT_S`], so that a long
/// wait does not look hung.
fn heartbeat_until(done: impl Fn() -> bool, what: &str) {
    let start = Instant::now();
    let mut next = HEARTBEAT_S;
    while !done() {
        std::thread::sleep(Duration::from_millis(100));
        let so_far = start.elapsed().as_secs_f64();
        if so_far >= next {
            log(&format!("  ... still {what} ({})", elapsed(so_far)));
            next += HEARTBEAT_S;
        }
    }
}

/// Each trial set's crash and graceful trials, in the sets' order.
type TrialRecords = (Vec<Vec<CrashTrial>>, Vec<Vec<GracefulTrial>>);

/// The trial sets' trials: once every set has a leader, crash trials on all at once (a
/// thread each), then graceful trials alternating.
fn trials(bench: &Bench, n: usize, sets: &mut [ReplicaSet]) -> Result<TrialRecords, String> {
    let (settings, sampler) = (&bench.settings, &bench.sampler);
    let (watcher, markers) = (&bench.plane.watcher, &bench.markers);
    {
        let mut all: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
        wait_leaders(&mut all, watcher, LEADERS_TIMEOUT_S, &settings.log_dir)?;
    }
    sampler.phase(&format!("scale N={n}: crash trials, steady sets beside"));
    log(&format!(
        "scale N={n}: crash failover, {} trials each, both at once",
        settings.scale.crash_trials
    ));
    let phase = format!("N={n} crash");
    let crash: Vec<Vec<CrashTrial>> = std::thread::scope(|s| {
        let handles: Vec<_> = sets
            .iter_mut()
            .map(|rs| {
                let phase = &phase;
                s.spawn(move || {
                    let mut cx = TrialContext {
                        watcher,
                        markers,
                        rng: rng_for(settings.seed, &format!("scale {phase} {}", rs.ns)),
                    };
                    crash_trials(rs, 0..settings.scale.crash_trials, phase, &mut cx)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    sampler.phase(&format!("scale N={n}: graceful trials, steady sets beside"));
    log(&format!(
        "scale N={n}: graceful handoff, {} trials each, alternating",
        settings.scale.graceful_trials
    ));
    let phase = format!("N={n} graceful");
    let mut cx = TrialContext {
        watcher,
        markers,
        rng: rng_for(settings.seed, &format!("scale {phase}")),
    };
    let mut all: Vec<&mut ReplicaSet> = sets.iter_mut().collect();
    let graceful = graceful_alternating(&mut all, settings.scale.graceful_trials, &phase, &mut cx);
    Ok((crash, graceful))
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
fn steady_windows(
    bench: &Bench,
    sets: &mut [ReplicaSet],
    planes: &[SteadyPlane],
    cancel: &AtomicBool,
) -> Result<Vec<WindowFigures>, String> {
    let seconds = bench.settings.scale.steady_seconds;
    let log_dir = &bench.settings.log_dir;
    let end = Instant::now() + Duration::from_secs_f64(LEADERS_TIMEOUT_S);
    for (rs, p) in sets.iter_mut().zip(planes) {
        let left = end.saturating_duration_since(Instant::now()).as_secs_f64();
        wait_leaders(&mut [rs], &p.plane.watcher, left, log_dir)?;
    }
    let (t0, _) = window_span(epoch_now(), seconds, SETTLE_S);
    sleep_unless(cancel, t0 - epoch_now())?;
    // Both kube-apiservers' CPU seconds read at the same time, so that the two windows'
    // readings are as close as they can be.
    let cpu = || -> Result<Vec<f64>, String> {
        bench.rt.block_on(futures::future::try_join_all(
            planes
                .iter()
                .map(|p| p.plane.cp.apiserver_cpu_seconds(&p.plane.admin)),
        ))
    };
    let cpu0 = cpu()?;
    let t0 = epoch_now();
    let names: Vec<&str> = sets.iter().map(|rs| rs.ns.as_str()).collect();
    log(&format!(
        "scale: steady windows on {} ({} replicas each, each on its own control plane) for {seconds:.0} s",
        names.join(", "),
        sets.first().map_or(0, |rs| rs.replicas.len())
    ));
    sleep_unless(cancel, seconds)?;
    let cpu1 = cpu()?;
    let t1 = epoch_now();
    for rs in sets.iter_mut() {
        if !rs.replicas.iter_mut().all(|r| r.alive()) {
            return Err(format!(
                "a replica of {} exited during the steady-state window; see {}",
                rs.ns,
                log_dir.display()
            ));
        }
    }
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

/// Sleeps `seconds` (nothing if not positive), in short steps so that `cancel` ends it early
/// (an error then).
fn sleep_unless(cancel: &AtomicBool, seconds: f64) -> Result<(), String> {
    let start = Instant::now();
    let total = Duration::from_secs_f64(seconds.max(0.0));
    let step = Duration::from_millis(100);
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

/// For each good trial, every request (any resource) by the set's replicas but the old
/// leader's slot, received from the moment the takeover could begin (crash: the old holder's
/// last renewal + the lease duration; graceful: SIGTERM) to one retry period after the new
/// holder's acquireTime. The old leader's slot is left out: its process is dead or exiting,
/// and the restarted one's start-up requests are not the takeover's. The new holder's
/// requests count up to half a retry period after its acquireTime: the winning write and
/// what comes with it, not its first renewal.
pub fn takeover_requests(
    audit_log: &Path,
    rs: &ReplicaSet,
    takeovers: &[TakeoverSpan],
) -> Vec<Takeover> {
    if takeovers.is_empty() {
        return Vec::new();
    }
    let rp = rs.timings.retry_period.as_secs_f64();
    let from = takeovers
        .iter()
        .map(|x| x.from)
        .fold(f64::INFINITY, f64::min);
    let to = takeovers
        .iter()
        .map(|x| x.acquire + rp)
        .fold(f64::NEG_INFINITY, f64::max);
    let seen = audit_counts(audit_log, from, to, false);
    let prefix = format!("system:serviceaccount:{}:", rs.ns);
    let user_of = |identity: &str| {
        rs.index_of(identity)
            .map(|i| service_account_user(&rs.ns, &replica_service_account(rs.replicas[i].slot)))
    };
    takeovers
        .iter()
        .map(|x| {
            let (a, b) = (x.from, x.acquire + rp);
            let skip = user_of(&x.old);
            let winner = user_of(&x.new);
            let mut by: BTreeMap<String, u64> = BTreeMap::new();
            for (user, requests) in &seen {
                if !user.starts_with(&prefix) || Some(user) == skip.as_ref() {
                    continue;
                }
                // The new holder's renewals, one retry period on, are the leader's steady work.
                let end = if Some(user) == winner.as_ref() {
                    x.acquire + rp / 2.0
                } else {
                    b
                };
                for q in requests.values().filter(|q| a <= q.t && q.t <= end) {
                    *by.entry(request_key(q)).or_default() += 1;
                }
            }
            Takeover {
                trial: x.trial,
                from_t: a,
                to_t: b,
                requests: by.values().sum(),
                by_request: by,
            }
        })
        .collect()
}

/// One good trial's takeover, as [`takeover_requests`] reads it: from when it could begin to
/// the new holder's acquireTime.
pub struct TakeoverSpan {
    pub trial: usize,
    pub old: String,
    pub new: String,
    pub from: f64,
    pub acquire: f64,
}

impl TakeoverSpan {
    /// The good crash trials' spans: from the old holder's last renewal + the lease duration.
    pub fn crash(trials: &[CrashTrial], t: Timings) -> Vec<Self> {
        trials
            .iter()
            .filter_map(CrashTrial::ok)
            .filter_map(|m| {
                Some(TakeoverSpan {
                    trial: m.trial,
                    old: m.old.clone(),
                    new: m.new.clone(),
                    from: m.last_renew_t? + t.lease_duration.as_secs_f64(),
                    acquire: m.acquire_t?,
                })
            })
            .collect()
    }

    /// The good graceful trials' spans: from SIGTERM.
    pub fn graceful(trials: &[GracefulTrial]) -> Vec<Self> {
        trials
            .iter()
            .filter_map(GracefulTrial::ok)
            .filter_map(|m| {
                Some(TakeoverSpan {
                    trial: m.trial,
                    old: m.old.clone(),
                    new: m.new.clone(),
                    from: m.sigterm_t,
                    acquire: m.acquire_t?,
                })
            })
            .collect()
    }
}

/// One implementation's figures at N = `n`: the trials' from its trial set `rs` (the trial
/// control plane's audit log), the steady state's from its steady set and window `w` (the
/// audit log of its steady control plane `plane`).
#[allow(clippy::too_many_arguments)]
fn figures(
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
    let load = steady_state(
        &[steady],
        &plane.plane.watcher,
        &plane.plane.audit_log,
        w.t0,
        w.t1,
    )
    .pop()
    .expect("one set, one load");
    let window = w.t1 - w.t0;
    let standby_total = load.standby_requests_per_s * load.role_seconds.standby / window;
    let tk_crash = takeover_requests(
        trial_audit_log,
        rs,
        &TakeoverSpan::crash(&crash, rs.timings),
    );
    let tk_grace = takeover_requests(trial_audit_log, rs, &TakeoverSpan::graceful(&graceful));
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
            requests_by_replica: load
                .per_replica
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
                .collect(),
            rss_per_replica: w
                .memory
                .per_replica
                .iter()
                .map(|(r, p)| (r.clone(), p.rss_mib))
                .collect(),
        },
    };
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
    f
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

fn join(ns: &[usize]) -> String {
    ns.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
