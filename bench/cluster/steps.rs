//! The run's steps in their order: the cluster started with the driver's watches, each
//! Deployment applied, the trials of both at once, the section written, the egress guard
//! read. The teardown that follows every exit path is [`Run::stop_everything`].

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::apply::apply_and_first_work;
use super::deploy::client_go_overlay;
use super::deployment::{Ctx, Deployment, IMPLS, Turn};
use super::pod_watch::PodWatch;
use super::run::Run;
use super::section::Section;
use super::trials::{self, Counts, Phase};
use super::{BenchError, Result};
use crate::progress::{elapsed, log};
use crate::support::REPO;
use crate::support::cluster::{Cluster, PodLogs};
use crate::support::control_plane::client_for;
use crate::support::lease_watch::{LeaseWatcher, epoch_now};
use crate::support::provenance::SourceSnapshot;

/// The orders of the phases. k8sensus's crash trials spend most of their time waiting for
/// the lease to expire; the reference's other trials use that time.
pub const ORDER_K8SENSUS: [Phase; 3] = [Phase::Crash, Phase::Delete, Phase::Rollout];
pub const ORDER_CLIENT_GO: [Phase; 3] = [Phase::Delete, Phase::Rollout, Phase::Crash];

/// How long each of the driver's watches may take to open its first watch request.
const WATCH_START_LIMIT: Duration = Duration::from_secs(30);

impl Run {
    /// Start, apply, trials, the section written; then the egress guard checked.
    pub fn measure(&mut self, stop: &AtomicBool) -> Result<()> {
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
        let section = self.apply_and_trials(stop, source)?;
        self.write(&section)?;
        egress_clean(&section.egress_guard)
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
        leases
            .wait_started("the driver's lease-watch", WATCH_START_LIMIT)
            .map_err(BenchError::Failed)?;
        self.leases = Some(leases);
        pod_watch
            .wait_started("the driver's pod-watch", WATCH_START_LIMIT)
            .map_err(BenchError::Failed)?;
        self.pod_watch = Some(pod_watch);
        Ok(())
    }

    /// Apply each Deployment on its empty namespace, k8sensus first; then each through its
    /// own sequence of trials, both at once, faults one at a time; then the section.
    fn apply_and_trials(&self, stop: &AtomicBool, source: SourceSnapshot) -> Result<Section> {
        let (Some(cluster), Some(logs), Some(leases), Some(pod_watch)) =
            (&self.cluster, &self.logs, &self.leases, &self.pod_watch)
        else {
            return Err(BenchError::Failed("the cluster is not running".into()));
        };
        let ctx = Ctx {
            cluster,
            runtime: &self.runtime,
            client: self.runtime.block_on(client_for(&cluster.kubeconfig)),
            leases,
            pod_watch,
            logs,
            sampler: &self.sampler,
            turn: Turn::default(),
            activity: Mutex::default(),
            rng: Mutex::new(StdRng::seed_from_u64(self.settings.seed)),
            stop,
        };
        let k8sensus = Deployment::new(IMPLS[0], &ctx);
        let client_go = Deployment::new(IMPLS[1], &ctx);
        self.apply(&k8sensus, &client_go)?;
        let trials_s = self.trials(&k8sensus, &client_go, stop)?;
        self.section(&ctx, [&k8sensus, &client_go], source, trials_s)
    }

    /// k8sensus exactly as the README deploys it, then the reference from its overlay.
    fn apply(&self, k8sensus: &Deployment, client_go: &Deployment) -> Result<()> {
        let s = &self.settings;
        self.sampler.phase("apply");
        apply_and_first_work(k8sensus, Path::new(REPO), &s.log_dir)?;
        let overlay = client_go_overlay(&self.work, &s.client_go_image)
            .map_err(|e| BenchError::Failed(format!("cannot write the client-go overlay: {e}")))?;
        apply_and_first_work(client_go, &overlay, &s.log_dir)
    }

    /// Both deployments' sequences of trials, at once; the seconds they took.
    fn trials(
        &self,
        k8sensus: &Deployment,
        client_go: &Deployment,
        stop: &AtomicBool,
    ) -> Result<f64> {
        self.sampler.phase("trials");
        let counts = self.settings.counts;
        log(&format!(
            "trials: {} delete, {} crash, {} rollouts per implementation, both deployments at once, faults one at a time",
            counts.delete, counts.crash, counts.rollout
        ));
        let t_trials = epoch_now();
        both_at_once(k8sensus, client_go, counts, stop)?;
        let trials_s = epoch_now() - t_trials;
        self.sampler.phase("");
        Ok(trials_s)
    }

    /// The section to `--out`, as JSON.
    fn write(&self, section: &Section) -> Result<()> {
        let out = &self.settings.out;
        let text = serde_json::to_string_pretty(section)
            .map_err(|e| BenchError::Failed(format!("cannot serialize the section: {e}")))?;
        std::fs::write(out, text + "\n")
            .map_err(|e| BenchError::Failed(format!("cannot write {}: {e}", out.display())))?;
        log(&format!(
            "wrote the \"cluster\" section to {}",
            out.display()
        ));
        Ok(())
    }
}

/// Each deployment through its sequence on a thread of its own. One sequence that fails
/// stops the other, as the run does; a failure (or a panic) wins over an interruption.
fn both_at_once(
    k8sensus: &Deployment,
    client_go: &Deployment,
    counts: Counts,
    stop: &AtomicBool,
) -> Result<()> {
    let sequence = |dep: &Deployment, order: &[Phase]| {
        let r = trials::sequence(dep, order, counts);
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        r
    };
    let outcomes = std::thread::scope(|scope| {
        let a = scope.spawn(|| sequence(k8sensus, &ORDER_K8SENSUS));
        let b = scope.spawn(|| sequence(client_go, &ORDER_CLIENT_GO));
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
    Ok(())
}

/// Nothing may leave the cluster's network namespace (hack/cluster/README.md): the guard's
/// counter must read `packets=0`.
fn egress_clean(guard: &str) -> Result<()> {
    if !guard.contains("packets=0 ") {
        return Err(BenchError::Failed(format!(
            "the egress guard counted packets leaving the cluster: {guard}"
        )));
    }
    Ok(())
}
