//! The cluster part's records and figures, as results.json's "cluster" section keeps them:
//! every trial as it was recorded (`raw`), each implementation's figures computed from those
//! records ([`Figures::of`]), and how each figure was measured ([`method`]).
//!
//! The keys and their order are those bench/render.py reads (bench/k8sbench/render/
//! cluster_md.py): a field that only some trials have is left out of a record that lacks
//! it, as an optional group (`#[serde(flatten)]` of an `Option`); a field every record
//! has but that was not measured is `null`. Only serde and the shared statistics: this file
//! is also compiled into tests/harness.rs, which reads the committed results back into it.

use serde::{Deserialize, Serialize, Serializer};

use crate::support::overlap::{Term, find_overlaps};
use crate::support::stats::{Summary, mean, median};

/// A trial that could not run (no steady deployment, no running task to kill).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failed {
    pub trial: usize,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    pub reason: String,
}

/// One trial's record: what it measured, or why it could not run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Trial<T> {
    Ran(T),
    Failed(Failed),
}

/// What every kind of trial record answers.
pub trait Record {
    fn ok(&self) -> bool;
}

impl<T: Record> Trial<T> {
    /// Whether the trial ran and measured what it is for.
    pub fn ok(&self) -> bool {
        match self {
            Trial::Ran(t) => t.ok(),
            Trial::Failed(_) => false,
        }
    }

    /// The record of a trial that ran and succeeded.
    pub fn succeeded(&self) -> Option<&T> {
        match self {
            Trial::Ran(t) if t.ok() => Some(t),
            _ => None,
        }
    }
}

/// `kubectl delete pod <holder>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteTrial {
    pub trial: usize,
    pub ok: bool,
    pub old: String,
    /// What the other deployment was doing at the fault.
    pub beside: String,
    /// When kubectl was started: wall clock, and CLOCK_MONOTONIC.
    pub delete_t: f64,
    pub delete_mono_ns: u64,
    pub kubectl_returned_s: f64,
    /// When the driver's pod watch first saw the pod marked for deletion, from `delete_t`.
    pub deletion_seen_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_seen_to_holder_s: Option<f64>,
    #[serde(flatten)]
    pub holder: Option<DeleteHolder>,
    #[serde(flatten)]
    pub work: Option<FirstWork>,
    #[serde(flatten)]
    pub leaderless: Option<Leaderless>,
}

/// The new holder, as the driver's Lease watch saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteHolder {
    pub new: String,
    pub acquire_t: Option<f64>,
    pub seen_t: f64,
    pub to_holder_s: Option<f64>,
    pub to_holder_seen_s: f64,
    /// Whether the watch saw the Lease released (no holder) before the new holder.
    pub released: bool,
    pub release_seen_s: Option<f64>,
    pub transitions: Option<i32>,
}

/// The new leader's first work line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FirstWork {
    pub work_mono_ns: u64,
    pub to_work_s: f64,
}

/// The old leader's stop line, and the gap to the new leader's first work.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Leaderless {
    pub old_stop_mono_ns: u64,
    pub leaderless_s: f64,
}

impl Record for DeleteTrial {
    fn ok(&self) -> bool {
        self.ok
    }
}

/// SIGKILL of the leader container's process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CrashTrial {
    pub trial: usize,
    pub ok: bool,
    pub old: String,
    pub beside: String,
    pub kill_t: f64,
    pub kill_mono_ns: u64,
    pub host_pid: u32,
    pub last_renew_t: Option<f64>,
    pub kill_after_renew_s: Option<f64>,
    /// From the kill to the restarted container's first line (its CRI time).
    pub restarted_s: Option<f64>,
    #[serde(flatten)]
    pub work: Option<CrashWork>,
    #[serde(flatten)]
    pub taken: Option<Taken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_renewal_by_old_holder_s: Option<f64>,
}

/// The first work after the kill, by any pod.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CrashWork {
    pub worker: String,
    pub same_pod: bool,
    pub work_mono_ns: u64,
    pub to_work_s: f64,
    pub worker_restarted_container: bool,
}

/// The Lease taken after the kill: by another pod, or acquired anew.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Taken {
    pub new_holder: String,
    pub acquire_t: Option<f64>,
    pub last_renew_to_acquire_s: Option<f64>,
}

impl Record for CrashTrial {
    fn ok(&self) -> bool {
        self.ok
    }
}

/// `kubectl rollout restart`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RolloutTrial {
    pub trial: usize,
    pub ok: bool,
    pub beside: String,
    pub restart_t: f64,
    pub restart_mono_ns: u64,
    pub end_mono_ns: u64,
    pub duration_s: f64,
    pub handovers: usize,
    /// From each term's end to the next one's start, seconds (negative: they overlapped).
    pub gaps_s: Vec<f64>,
    pub leaderless_total_s: f64,
    pub leaderless_max_s: f64,
    pub overlaps: usize,
    pub terms: Vec<TermRecord>,
    pub old_pods: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_detail: Option<Vec<String>>,
}

impl Record for RolloutTrial {
    fn ok(&self) -> bool {
        self.ok
    }
}

/// A term of work as a rollout's record keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TermRecord {
    pub pod: String,
    pub first_ns: u64,
    pub last_ns: u64,
    pub runs: usize,
    /// The fencing token its start line carried (the client-go reference logs none).
    pub token: Option<i64>,
}

impl TermRecord {
    pub fn of(t: &Term) -> Self {
        TermRecord {
            pod: t.replica.clone(),
            first_ns: t.first_ns,
            last_ns: t.last_ns,
            runs: t.runs,
            // overlap.rs keeps a missing token as -1.
            token: (t.fencing_token >= 0).then_some(t.fencing_token),
        }
    }
}

/// Every trial of one implementation, as recorded.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Raw {
    pub delete: Vec<Trial<DeleteTrial>>,
    pub crash: Vec<Trial<CrashTrial>>,
    pub rollout: Vec<Trial<RolloutTrial>>,
}

/// `kubectl apply` on an empty namespace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Apply {
    pub command: String,
    pub apply_t: f64,
    pub first_work_s: f64,
    pub first_worker: String,
    pub first_holder: Option<String>,
    pub first_acquire_s: Option<f64>,
    pub three_ready_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_to_work_s: Option<f64>,
}

/// Who worked first after a container crash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkedAgainBy {
    pub restarted_container: usize,
    pub another_pod: usize,
}

/// The rollouts' figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutFigures {
    pub trials: usize,
    pub failed_trials: usize,
    /// The median of the handovers per rollout.
    #[serde(serialize_with = "whole_as_integer")]
    pub handovers: Option<f64>,
    #[serde(serialize_with = "whole_as_integer")]
    pub handovers_mean: Option<f64>,
    pub handovers_max: Option<usize>,
    pub handovers_per_rollout: Vec<usize>,
    pub leaderless_total_s: Summary,
    pub leaderless_max_s: Summary,
    pub overlaps: usize,
    pub duration_s: Summary,
}

/// A count's median or mean: an integer when it is one (2, not 2.0), as the figures have
/// always been written.
fn whole_as_integer<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

/// One implementation's figures: the summaries, then the records they come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    pub namespace: String,
    pub delete_pod_to_holder_s: Summary,
    pub delete_pod_to_work_s: Summary,
    pub delete_pod_to_holder_seen_s: Summary,
    pub delete_pod_deletion_seen_s: Summary,
    pub delete_pod_deletion_seen_to_holder_s: Summary,
    pub delete_pod_leaderless_s: Summary,
    pub container_crash_to_work_s: Summary,
    pub container_crash_restart_s: Summary,
    pub container_crash_worked_again_by: WorkedAgainBy,
    pub apply_to_first_work_s: Option<f64>,
    pub apply_to_first_holder_s: Option<f64>,
    pub apply: Apply,
    pub rollout: RolloutFigures,
    pub overlaps_whole_run: usize,
    pub terms_whole_run: usize,
    pub raw: Raw,
}

/// The summary of one figure over the trials that succeeded and measured it; failed_trials
/// counts the trials that did not succeed.
pub fn field_summary<T: Record>(trials: &[Trial<T>], field: impl Fn(&T) -> Option<f64>) -> Summary {
    let values: Vec<f64> = trials
        .iter()
        .filter_map(|t| t.succeeded().and_then(&field))
        .collect();
    Summary::of(&values, trials.iter().filter(|t| !t.ok()).count())
}

impl Figures {
    /// The figures of one implementation from its records, its apply, and the terms of work
    /// in its namespace over the whole run.
    pub fn of(namespace: &str, raw: Raw, apply: Apply, whole_run: &[Term]) -> Self {
        let d = &raw.delete;
        let c = &raw.crash;
        let r = &raw.rollout;
        let crash_ok: Vec<&CrashTrial> = c.iter().filter_map(Trial::succeeded).collect();
        let same_pod = |t: &CrashTrial| t.work.as_ref().is_some_and(|w| w.same_pod);
        let rolls: Vec<&RolloutTrial> = r.iter().filter_map(Trial::succeeded).collect();
        let hand: Vec<usize> = rolls.iter().map(|t| t.handovers).collect();
        let hand_f: Vec<f64> = hand.iter().map(|&h| h as f64).collect();
        Figures {
            namespace: namespace.to_string(),
            delete_pod_to_holder_s: field_summary(d, |t| t.holder.as_ref()?.to_holder_s),
            delete_pod_to_work_s: field_summary(d, |t| Some(t.work.as_ref()?.to_work_s)),
            delete_pod_to_holder_seen_s: field_summary(d, |t| {
                Some(t.holder.as_ref()?.to_holder_seen_s)
            }),
            delete_pod_deletion_seen_s: field_summary(d, |t| t.deletion_seen_s),
            delete_pod_deletion_seen_to_holder_s: field_summary(d, |t| t.deletion_seen_to_holder_s),
            delete_pod_leaderless_s: field_summary(d, |t| {
                Some(t.leaderless.as_ref()?.leaderless_s)
            }),
            container_crash_to_work_s: field_summary(c, |t| Some(t.work.as_ref()?.to_work_s)),
            container_crash_restart_s: field_summary(c, |t| t.restarted_s),
            container_crash_worked_again_by: WorkedAgainBy {
                restarted_container: crash_ok.iter().filter(|t| same_pod(t)).count(),
                another_pod: crash_ok.iter().filter(|t| !same_pod(t)).count(),
            },
            apply_to_first_work_s: Some(apply.first_work_s),
            apply_to_first_holder_s: apply.first_acquire_s,
            rollout: RolloutFigures {
                trials: rolls.len(),
                failed_trials: r.len() - rolls.len(),
                handovers: median(&hand_f),
                handovers_mean: mean(&hand_f),
                handovers_max: hand.iter().copied().max(),
                handovers_per_rollout: hand,
                leaderless_total_s: field_summary(r, |t| Some(t.leaderless_total_s)),
                leaderless_max_s: field_summary(r, |t| Some(t.leaderless_max_s)),
                overlaps: rolls.iter().map(|t| t.overlaps).sum(),
                duration_s: field_summary(r, |t| Some(t.duration_s)),
            },
            overlaps_whole_run: find_overlaps(whole_run).len(),
            terms_whole_run: whole_run.len(),
            apply,
            raw,
        }
    }
}

/// How each figure was measured, as the section says it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub deploy: String,
    pub apply_to_first_work_s: String,
    pub delete_pod_to_holder_s: String,
    pub delete_pod_to_work_s: String,
    pub delete_pod_deletion_seen_s: String,
    pub container_crash_to_work_s: String,
    pub rollout: String,
    pub alongside: String,
    pub steady_before_each_fault: String,
    pub percentiles: String,
    pub logs: String,
}

/// The method, with the settle and the retry period the trials used.
pub fn method(settle_s: f64, retry_period_s: f64) -> Method {
    Method {
        deploy: "k8sensus: `kubectl apply -k .` as the README says (namespace k8sensus); client-go: \
                 an overlay of the same kustomization into namespace client-go that changes only the \
                 image (bench/client-go-ref, a static Go binary on the distroless stand-in) and the \
                 arguments (--lease-namespace=$(POD_NAMESPACE) --probe-addr=:8080, for the same probes); \
                 each has its own Lease, k8sensus-lease in its own namespace. deployment.yaml's \
                 strategy (maxSurge 1, maxUnavailable 0), probes, resources and securityContext, \
                 15s/10s/2s and a task every 10 s for both"
            .into(),
        apply_to_first_work_s: "from starting `kubectl apply -k` on an empty namespace to the first \
                                work line (the driver's CLOCK_MONOTONIC against the line's mono_ns); \
                                k8sensus first, then client-go, one at a time"
            .into(),
        delete_pod_to_holder_s: "from starting `kubectl delete pod <holder> --wait=false` to the new \
                                 holder's acquireTime (driver and replicas share one wall clock)"
            .into(),
        delete_pod_to_work_s: "from the same instant to the new holder's first work line (mono_ns)".into(),
        delete_pod_deletion_seen_s: "from the same instant to the driver's pod watch receiving the pod \
                                     marked for deletion: kubectl's own start-up and request, and the \
                                     watch's delivery; *_deletion_seen_to_holder_s is from there to the \
                                     new holder's acquireTime"
            .into(),
        container_crash_to_work_s: "SIGKILL (kill(2), from the driver) of the leader container's host \
                                    PID, found through containerd (`ctr -n k8s.io tasks list`), to the \
                                    first work line by any pod after it; the kubelet restarts the \
                                    container; the crashed pod is then deleted and replaced, so that no \
                                    trial meets the kubelet's restart back-off"
            .into(),
        rollout: "`kubectl rollout restart deployment/k8sensus`, until no old pod is left, three new \
                  pods are Ready and a new pod works; the terms of work from the pods' logs (start \
                  line to stop line, mono_ns) that cover that stretch, the one working at its start \
                  included: handovers = terms - 1; leaderless = the next term's start - the previous \
                  term's end, summed (total) and the largest (max); overlaps = pairs of terms \
                  working at once (tests/support/overlap.rs's rule)"
            .into(),
        alongside: "both deployments run the whole time, in one cluster, each through its own \
                    sequence of trials; a trial holds a cluster-wide turn from its fault to the end \
                    of the churn it causes (replacement pod Ready, rollout finished, crashed container \
                    running again, crashed pod replaced) and no other fault is injected meanwhile, so \
                    only quiet waits overlap (a crash trial's wait for the lease to expire, the settle \
                    between trials); every trial records what the other deployment was doing"
            .into(),
        steady_before_each_fault: format!(
            "three Ready pods, a holder that renewed and is working, for {settle_s} s, then a random \
             0 to {retry_period_s} s so that the fault lands anywhere in the renewal cycle"
        ),
        percentiles: "linear interpolation between closest ranks (tests/support/stats.rs, the \
                      benchmark's one definition)"
            .into(),
        logs: "the kubelet's container log files under the cluster's state dir, tailed every 50 ms"
            .into(),
    }
}
