//! The benchmark's cluster part (`--cluster`): k8sensus and the client-go reference as
//! Deployments in the one-node cluster (hack/cluster/cluster.py), measured from the outside.
//! bench/cluster.py (`make bench-cluster`) builds the reference's image, then runs this
//! program with it, then renders.
//!
//! What it does, unattended (about 15 minutes with the default counts):
//!
//! 1. starts the one-node cluster with the reference's image imported (the runner builds or
//!    finds k8sensus:0.1.0 from the Dockerfile);
//! 2. deploys k8sensus exactly as the README does (`kubectl apply -k .`, namespace
//!    `k8sensus`) and the reference from an overlay of the same kustomization (namespace
//!    `client-go`) that changes only the image and the arguments; each has its own Lease;
//! 3. measures, per implementation, both deployments at once (see "Alongside"): apply to
//!    the first work; delete the leader pod (20 trials); `kubectl rollout restart` (5);
//!    SIGKILL of the leader container's process (20), each crashed pod then replaced;
//! 4. writes its section, "cluster", as typed structs (`results.rs`) to `--out`, which
//!    bench/cluster.py merges into results.json, every other key kept (with the machine's
//!    `platform` and `python`, which it alone knows, as bench/run.py does for the local part).
//!
//! Work is read from the pods' own log lines, from the kubelet's files under the cluster's
//! state directory, tailed every 50 ms (`support::cluster::PodLogs`), so that a deleted pod's
//! last lines are kept: the start of a term's work, each run and its stop, each with
//! `mono_ns`, the host's CLOCK_MONOTONIC, which every container shares with this program.
//! Terms and overlaps follow `support::overlap`. The Leases are watched through the API
//! (`support::lease_watch`), the pods too, for the moment a deletion was accepted.
//!
//! Alongside: the two deployments run at the same time, each through its own sequence of
//! trials on a thread of its own, but the moments that matter are taken in turns: a trial
//! holds the cluster-wide turn from its fault to the end of the churn it causes, and no
//! other trial starts a fault meanwhile. Only the quiet waits overlap (a crash trial's wait
//! for the lease to expire, a settle between trials).
//!
//! The cluster tears itself down when its runner's stdin closes: on every exit path of this
//! program (an error, SIGINT, SIGTERM, SIGHUP), which then checks that nothing of it is left
//! on the host and that the egress guard counted nothing.
//!
//! # Layout
//!
//! - `mod.rs`: this map, the flags, and the run's steps in their order.
//! - `deployment.rs`: a Deployment under test, the turn, the waits trials share.
//! - `trials.rs`: delete, crash and rollout trials, each deployment's sequence, the apply.
//! - `pod_watch.rs`: the driver's watch on the pods, for when a deletion was accepted.
//! - `deploy.rs`: the overlay that deploys the client-go reference.
//! - `results.rs`: the section's records and figures as types, and the method.
//! - `../../tests/support/cluster.rs`: the cluster's runner and client, the pod log tailer,
//!   the host snapshot and the leftovers check, shared with tests/cluster.rs.

mod deploy;
mod deployment;
mod pod_watch;
pub mod results;
mod trials;

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use self::deployment::{
    Ctx, Deployment, IMPLS, LEASE_DURATION, RENEW_DEADLINE, REPLICAS, RETRY_PERIOD, SETTLE, Turn,
};
use self::pod_watch::PodWatch;
use self::results::{Figures, Method, method};
use self::trials::{Counts, Phase};
use crate::local::iso_seconds;
use crate::machine_load::LoadSampler;
use crate::progress::{elapsed, elapsed_s, log};
use crate::results::MachineSection;
use crate::support::REPO;
use crate::support::cluster::{Cluster, HostSnapshot, PodLogs, cannot_run_reason};
use crate::support::control_plane::client_for;
use crate::support::lease_watch::{LeaseWatcher, epoch_now};
use crate::support::provenance::{Machine, SourceSnapshot, load_average, sha256_file};

/// Why a run ends early.
#[derive(Debug)]
pub enum BenchError {
    /// SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// A step failed; the message says which and why.
    Failed(String),
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// The cluster part's own flags, beside the benchmark's shared ones (`--crash-trials` counts
/// container crashes here, `--client-go-bin` is the reference's binary inside its image).
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Run the cluster part (as root): both implementations as Deployments in the one-node
    /// cluster; `--out` is then where the "cluster" section alone is written (bench/cluster.py
    /// merges it into results.json, every other key kept)
    #[arg(long)]
    pub cluster: bool,
    /// Cluster part: `kubectl delete pod <leader>` trials per implementation
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub delete_trials: usize,
    /// Cluster part: `kubectl rollout restart` trials per implementation
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub rollouts: usize,
    /// Cluster part: the client-go reference's image, NAME:TAG, as hack/cluster/images.py
    /// client-go-ref names it
    #[arg(long, value_name = "NAME:TAG")]
    pub client_go_image: Option<String>,
    /// Cluster part: the image's archive, imported into the cluster's containerd
    #[arg(long, value_name = "PATH")]
    pub client_go_archive: Option<PathBuf>,
    /// Cluster part: the reference's binary came from the cache (for the results)
    #[arg(long)]
    pub client_go_cached: bool,
    /// Cluster part: when the build of the image began, seconds since the epoch (for
    /// `build_and_start_s`) [default: this program's start]
    #[arg(long, value_name = "EPOCH")]
    pub build_since: Option<f64>,
}

/// What a cluster run does, checked.
pub struct Settings {
    pub counts: Counts,
    pub client_go_image: String,
    pub client_go_archive: PathBuf,
    pub client_go_bin: PathBuf,
    pub client_go_cached: bool,
    pub seed: u64,
    pub out: PathBuf,
    pub log_dir: PathBuf,
    pub command: String,
    pub since: f64,
    pub build_since: f64,
}

/// The flags the cluster part reads, from the benchmark's.
pub struct Flags<'a> {
    pub cluster: &'a ClusterArgs,
    pub crash_trials: usize,
    pub client_go_bin: Option<&'a Path>,
    pub seed: Option<u64>,
    pub out: Option<&'a Path>,
    pub log_dir: Option<&'a Path>,
    pub command: Option<&'a str>,
    pub since: Option<f64>,
}

impl TryFrom<Flags<'_>> for Settings {
    type Error = String;

    fn try_from(f: Flags<'_>) -> Result<Self, String> {
        let c = f.cluster;
        let need = |what: &str| format!("--cluster needs {what} (bench/cluster.py passes it)");
        let since = f.since.unwrap_or_else(epoch_now);
        Ok(Settings {
            counts: Counts {
                delete: c.delete_trials,
                crash: f.crash_trials,
                rollout: c.rollouts,
            },
            client_go_image: c
                .client_go_image
                .clone()
                .ok_or_else(|| need("--client-go-image"))?,
            client_go_archive: c
                .client_go_archive
                .clone()
                .ok_or_else(|| need("--client-go-archive"))?,
            client_go_bin: f
                .client_go_bin
                .map(Path::to_path_buf)
                .ok_or_else(|| need("--client-go-bin"))?,
            client_go_cached: c.client_go_cached,
            seed: f
                .seed
                .unwrap_or_else(|| u64::from(rand::random::<u32>() >> 2)),
            out: f
                .out
                .map(Path::to_path_buf)
                .ok_or_else(|| need("--out (the results file to merge into)"))?,
            log_dir: f
                .log_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| Path::new(REPO).join("bench/.logs/cluster")),
            command: f
                .command
                .map(str::to_string)
                .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
            since,
            build_since: c.build_since.unwrap_or_else(epoch_now),
        })
    }
}

/// The run's own keys of the "cluster" section, after the implementations'.
#[derive(Serialize)]
struct Section {
    k8sensus: Figures,
    client_go: Figures,
    command: String,
    seed: u64,
    started_at: String,
    generated_at: String,
    duration_s: f64,
    trials_s: f64,
    build_and_start_s: f64,
    orders: Orders,
    timings: TimingsSection,
    replicas: usize,
    counts: CountsSection,
    kubernetes_version: Option<String>,
    images: Images,
    source: SourceSnapshot,
    machine: MachineSection,
    egress_guard: String,
    watch: Watches,
    pod_log_errors: Vec<String>,
    method: Method,
}

#[derive(Serialize)]
struct Orders {
    k8sensus: Vec<&'static str>,
    client_go: Vec<&'static str>,
}

#[derive(Serialize)]
struct TimingsSection {
    lease_duration_s: f64,
    renew_deadline_s: f64,
    retry_period_s: f64,
}

#[derive(Serialize)]
struct CountsSection {
    delete: usize,
    crash: usize,
    rollout: usize,
}

#[derive(Serialize)]
struct Images {
    client_go_ref: String,
    client_go_ref_archive: String,
    client_go_ref_binary_sha256: Option<String>,
    client_go_ref_binary_cached: bool,
    k8sensus: &'static str,
}

#[derive(Serialize)]
struct WatchStats {
    reconnects: u64,
    relists: u64,
    errors: Vec<String>,
}

#[derive(Serialize)]
struct Watches {
    #[serde(rename = "lease-watch")]
    lease_watch: WatchStats,
    #[serde(rename = "pod-watch")]
    pod_watch: WatchStats,
}

/// The orders of the phases. k8sensus's crash trials spend most of their time waiting for
/// the lease to expire; the reference's other trials use that time.
const ORDER_K8SENSUS: [Phase; 3] = [Phase::Crash, Phase::Delete, Phase::Rollout];
const ORDER_CLIENT_GO: [Phase; 3] = [Phase::Delete, Phase::Rollout, Phase::Crash];

/// The last `n` of a list of errors.
fn last(mut v: Vec<String>, n: usize) -> Vec<String> {
    v.drain(..v.len().saturating_sub(n));
    v
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Seconds since the epoch as a time.
fn timestamp(epoch: f64) -> Timestamp {
    Timestamp::from_second(epoch as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `to` as a path relative to `from` (both absolute), as os.path.relpath gives it.
pub fn relative_path(to: &Path, from: &Path) -> String {
    let a: Vec<Component> = to.components().collect();
    let b: Vec<Component> = from.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(
        a[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A path as the results write it: relative to the repository.
pub fn relative_to_repo(p: &Path) -> String {
    relative_path(p, Path::new(REPO))
}

/// SIGINT, SIGTERM and SIGHUP set `stop`, so that every wait ends and every exit path goes
/// through the teardown (bench/cluster.py forwards its own Ctrl-C as SIGTERM).
fn stop_on_signals(stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the signal thread's runtime");
            runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
                stop.store(true, Ordering::Relaxed);
            });
        })
        .expect("spawn the signal thread");
}

/// The run: what it started, so that [`Run::stop_everything`] stops it on every exit path.
struct Run {
    settings: Settings,
    work: PathBuf,
    before: HostSnapshot,
    sampler: LoadSampler,
    load_at_start: [f64; 3],
    cluster: Option<Cluster>,
    logs: Option<PodLogs>,
    leases: Option<LeaseWatcher>,
    pod_watch: Option<PodWatch>,
    runtime: tokio::runtime::Runtime,
    t_up: f64,
}

/// The cluster part from the bench program's flags (`--cluster`): 2 for bad usage, else as
/// [`main`].
pub fn main_from(args: &crate::args::Args) -> ExitCode {
    let flags = Flags {
        cluster: &args.cluster,
        crash_trials: args.crash_trials,
        client_go_bin: args.client_go_bin.as_deref(),
        seed: args.seed,
        out: args.out.as_deref(),
        log_dir: args.log_dir.as_deref(),
        command: args.command.as_deref(),
        since: args.since,
    };
    match Settings::try_from(flags) {
        Ok(settings) => {
            crate::progress::set_since(settings.since);
            main(settings)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The cluster part, from its settings to its exit status: 0 when the section was written
/// and nothing was left, 130 when interrupted, 1 otherwise.
pub fn main(settings: Settings) -> ExitCode {
    if let Some(reason) = cannot_run_reason() {
        log(&format!(
            "error: the cluster cannot run here ({reason}); the cluster part needs root"
        ));
        return ExitCode::from(1);
    }
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let mut run = match Run::prepare(settings) {
        Ok(run) => run,
        Err(e) => {
            log(&format!("error: {e}"));
            return ExitCode::from(1);
        }
    };
    let outcome = run.measure(&stop);
    let code = match &outcome {
        Ok(()) => 0,
        Err(BenchError::Interrupted) => {
            log("interrupted; stopping everything");
            130
        }
        Err(BenchError::Failed(e)) => {
            log(&format!("error: {e}"));
            1
        }
    };
    let left = run.stop_everything();
    if code == 0 && !left.is_empty() {
        return ExitCode::from(1);
    }
    ExitCode::from(code)
}

impl Run {
    /// A fresh log folder, a private work folder, the host as it was, the sampler started.
    fn prepare(settings: Settings) -> Result<Self, String> {
        let _ = std::fs::remove_dir_all(&settings.log_dir);
        std::fs::create_dir_all(&settings.log_dir)
            .map_err(|e| format!("cannot create {}: {e}", settings.log_dir.display()))?;
        let work =
            std::env::temp_dir().join(format!("k8sensus-bench-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a runtime: {e}"))?;
        Ok(Run {
            load_at_start: load_average(),
            before: HostSnapshot::take(),
            sampler: LoadSampler::start(),
            settings,
            work,
            cluster: None,
            logs: None,
            leases: None,
            pod_watch: None,
            runtime,
            t_up: 0.0,
        })
    }

    /// Start, apply, trials, the section written.
    fn measure(&mut self, stop: &AtomicBool) -> Result<()> {
        let s = &self.settings;
        log(&format!(
            "work dir {}, pod logs to {}, seed {}",
            self.work.display(),
            s.log_dir.display(),
            s.seed
        ));
        let source = SourceSnapshot::now();
        self.sampler.phase("build and start");
        self.start()?;
        let section = self.trials(stop, source)?;
        let out = &self.settings.out;
        let text = serde_json::to_string_pretty(&section)
            .map_err(|e| BenchError::Failed(format!("cannot serialize the section: {e}")))?;
        std::fs::write(out, text + "\n")
            .map_err(|e| BenchError::Failed(format!("cannot write {}: {e}", out.display())))?;
        log(&format!(
            "wrote the \"cluster\" section to {}",
            out.display()
        ));
        // Nothing may leave the cluster's network namespace (hack/cluster/README.md).
        if !section.egress_guard.contains("packets=0 ") {
            return Err(BenchError::Failed(format!(
                "the egress guard counted packets leaving the cluster: {}",
                section.egress_guard
            )));
        }
        Ok(())
    }

    /// The cluster with the reference's image imported, the pod log tailer and the
    /// driver's two watches.
    fn start(&mut self) -> Result<()> {
        let dir = self.work.join("cluster");
        log(&format!(
            "starting the cluster in {} with {} imported (its progress follows, [cluster] and [images])",
            dir.display(),
            self.settings.client_go_archive.display()
        ));
        let cluster =
            Cluster::start_in(&dir, std::slice::from_ref(&self.settings.client_go_archive))
                .map_err(BenchError::Failed)?;
        self.t_up = epoch_now();
        log(&format!(
            "cluster ready ({} for the image and the cluster)",
            elapsed(self.t_up - self.settings.build_since)
        ));
        self.logs = Some(PodLogs::collect(&cluster));
        let leases = LeaseWatcher::start(&cluster.kubeconfig, None);
        let pod_watch = PodWatch::start(&cluster.kubeconfig);
        self.cluster = Some(cluster);
        let limit = Duration::from_secs(30);
        leases
            .wait_started("the driver's lease-watch", limit)
            .map_err(BenchError::Failed)?;
        self.leases = Some(leases);
        pod_watch
            .wait_started("the driver's pod-watch", limit)
            .map_err(BenchError::Failed)?;
        self.pod_watch = Some(pod_watch);
        Ok(())
    }

    /// Apply each Deployment on its empty namespace, k8sensus first; then each through its
    /// own sequence of trials, both at once, faults one at a time; then the section.
    fn trials(&mut self, stop: &AtomicBool, source: SourceSnapshot) -> Result<Section> {
        let (Some(cluster), Some(logs), Some(leases), Some(pod_watch)) =
            (&self.cluster, &self.logs, &self.leases, &self.pod_watch)
        else {
            return Err(BenchError::Failed("the cluster is not running".into()));
        };
        let s = &self.settings;
        let client = self.runtime.block_on(client_for(&cluster.kubeconfig));
        let ctx = Ctx {
            cluster,
            runtime: &self.runtime,
            client,
            leases,
            pod_watch,
            logs,
            sampler: &self.sampler,
            turn: Turn::default(),
            activity: Mutex::default(),
            rng: Mutex::new(StdRng::seed_from_u64(s.seed)),
            stop,
        };
        let k8sensus = Deployment::new(IMPLS[0], &ctx);
        let client_go = Deployment::new(IMPLS[1], &ctx);

        self.sampler.phase("apply");
        trials::apply_and_first_work(&k8sensus, Path::new(REPO), &s.log_dir)?;
        let overlay = deploy::client_go_overlay(&self.work, &s.client_go_image)
            .map_err(|e| BenchError::Failed(format!("cannot write the client-go overlay: {e}")))?;
        trials::apply_and_first_work(&client_go, &overlay, &s.log_dir)?;

        self.sampler.phase("trials");
        let counts = s.counts;
        log(&format!(
            "trials: {} delete, {} crash, {} rollouts per implementation, both deployments at once, faults one at a time",
            counts.delete, counts.crash, counts.rollout
        ));
        let t_trials = epoch_now();
        // One sequence that fails stops the other, as the run does.
        let sequence = |dep: &Deployment, order: &[Phase]| {
            let r = trials::sequence(dep, order, counts);
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            r
        };
        let outcomes = std::thread::scope(|scope| {
            let a = scope.spawn(|| sequence(&k8sensus, &ORDER_K8SENSUS));
            let b = scope.spawn(|| sequence(&client_go, &ORDER_CLIENT_GO));
            [a.join(), b.join()]
        });
        let mut interrupted = false;
        for outcome in outcomes {
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(BenchError::Interrupted)) => interrupted = true,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(BenchError::Failed("a trial sequence panicked".into())),
            }
        }
        if interrupted {
            return Err(BenchError::Interrupted);
        }
        let trials_s = epoch_now() - t_trials;
        self.sampler.phase("");

        let egress = cluster.command("egress");
        let figures = |dep: &Deployment| -> Result<Figures> {
            let apply =
                dep.apply.lock().unwrap().clone().ok_or_else(|| {
                    BenchError::Failed(format!("{}: no apply recorded", dep.imp.key))
                })?;
            let raw = std::mem::take(&mut *dep.raw.lock().unwrap());
            Ok(Figures::of(dep.ns(), raw, apply, &logs.terms(dep.ns())))
        };
        let order = |o: &[Phase]| o.iter().map(|p| p.name()).collect();
        let finished = epoch_now();
        Ok(Section {
            k8sensus: figures(&k8sensus)?,
            client_go: figures(&client_go)?,
            command: s.command.clone(),
            seed: s.seed,
            started_at: iso_seconds(timestamp(s.since)),
            generated_at: iso_seconds(timestamp(finished)),
            duration_s: round(elapsed_s(), 1),
            trials_s: round(trials_s, 1),
            build_and_start_s: round(self.t_up - s.build_since, 1),
            orders: Orders {
                k8sensus: order(&ORDER_K8SENSUS),
                client_go: order(&ORDER_CLIENT_GO),
            },
            timings: TimingsSection {
                lease_duration_s: LEASE_DURATION.as_secs_f64(),
                renew_deadline_s: RENEW_DEADLINE.as_secs_f64(),
                retry_period_s: RETRY_PERIOD.as_secs_f64(),
            },
            replicas: REPLICAS,
            counts: CountsSection {
                delete: counts.delete,
                crash: counts.crash,
                rollout: counts.rollout,
            },
            kubernetes_version: cluster.state()["kubernetes_version"]
                .as_str()
                .map(str::to_string),
            images: Images {
                client_go_ref: s.client_go_image.clone(),
                client_go_ref_archive: s
                    .client_go_archive
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                client_go_ref_binary_sha256: sha256_file(&s.client_go_bin),
                client_go_ref_binary_cached: s.client_go_cached,
                k8sensus: "k8sensus:0.1.0 from the Dockerfile (hack/cluster/images.py build)",
            },
            source,
            machine: {
                let machine = Machine::now();
                MachineSection {
                    hostname: machine.hostname,
                    kernel: machine.kernel,
                    cpu_model: machine.cpu_model,
                    cpus: machine.cpus,
                    memory_gib: machine.memory_gib.map(|m| round(m, 1)),
                    go: machine.go,
                    rustc: machine.rustc,
                    loadavg_at_start: self.load_at_start.map(|x| round(x, 2)),
                    loadavg_at_end: load_average().map(|x| round(x, 2)),
                    load_by_phase: self.sampler.summary(),
                }
            },
            egress_guard: egress,
            watch: Watches {
                lease_watch: WatchStats {
                    reconnects: leases.reconnects(),
                    relists: leases.relists(),
                    errors: last(leases.errors(), 10),
                },
                pod_watch: WatchStats {
                    reconnects: pod_watch.reconnects(),
                    relists: pod_watch.relists(),
                    errors: last(pod_watch.errors(), 10),
                },
            },
            pod_log_errors: logs.errors(10),
            method: method(SETTLE.as_secs_f64(), RETRY_PERIOD.as_secs_f64()),
        })
    }

    /// The watches stopped, the pods' lines saved, the cluster stopped and the host checked
    /// for what it left, the work folder removed; returns what was left.
    fn stop_everything(&mut self) -> Vec<String> {
        if let Some(mut w) = self.leases.take() {
            w.stop();
        }
        if let Some(mut w) = self.pod_watch.take() {
            w.stop();
        }
        if let Some(logs) = self.logs.take()
            && let Err(e) = logs.save(&self.settings.log_dir)
        {
            log(&format!("cannot save the pods' lines: {e}"));
        }
        let mut left = Vec::new();
        if let Some(cluster) = self.cluster.take() {
            match cluster.try_stop() {
                Ok(took) => log(&format!("cluster stopped in {:.1} s", took.as_secs_f64())),
                Err(e) => log(&format!("the cluster did not stop cleanly: {e}")),
            }
            left = cluster.leftovers(&self.before);
            if left.is_empty() {
                log("nothing of the cluster is left on the host");
            } else {
                log(&format!("LEFT ON THE HOST: {}", left.join("\n")));
            }
        }
        let _ = std::fs::remove_dir_all(&self.work);
        left
    }
}
