//! The results file (chaos/results.json), as types: what `make chaos` writes, and what
//! chaos/render.rs reads back to write CHAOS.md. They are the file's schema, for both: a key
//! renamed here is renamed in the file and in CHAOS.md's renderer at once, and a file that
//! lacks a key fails to read, with the key's name.
//!
//! Every duration is in seconds (`_s`) unless its name says milliseconds (`_ms`); gaps and
//! durations are rounded to the millisecond.
//!
//! Only the types live here, with nothing but serde behind them, so that tests/harness.rs can
//! include them with the renderer; `summarize.rs` fills them from the trials' records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Serialize, Deserialize)]
pub struct Results {
    /// How the run was started (flags that change what runs, not where results go).
    pub command: String,
    /// The master seed every trial's seed derives from.
    pub seed: u64,
    /// The faults run, in the catalogue's order: the order CHAOS.md lists them in.
    pub fault_order: Vec<String>,
    pub trials_per_fault: usize,
    /// Trials run at once (the API server restarts always run alone).
    pub parallel: usize,
    pub timings: Timings,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub load_average: LoadAverage,
    pub produced_by: Provenance,
    pub faults: BTreeMap<String, FaultSummary>,
    pub frozen_leader: FrozenLeader,
    pub clock_skew: ClockSkew,
    /// Every trial that failed a check or found an overlap.
    pub problems: Vec<Problem>,
    /// Every trial, by fault (in catalogue order) and index.
    pub trials: Vec<TrialResult>,
}

/// The election timings and the task period every replica ran with.
#[derive(Serialize, Deserialize)]
pub struct Timings {
    pub lease_duration_s: f64,
    pub renew_deadline_s: f64,
    pub retry_period_s: f64,
    pub task_period_s: f64,
}

/// /proc/loadavg's three figures, at the start and at the end of the run.
#[derive(Serialize, Deserialize)]
pub struct LoadAverage {
    pub start: String,
    pub end: String,
}

/// What produced the results: the commit and binary under test, whether the source changed
/// while the trials ran (others may commit to this tree meanwhile), and the machine.
#[derive(Serialize, Deserialize)]
pub struct Provenance {
    /// The commit checked out when the trials began (the binary was built just before).
    pub commit: Option<String>,
    pub commit_subject: Option<String>,
    /// The files `git status` listed as changed then.
    pub working_tree_changes: Vec<String>,
    pub binary_sha256: Option<String>,
    /// Whether what the binary is built from changed during the run.
    pub source_changed_during_run: bool,
    pub commit_at_end: Option<String>,
    pub machine: Machine,
}

#[derive(Serialize, Deserialize)]
pub struct Machine {
    pub cpus: Option<usize>,
    pub cpu_model: Option<String>,
    pub memory_gib: Option<f64>,
    pub kernel: String,
    pub rustc: Option<String>,
    pub kubernetes: String,
}

/// One fault's trials, summed up.
#[derive(Serialize, Deserialize)]
pub struct FaultSummary {
    /// The sentence CHAOS.md gives the fault.
    pub what: String,
    pub trials: usize,
    /// Trials in which the checker found an overlap.
    pub overlaps: usize,
    /// Overlapping pairs of terms, over all trials.
    pub overlap_pairs: usize,
    /// Trials that failed another check.
    pub failures: usize,
    /// Trials in which a new term began after the fault (those with a gap).
    pub handovers: usize,
    pub max_gap_s: Option<f64>,
    pub p90_gap_s: Option<f64>,
    pub median_gap_s: Option<f64>,
    pub min_gap_s: Option<f64>,
    /// Every gap, sorted.
    pub gaps_s: Vec<f64>,
    /// The command that replays this fault's random choices.
    pub reproduce: String,
}

/// The SIGSTOP trials: did a resumed leader ever run its task after its deadline?
#[derive(Serialize, Deserialize)]
pub struct FrozenLeader {
    pub trials: usize,
    pub runs_after_sigstop: usize,
    pub trials_that_logged_term_over: usize,
    /// The first trial that passed, with what its resumed leader logged first.
    pub example: Option<FrozenExample>,
}

#[derive(Serialize, Deserialize)]
pub struct FrozenExample {
    pub trial: usize,
    pub stopped_s: Option<f64>,
    pub fencing_token: Option<i64>,
    pub after_resume: Vec<ResumedLine>,
}

/// One line a resumed leader logged, with when it arrived after SIGCONT.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResumedLine {
    pub message: String,
    /// When the test received the line.
    pub received_ms_after_sigcont: f64,
    /// The line's own `mono_ns`, for the lines that carry one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms_after_sigcont: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<i64>,
}

/// The clock-skew trials: did the skew take effect, and what did it change?
#[derive(Serialize, Deserialize)]
pub struct ClockSkew {
    pub factor: f64,
    pub how: String,
    pub library: Option<String>,
    pub measured_clock_rates: Vec<f64>,
    /// In how many trials the skewed standby was the one to take over.
    pub skewed_standby_took_over: usize,
    pub takeover_after_last_change_s: Vec<f64>,
    /// The same delay for the unskewed standbys of `partition_leader`, to compare.
    pub unskewed_takeover_after_last_change_s: Vec<f64>,
}

/// A trial that failed, with what went wrong.
#[derive(Serialize, Deserialize)]
pub struct Problem {
    pub fault: String,
    pub trial: usize,
    pub seed: u64,
    pub overlaps: Vec<String>,
    pub problems: Vec<String>,
    /// Every replica's output, written next to the results.
    pub log_file: Option<String>,
}

/// One trial.
#[derive(Serialize, Deserialize)]
pub struct TrialResult {
    pub fault: String,
    pub trial: usize,
    pub seed: u64,
    pub seconds: f64,
    pub gap_s: Option<f64>,
    pub overlaps: usize,
    pub ok: bool,
    pub notes: Notes,
}

/// What a trial noted on its way. Every field is optional and left out when unset: the
/// common ones are set by the trial itself, the others by the faults named on them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Notes {
    // Set by every trial that got that far.
    /// The leader the fault hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_at_fault: Option<String>,
    /// The leader the replicas converged on after the fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_after: Option<String>,
    /// How many replicas led at some point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaders: Option<usize>,
    /// Who began the term after the one the fault hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_term_by: Option<String>,
    /// The old leader kept its term: no term began after it (so no gap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_its_term: Option<bool>,
    /// Where the trial's logs were written (a failed trial, or `--keep-logs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,

    // The Lease as the test watched it: partition_leader, latency_leader, standby_clock_fast.
    /// From the old leader's last change of the Lease to the next holder's first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takeover_after_last_change_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_over: Option<String>,

    // How long a fault lasted.
    /// sigstop_leader, sigstop_takeover_delete_resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_s: Option<f64>,
    /// partition_leader, standby_clock_fast, partition_delete_fresh_replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitioned_s: Option<f64>,
    /// latency_leader: the delay each way, and how long it was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_s: Option<f64>,
    /// connection_reset_leader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_for_s: Option<f64>,
    /// apiserver_restart: how long it was kept down, and how long its restart took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_down_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_took_s: Option<f64>,
    /// partition_delete_fresh_replica: when the Lease was deleted, after the partition began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_after_s: Option<f64>,

    // sigstop_leader.
    /// Runs of the task stamped after SIGSTOP: any is a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_after_sigstop: Option<usize>,
    /// The resumed task's own deadline check stopped it (rather than the elector).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logged_term_over: Option<bool>,

    // sigstop_leader, kill9_restart_same_identity.
    /// The fencing token of the term the fault hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_fencing_token: Option<i64>,
    /// kill9_restart_same_identity: the next term's token, which must be higher.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_fencing_token: Option<i64>,
    /// kill9_restart_same_identity: whether the leader ran alone, and whether the restarted
    /// process led next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alone: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted_took_over: Option<bool>,

    // standby_clock_fast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skewed_standby_took_over: Option<bool>,
    /// The leader was killed so that the skewed standby would lead and be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_to_let_it_lead: Option<bool>,
    /// Its clock's rate against the host's, from the spacing of its task's runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_clock_rate: Option<f64>,

    /// sigstop_takeover_delete_resume: who took over from the frozen leader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_over_by: Option<String>,
    /// two_with_one_identity: the twin logged `duplicate_identity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twin_reported_duplicate: Option<bool>,
    /// mixed_fleet_client_go: `k8sensus` or `client-go`, and `KILL` or `TERM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// lease_duration_edited_to_*: a standby warned that it judges the claim with its cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_standby_warned_of_the_cap: Option<bool>,
}

impl Results {
    /// The file's text. It goes through `serde_json::Value`, whose maps keep their keys
    /// sorted, so the file keeps the layout it has always had and runs diff cleanly.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("the results are plain data");
        serde_json::to_string_pretty(&value).expect("a JSON value prints") + "\n"
    }

    /// A results file's text, read back into the types.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}
