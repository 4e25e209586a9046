//! results.json's local sections as types: what this program writes, with exactly the keys
//! (in their order) and meanings that bench/render.py reads. bench/run.py adds what it alone
//! knows (the `build` section, the build's source snapshot, Python's version) and the scale
//! and cluster sections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::machine_load::{LoadSampler, PhaseLoad};
use crate::support::Timings;
use crate::support::provenance::{Machine, load_average};
use crate::support::replica::ProcessExit;
use crate::support::stats::{Summary, round};

/// The local part's results, the top level of results.json without `build`, `scale` and
/// `cluster`.
#[derive(Serialize)]
pub struct LocalResults {
    pub command: String,
    pub generated_at: String,
    pub started_at: String,
    pub duration_s: f64,
    pub seed: u64,
    pub machine: MachineSection,
    pub source: SourceSection,
    pub timings: TimingsSection,
    pub short_timings: TimingsSection,
    pub method: Method,
    pub timeline: PerImpl<ImplTimeline>,
    #[serde(flatten)]
    pub implementations: PerImpl<ImplFigures>,
    pub watch: WatchSection,
}

/// One value per implementation, under its results key; the client-go reference's is absent
/// when the run measured k8sensus alone (the smoke run).
#[derive(Serialize)]
pub struct PerImpl<T> {
    pub k8sensus: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_go: Option<T>,
}

/// The machine, as results.json records it. bench/run.py adds `platform` and `python`.
#[derive(Serialize)]
pub struct MachineSection {
    pub hostname: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_gib: Option<f64>,
    pub go: Option<String>,
    pub rustc: Option<String>,
    pub loadavg_at_start: [f64; 3],
    pub loadavg_at_end: [f64; 3],
    pub load_by_phase: Vec<PhaseLoad>,
}

impl MachineSection {
    /// The machine now, its load average at `load_at_start` (the run's start) and now, and
    /// the load of each phase `sampler` saw.
    pub fn now(load_at_start: [f64; 3], sampler: &LoadSampler) -> Self {
        let machine = Machine::now();
        MachineSection {
            hostname: machine.hostname,
            kernel: machine.kernel,
            cpu_model: machine.cpu_model,
            cpus: machine.cpus,
            memory_gib: machine.memory_gib.map(|m| round(m, 1)),
            go: machine.go,
            rustc: machine.rustc,
            loadavg_at_start: load_at_start.map(|x| round(x, 2)),
            loadavg_at_end: load_average().map(|x| round(x, 2)),
            load_by_phase: sampler.summary(),
        }
    }
}

/// The source as this program found it, and the binaries measured. bench/run.py replaces the
/// snapshot's keys with the one its build took, and adds the build's own.
#[derive(Serialize)]
pub struct SourceSection {
    #[serde(flatten)]
    pub snapshot: crate::support::provenance::SourceSnapshot,
    pub k8sensus_binary_sha256: Option<String>,
    pub client_go_ref_binary_sha256: Option<String>,
    pub client_go_version: String,
    pub kubernetes_version: Option<String>,
    pub etcd_version: String,
}

#[derive(Clone, Copy, Serialize)]
pub struct TimingsSection {
    pub lease_duration_s: f64,
    pub renew_deadline_s: f64,
    pub retry_period_s: f64,
}

impl From<Timings> for TimingsSection {
    fn from(t: Timings) -> Self {
        TimingsSection {
            lease_duration_s: t.lease_duration.as_secs_f64(),
            renew_deadline_s: t.renew_deadline.as_secs_f64(),
            retry_period_s: t.retry_period.as_secs_f64(),
        }
    }
}

/// How each figure was measured, as results.json says it.
#[derive(Serialize)]
pub struct Method {
    pub crash_failover_s: &'static str,
    pub crash_failover_seen_s: &'static str,
    pub graceful_handoff_s: &'static str,
    pub graceful_handoff_seen_s: &'static str,
    pub api_load: &'static str,
    pub rss_mib: &'static str,
    pub binary_mib: &'static str,
    pub first_leadership_s: &'static str,
    pub percentiles: &'static str,
    pub concurrency: String,
    pub lanes: usize,
    pub machine_load: &'static str,
}

impl Method {
    pub fn new(lanes: usize) -> Self {
        Method {
            crash_failover_s: "kill -9 of the leader; from the old holder's last renewTime seen by \
                the driver's watch to the new holder's acquireTime (both written by the replicas, \
                one host, one wall clock)",
            crash_failover_seen_s: "same start; end when the driver's watch received the new holder",
            graceful_handoff_s: "from the driver sending SIGTERM to the new holder's acquireTime",
            graceful_handoff_seen_s: "from SIGTERM to the driver's watch receiving the new holder",
            api_load: "kube-apiserver audit log (level Metadata, Lease requests by ServiceAccounts), \
                one ServiceAccount per replica; requests counted by auditID with \
                requestReceivedTimestamp in the window; a WATCH counts once, when opened; per-role \
                rates are requests made while in that role divided by the time spent in it \
                (standby: mean per standby)",
            rss_mib: "VmRSS from /proc/PID/status at the end of the steady-state window, mean over \
                the 3 replicas of the steady-state set (each up for minutes)",
            binary_mib: "file size of the stripped binary / 2^20",
            first_leadership_s: "from spawning one replica on a namespace without the Lease to its \
                acquireTime; median",
            percentiles: "linear interpolation between closest ranks",
            concurrency: format!(
                "every replica set has its own namespace and Lease. Steady state (API load, \
                 memory) is measured on one set per implementation that no trial touches, while \
                 the trials run on the others. Crash trials run on {lanes} lane(s) per \
                 implementation, all at the same time; graceful trials then run on the first \
                 lane, one trial at a time, alternating between the implementations"
            ),
            lanes,
            machine_load: "share of all CPUs busy (/proc/stat) and 1-min load average, sampled every \
                2 s by the driver; it includes the benchmark's own processes and anything else \
                running on the host",
        }
    }
}

/// The driver's watch over the whole run.
#[derive(Serialize)]
pub struct WatchSection {
    pub reconnects: u64,
    pub relists: u64,
    /// The last 10 errors.
    pub errors: Vec<String>,
}

/// A trial that measured nothing: why, and what is known.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailedTrial {
    pub trial: usize,
    pub ns: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// One crash trial (kill -9 of the leader), as results.json keeps it (and reads back, for
/// the tests that recompute the stored figures from the stored trials).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CrashTrial {
    Measured(CrashMeasured),
    Failed(FailedTrial),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CrashMeasured {
    pub trial: usize,
    pub ns: String,
    pub ok: bool,
    pub old: String,
    pub new: String,
    pub kill_t: f64,
    pub last_renew_t: Option<f64>,
    pub acquire_t: Option<f64>,
    pub seen_t: f64,
    pub failover_s: Option<f64>,
    pub failover_seen_s: Option<f64>,
    pub kill_after_renew_s: Option<f64>,
    pub transitions: Option<i32>,
}

/// One graceful trial (SIGTERM to the leader), as results.json keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GracefulTrial {
    Measured(GracefulMeasured),
    Failed(FailedTrial),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GracefulMeasured {
    pub trial: usize,
    pub ns: String,
    pub ok: bool,
    pub old: String,
    pub new: String,
    pub sigterm_t: f64,
    pub acquire_t: Option<f64>,
    pub seen_t: f64,
    pub handoff_s: Option<f64>,
    pub handoff_seen_s: f64,
    pub released: bool,
    pub release_seen_t: Option<f64>,
    pub release_renew_t: Option<f64>,
    pub release_after_sigterm_s: Option<f64>,
    pub exit_code: Option<i32>,
    pub exited_after_s: Option<f64>,
    pub transitions: Option<i32>,
}

impl CrashTrial {
    pub fn trial(&self) -> usize {
        match self {
            CrashTrial::Measured(m) => m.trial,
            CrashTrial::Failed(f) => f.trial,
        }
    }
    pub fn ns(&self) -> &str {
        match self {
            CrashTrial::Measured(m) => &m.ns,
            CrashTrial::Failed(f) => &f.ns,
        }
    }
    /// The trial's record if it succeeded.
    pub fn ok(&self) -> Option<&CrashMeasured> {
        match self {
            CrashTrial::Measured(m) if m.ok => Some(m),
            _ => None,
        }
    }
}

impl GracefulTrial {
    pub fn ok(&self) -> Option<&GracefulMeasured> {
        match self {
            GracefulTrial::Measured(m) if m.ok => Some(m),
            _ => None,
        }
    }
}

/// The four trial figures of one replica set, as results.json keeps them: each summed up
/// over the trials that succeeded and measured it; the figures seen by the watch leave the
/// failed count to their main figure.
#[derive(Clone, Debug, Serialize)]
pub struct TrialSummaries {
    pub crash_failover_s: Summary,
    pub crash_failover_seen_s: Summary,
    pub graceful_handoff_s: Summary,
    pub graceful_handoff_seen_s: Summary,
}

impl TrialSummaries {
    pub fn of(crash: &[CrashTrial], graceful: &[GracefulTrial]) -> Self {
        let crash_failed = crash.iter().filter(|t| t.ok().is_none()).count();
        let graceful_failed = graceful.iter().filter(|t| t.ok().is_none()).count();
        let c = |f: fn(&CrashMeasured) -> Option<f64>| -> Vec<f64> {
            crash.iter().filter_map(|t| t.ok().and_then(f)).collect()
        };
        let g = |f: fn(&GracefulMeasured) -> Option<f64>| -> Vec<f64> {
            graceful.iter().filter_map(|t| t.ok().and_then(f)).collect()
        };
        TrialSummaries {
            crash_failover_s: Summary::of(&c(|m| m.failover_s), crash_failed),
            crash_failover_seen_s: Summary::of(&c(|m| m.failover_seen_s), 0),
            graceful_handoff_s: Summary::of(&g(|m| m.handoff_s), graceful_failed),
            graceful_handoff_seen_s: Summary::of(&g(|m| Some(m.handoff_seen_s)), 0),
        }
    }
}

/// One run of first leadership.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum FirstRun {
    Measured {
        run: usize,
        ok: bool,
        start_t: f64,
        acquire_t: Option<f64>,
        first_leadership_s: Option<f64>,
        seen_s: f64,
    },
    Failed {
        run: usize,
        ok: bool,
    },
}

impl FirstRun {
    pub fn value(&self) -> Option<f64> {
        match self {
            FirstRun::Measured {
                ok: true,
                first_leadership_s,
                ..
            } => *first_leadership_s,
            _ => None,
        }
    }
}

/// A set's Lease requests over the steady-state window, as results.json keeps them.
#[derive(Clone, Debug, Serialize)]
pub struct ApiLoad {
    pub window_s: f64,
    pub transitions_in_window: usize,
    pub standby_requests_per_s: f64,
    pub standby_requests_per_s_max: Option<f64>,
    pub leader_requests_per_s: f64,
    pub leader_reads_per_s: f64,
    pub leader_writes_per_s: f64,
    pub leader_writes_in_window: usize,
    pub leader_writes_allowed: u64,
    pub leader_write_interval_s: Option<WriteIntervals>,
    pub by_verb_per_s: ByVerbPerS,
    pub role_seconds: RoleSeconds,
    pub per_replica: BTreeMap<String, ReplicaLoad>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WriteIntervals {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ByVerbPerS {
    pub leader: VerbRates,
    pub standby_mean: VerbRates,
}

/// Requests per second by verb, in the order of `steady::VERBS` (empty for a role no replica
/// had in the window).
#[derive(Clone, Debug, Default)]
pub struct VerbRates(pub Vec<(&'static str, f64)>);

impl VerbRates {
    /// The rate of `verb` (0 if absent).
    pub fn get(&self, verb: &str) -> f64 {
        self.0
            .iter()
            .find(|(v, _)| *v == verb)
            .map_or(0.0, |(_, r)| *r)
    }

    /// The sum over every verb.
    pub fn total(&self) -> f64 {
        self.0.iter().map(|(_, r)| r).sum()
    }
}

impl Serialize for VerbRates {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (verb, rate) in &self.0 {
            map.serialize_entry(verb, rate)?;
        }
        map.end()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RoleSeconds {
    pub leader: f64,
    pub standby: f64,
}

/// One replica's requests over the window.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaLoad {
    /// `{"resource verb": n}` of its requests that are not for Leases.
    pub other_requests: BTreeMap<String, u64>,
    pub service_account: String,
    pub led_s: f64,
    pub role: &'static str,
    pub requests: u64,
    pub requests_per_s: f64,
    pub by_verb: BTreeMap<String, u64>,
    pub by_code: BTreeMap<String, u64>,
}

/// A set's memory at the end of the window.
#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    pub rss_mib: Option<f64>,
    pub per_replica: BTreeMap<String, ReplicaMemory>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplicaMemory {
    pub rss_mib: Option<f64>,
    pub role: &'static str,
    pub uptime_s: f64,
}

/// One implementation's figures.
#[derive(Serialize)]
pub struct ImplFigures {
    pub binary_path: String,
    #[serde(flatten)]
    pub trials: TrialSummaries,
    pub standby_requests_per_s: f64,
    pub standby_requests_per_s_max: Option<f64>,
    pub leader_requests_per_s: f64,
    pub leader_reads_per_s: f64,
    pub leader_writes_per_s: f64,
    pub leader_writes_in_window: usize,
    pub leader_writes_allowed: u64,
    pub leader_write_interval_s: Option<WriteIntervals>,
    pub requests_by_verb_per_s: ByVerbPerS,
    pub api_load: ApiLoad,
    pub rss_mib: Option<f64>,
    pub rss_per_replica: BTreeMap<String, ReplicaMemory>,
    pub binary_mib: f64,
    pub binary_bytes: u64,
    pub first_leadership_s: Option<f64>,
    pub first_leadership_runs_s: Vec<f64>,
    pub short: TrialSummaries,
    pub raw: Raw,
    pub argv: Vec<String>,
    pub api_requests_whole_run: BTreeMap<String, u64>,
}

/// Every trial as measured.
#[derive(Serialize)]
pub struct Raw {
    pub crash: Vec<CrashTrial>,
    pub graceful: Vec<GracefulTrial>,
    pub short_crash: Vec<CrashTrial>,
    pub short_graceful: Vec<GracefulTrial>,
    pub first_leadership: Vec<FirstRun>,
    /// `{"namespace/identity": [exit, ...]}` of every replica of a set.
    pub process_exits: BTreeMap<String, Vec<ProcessExit>>,
}

/// The picture's sample of trials, per kind.
#[derive(Serialize)]
pub struct ImplTimeline {
    pub crash: Option<Timeline>,
    pub graceful: Option<Timeline>,
}

/// Who held the Lease around the consecutive trials closest to the median.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    pub t0_epoch: f64,
    pub length_s: f64,
    pub replicas: Vec<String>,
    pub held: BTreeMap<String, Vec<Held>>,
    pub markers: Vec<TimelineMarker>,
    pub gaps: Vec<Gap>,
    /// 1-based trial numbers.
    pub trials: Vec<usize>,
    pub chosen_as: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Held {
    pub from: f64,
    pub to: f64,
    pub end: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct TimelineMarker {
    pub t: f64,
    pub kind: &'static str,
    pub replica: String,
    pub trial: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    pub from: f64,
    pub to: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigterm: Option<f64>,
    pub length_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff_s: Option<f64>,
    pub old: String,
    pub new: String,
    pub trial: usize,
    pub label: &'static str,
}
