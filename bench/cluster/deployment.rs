//! A Deployment under test (its pods, its Lease, its lines), the cluster-wide turn a trial
//! holds from its fault to the end of its churn, and the waits the trials share.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8sensus::telemetry::monotonic_ns;
use kube::api::{Api, ListParams};
use rand::Rng;
use rand::rngs::StdRng;

use super::results::{Apply, Raw};
use super::{BenchError, Result};
use crate::machine_load::LoadSampler;
use crate::progress::{elapsed, log};
use crate::support::cluster::{Cluster, PodLogs};
use crate::support::lease_watch::{LeaseEvent, LeaseWatcher, epoch_now};

use super::pod_watch::PodWatch;

/// The Deployments' selector, in both namespaces.
pub const SELECTOR: &str = "app.kubernetes.io/name=k8sensus";
/// The Deployment's name in deployment.yaml, in both namespaces.
pub const DEPLOYMENT: &str = "k8sensus";
/// The container's name in deployment.yaml.
pub const CONTAINER: &str = "k8sensus";
pub const REPLICAS: usize = 3;
/// The timings of both Deployments (deployment.yaml leaves k8sensus's defaults; the
/// reference is given client-go's usual ones, the same).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// How long a deployment must look steady before a fault.
pub const SETTLE: Duration = Duration::from_secs(3);
/// The least time between two reads of a deployment's pods through the API.
pub const API_POLL: Duration = Duration::from_millis(250);
/// The time between two looks at the pods' lines (the tailer reads them as often).
pub const LOG_POLL: Duration = Duration::from_millis(50);
/// The tick of a wait that asks something cheap (the Lease watch's events) as often as it
/// can.
const TICK: Duration = Duration::from_millis(5);
/// How long a read of the pods through the API may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// One implementation as deployed: its name in progress lines (and in the `beside` of the
/// other's records), and its namespace.
#[derive(Clone, Copy, Debug)]
pub struct Impl {
    pub key: &'static str,
    pub ns: &'static str,
}

/// k8sensus, then the client-go reference.
pub const IMPLS: [Impl; 2] = [
    Impl {
        key: "k8sensus",
        ns: "k8sensus",
    },
    Impl {
        key: "client-go",
        ns: "client-go",
    },
];

/// Who may inject a fault now: one trial at a time holds the turn from its fault to the end
/// of the churn it causes. A deployment that holds it may take it again.
#[derive(Default)]
pub struct Turn {
    owner: Mutex<Option<&'static str>>,
    changed: Condvar,
}

impl Turn {
    /// Waits until the turn is free (or already `key`'s), then holds it.
    pub fn take(&self, key: &'static str, stop: &AtomicBool) -> Result<()> {
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        while owner.is_some_and(|o| o != key) {
            if stop.load(Ordering::Relaxed) {
                return Err(BenchError::Interrupted);
            }
            owner = self
                .changed
                .wait_timeout(owner, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *owner = Some(key);
        Ok(())
    }

    /// Gives the turn back, if `key` holds it.
    pub fn give(&self, key: &'static str) {
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if *owner == Some(key) {
            *owner = None;
            self.changed.notify_all();
        }
    }
}

/// What both Deployments' trials share: the cluster and the driver's views of it.
pub struct Ctx<'a> {
    pub cluster: &'a Cluster,
    /// For the API reads the trials make (the watches run on runtimes of their own).
    pub runtime: &'a tokio::runtime::Runtime,
    pub client: kube::Client,
    pub leases: &'a LeaseWatcher,
    pub pod_watch: &'a PodWatch,
    pub logs: &'a PodLogs,
    pub sampler: &'a LoadSampler,
    pub turn: Turn,
    /// What each deployment is doing now (`beside` in every record), by key.
    pub activity: Mutex<BTreeMap<&'static str, String>>,
    /// The trials' random waits, from the run's seed.
    pub rng: Mutex<StdRng>,
    /// Set on SIGINT, SIGTERM or SIGHUP: every wait ends with [`BenchError::Interrupted`].
    pub stop: &'a AtomicBool,
}

impl Ctx<'_> {
    /// Sleeps `d`, or less if the run is interrupted.
    pub fn sleep(&self, d: Duration) -> Result<()> {
        let end = Instant::now() + d;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(BenchError::Interrupted);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            std::thread::sleep((end - now).min(Duration::from_millis(100)));
        }
    }

    /// Until `f` gives something (returned) or `timeout` passed (`None`); `f` is asked at most
    /// every `every` (for one that reads the API or the pods' lines), at least every few ms.
    pub fn wait<T>(
        &self,
        timeout: Duration,
        every: Duration,
        mut f: impl FnMut() -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = f()? {
                return Ok(Some(v));
            }
            if Instant::now() > end {
                return Ok(None);
            }
            self.sleep(every.max(TICK))?;
        }
    }

    /// A random wait from 0 to `max`.
    pub fn jitter(&self, max: Duration) -> Duration {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        max.mul_f64(rng.random::<f64>())
    }
}

/// Whether a pod is Ready and not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The status of the pod's k8sensus container.
pub fn container_status(pod: &Pod) -> Option<&ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == CONTAINER)
}

/// A deployment that looks steady: its holder and its pods.
pub struct Steady {
    pub holder: String,
    pub pods: BTreeMap<String, Pod>,
}

/// One implementation's Deployment: its pods (read through the API, at most every
/// [`API_POLL`]), its Lease (the driver's watch) and its lines, and what its trials recorded.
pub struct Deployment<'a> {
    pub imp: Impl,
    pub ctx: &'a Ctx<'a>,
    pods: Mutex<(BTreeMap<String, Pod>, Option<Instant>)>,
    pub raw: Mutex<Raw>,
    pub apply: Mutex<Option<Apply>>,
}

impl<'a> Deployment<'a> {
    pub fn new(imp: Impl, ctx: &'a Ctx<'a>) -> Self {
        ctx.activity
            .lock()
            .unwrap()
            .insert(imp.key, "idle".to_string());
        Deployment {
            imp,
            ctx,
            pods: Mutex::default(),
            raw: Mutex::default(),
            apply: Mutex::default(),
        }
    }

    pub fn ns(&self) -> &'static str {
        self.imp.ns
    }

    /// Says what this deployment is doing now (the other's trials record it).
    pub fn set_activity(&self, what: impl Into<String>) {
        self.ctx
            .activity
            .lock()
            .unwrap()
            .insert(self.imp.key, what.into());
    }

    /// What the other deployment is doing now: `client-go: delete trial 3`.
    pub fn beside(&self) -> String {
        self.ctx
            .activity
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| **k != self.imp.key)
            .map_or_else(|| "nothing".to_string(), |(k, v)| format!("{k}: {v}"))
    }

    /// Its pods by name: read through the API if the last read is older than [`API_POLL`]
    /// (the last good read if this one fails).
    pub fn pods(&self) -> BTreeMap<String, Pod> {
        let mut cached = self.pods.lock().unwrap();
        if cached.1.is_none_or(|t| t.elapsed() > API_POLL) {
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.ns());
            let params = ListParams::default().labels(SELECTOR);
            let read = self
                .ctx
                .runtime
                .block_on(async { tokio::time::timeout(API_TIMEOUT, api.list(&params)).await });
            if let Ok(Ok(list)) = read {
                cached.0 = list
                    .items
                    .into_iter()
                    .map(|p| (p.metadata.name.clone().unwrap_or_default(), p))
                    .collect();
                cached.1 = Some(Instant::now());
            }
        }
        cached.0.clone()
    }

    /// The holder the last Lease event named ("" if none).
    pub fn holder(&self) -> String {
        self.latest().map(|e| e.holder).unwrap_or_default()
    }

    pub fn latest(&self) -> Option<LeaseEvent> {
        self.ctx.leases.latest(self.ns())
    }

    /// Three Ready pods and no other; one of them holds the Lease, has renewed it, and is
    /// working; with `no_restarts`, the holder's container has never been restarted.
    pub fn steady(&self, no_restarts: bool) -> Option<Steady> {
        let pods = self.pods();
        if pods.len() != REPLICAS || !pods.values().all(is_ready) {
            return None;
        }
        let ev = self.latest()?;
        if !pods.contains_key(&ev.holder) || !ev.renewed() {
            return None;
        }
        let restarts = container_status(&pods[&ev.holder]).map_or(0, |c| c.restart_count);
        if no_restarts && restarts > 0 {
            return None;
        }
        if !self.ctx.logs.working(self.ns(), &ev.holder) {
            return None;
        }
        Some(Steady {
            holder: ev.holder,
            pods,
        })
    }

    /// Waits until the deployment has looked steady for [`SETTLE`], then a random part of a
    /// retry period more (so that the fault lands anywhere in the renewal cycle). The steady
    /// state, or `None` after `timeout`; a line every 30 s while it waits.
    pub fn wait_steady(
        &self,
        what: &str,
        no_restarts: bool,
        timeout: Duration,
    ) -> Result<Option<Steady>> {
        let t0 = Instant::now();
        let mut since: Option<(Instant, String)> = None;
        let mut next_note = Duration::from_secs(30);
        while t0.elapsed() < timeout {
            self.ctx.sleep(LOG_POLL)?;
            let st = self.steady(no_restarts);
            let now = Instant::now();
            match (&st, &since) {
                (Some(s), Some((from, holder))) if s.holder == *holder => {
                    if now - *from >= SETTLE {
                        self.ctx.sleep(self.ctx.jitter(RETRY_PERIOD))?;
                        match self.steady(no_restarts) {
                            Some(again) if again.holder == *holder => return Ok(Some(again)),
                            _ => since = None,
                        }
                    }
                }
                _ => since = st.map(|s| (now, s.holder)),
            }
            if t0.elapsed() >= next_note {
                let pods: Vec<String> = self.pods().into_keys().collect();
                let holder = self.holder();
                log(&format!(
                    "{}: still waiting for a steady deployment before {what} ({}; pods {pods:?}, holder {})",
                    self.imp.key,
                    elapsed(t0.elapsed().as_secs_f64()),
                    if holder.is_empty() { "none" } else { &holder }
                ));
                next_note += Duration::from_secs(30);
            }
        }
        Ok(None)
    }

    /// Until the pods in `gone` have left the API and three Ready pods run (`false` after
    /// `timeout`).
    pub fn wait_replaced(&self, gone: &BTreeSet<String>, timeout: Duration) -> Result<bool> {
        let done = self.ctx.wait(timeout, API_POLL, || {
            let pods = self.pods();
            Ok((pods.len() == REPLICAS
                && !pods.keys().any(|p| gone.contains(p))
                && pods.values().all(is_ready))
            .then_some(()))
        })?;
        Ok(done.is_some())
    }

    /// Starts kubectl (not waiting for it); returns it with the wall and monotonic time it
    /// was started: the instant the fault begins.
    pub fn spawn_kubectl(&self, args: &[&str]) -> Result<(Child, f64, u64)> {
        let mut command = self.ctx.cluster.kubectl_command(args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let (t_wall, t_mono) = (epoch_now(), monotonic_ns());
        let child = command
            .spawn()
            .map_err(|e| BenchError::Failed(format!("cannot start kubectl {args:?}: {e}")))?;
        Ok((child, t_wall, t_mono))
    }

    /// Waits for a kubectl started by [`Self::spawn_kubectl`]; the wall time it was seen to
    /// have exited. An error if it fails or takes more than a minute.
    pub fn kubectl_done(&self, mut child: Child, what: &str) -> Result<f64> {
        let end = Instant::now() + Duration::from_secs(60);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() > end => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BenchError::Failed(format!(
                        "kubectl {what} did not return within 60 s"
                    )));
                }
                Ok(None) => self.ctx.sleep(TICK)?,
                Err(e) => return Err(BenchError::Failed(format!("kubectl {what}: {e}"))),
            }
        };
        let t = epoch_now();
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            let tail: String = {
                let chars: Vec<char> = err.chars().collect();
                chars[chars.len().saturating_sub(2000)..].iter().collect()
            };
            return Err(BenchError::Failed(format!(
                "kubectl {what} failed ({status}): {tail}"
            )));
        }
        Ok(t)
    }
}
