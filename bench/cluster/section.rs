//! The run's own keys of the "cluster" section, after the implementations' figures: what ran,
//! when, with which counts and timings, images, source, machine, the egress guard and the
//! driver's watches. The implementations' records and figures are `results.rs`.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::args::Settings;
use super::deployment::{
    Ctx, Deployment, LEASE_DURATION, RENEW_DEADLINE, REPLICAS, RETRY_PERIOD, SETTLE,
};
use super::pod_watch::PodWatch;
use super::results::{Figures, Method, method};
use super::run::Run;
use super::steps::{ORDER_CLIENT_GO, ORDER_K8SENSUS};
use super::trials::{Counts, Phase};
use super::{BenchError, Result};
use crate::local::iso_seconds;
use crate::progress::elapsed_s;
use crate::results::MachineSection;
use crate::support::lease_watch::{LeaseWatcher, epoch_now};
use crate::support::provenance::{SourceSnapshot, sha256_file};
use crate::support::stats::round;

/// How many of each watch's last errors the section keeps, and of the pod log tailer's.
const ERRORS_KEPT: usize = 10;

/// The "cluster" section: both implementations' figures, then the run's own keys.
#[derive(Serialize)]
pub struct Section {
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
    pub egress_guard: String,
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

impl Run {
    /// The section, once the trials are over: the egress guard read first, then the
    /// figures, then the facts of the run, the machine's last.
    pub fn section(
        &self,
        ctx: &Ctx<'_>,
        [k8sensus, client_go]: [&Deployment; 2],
        source: SourceSnapshot,
        trials_s: f64,
    ) -> Result<Section> {
        let s = &self.settings;
        let egress = ctx.cluster.command("egress");
        let finished = epoch_now();
        Ok(Section {
            k8sensus: figures(k8sensus)?,
            client_go: figures(client_go)?,
            command: s.command.clone(),
            seed: s.seed,
            started_at: iso_seconds(timestamp(s.since)),
            generated_at: iso_seconds(timestamp(finished)),
            duration_s: round(elapsed_s(), 1),
            trials_s: round(trials_s, 1),
            build_and_start_s: round(self.t_up - s.build_since, 1),
            orders: Orders {
                k8sensus: names(&ORDER_K8SENSUS),
                client_go: names(&ORDER_CLIENT_GO),
            },
            timings: TimingsSection {
                lease_duration_s: LEASE_DURATION.as_secs_f64(),
                renew_deadline_s: RENEW_DEADLINE.as_secs_f64(),
                retry_period_s: RETRY_PERIOD.as_secs_f64(),
            },
            replicas: REPLICAS,
            counts: CountsSection::of(s.counts),
            kubernetes_version: ctx.cluster.state()["kubernetes_version"]
                .as_str()
                .map(str::to_string),
            images: Images::of(s),
            source,
            machine: MachineSection::now(self.load_at_start, &self.sampler),
            egress_guard: egress,
            watch: Watches::of(ctx.leases, ctx.pod_watch),
            pod_log_errors: ctx.logs.errors(ERRORS_KEPT),
            method: method(SETTLE.as_secs_f64(), RETRY_PERIOD.as_secs_f64()),
        })
    }
}

/// One implementation's figures, from its trials' records (taken out of the deployment),
/// its apply and the terms of the whole run.
fn figures(dep: &Deployment) -> Result<Figures> {
    let apply = dep
        .apply
        .lock()
        .unwrap()
        .clone()
        .ok_or_else(|| BenchError::Failed(format!("{}: no apply recorded", dep.imp.key)))?;
    let raw = std::mem::take(&mut *dep.raw.lock().unwrap());
    Ok(Figures::of(
        dep.ns(),
        raw,
        apply,
        &dep.ctx.logs.terms(dep.ns()),
    ))
}

/// An order of phases by their names.
fn names(order: &[Phase]) -> Vec<&'static str> {
    order.iter().map(|p| p.name()).collect()
}

impl CountsSection {
    fn of(counts: Counts) -> Self {
        CountsSection {
            delete: counts.delete,
            crash: counts.crash,
            rollout: counts.rollout,
        }
    }
}

impl Images {
    /// The reference's image, its archive's name and its binary's hash; k8sensus's image.
    fn of(s: &Settings) -> Self {
        Images {
            client_go_ref: s.client_go_image.clone(),
            client_go_ref_archive: s
                .client_go_archive
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            client_go_ref_binary_sha256: sha256_file(&s.client_go_bin),
            client_go_ref_binary_cached: s.client_go_cached,
            k8sensus: "k8sensus:0.1.0 from the Dockerfile (hack/cluster/images.py build)",
        }
    }
}

impl Watches {
    /// Each watch's reconnects, relists and last errors.
    fn of(leases: &LeaseWatcher, pod_watch: &PodWatch) -> Self {
        Watches {
            lease_watch: WatchStats {
                reconnects: leases.reconnects(),
                relists: leases.relists(),
                errors: last(leases.errors(), ERRORS_KEPT),
            },
            pod_watch: WatchStats {
                reconnects: pod_watch.reconnects(),
                relists: pod_watch.relists(),
                errors: last(pod_watch.errors(), ERRORS_KEPT),
            },
        }
    }
}

/// The last `n` of a list of errors.
fn last(mut v: Vec<String>, n: usize) -> Vec<String> {
    v.drain(..v.len().saturating_sub(n));
    v
}

/// Seconds since the epoch as a time.
fn timestamp(epoch: f64) -> Timestamp {
    Timestamp::from_second(epoch as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}
