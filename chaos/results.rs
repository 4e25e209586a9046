//! The results file (chaos/results.json), as types: what `make chaos` writes and
//! chaos/render.py reads to write CHAOS.md. A key renamed here must be renamed there too.
//!
//! Every duration is in seconds (`_s`) unless its name says milliseconds (`_ms`); gaps and
//! durations are rounded to the millisecond.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::args::Settings;
use crate::faults::Fault;
use crate::faults::standby_clock_fast::{SKEW, libfaketime};
use crate::provenance::Provenance;
use crate::stats::{percentile, round3};
use crate::trial::TrialRecord;
use crate::{T, TASK_PERIOD};

/// The whole file.
#[derive(Serialize)]
pub struct Results {
    /// How the run was started (flags that change what runs, not where results go).
    pub command: String,
    /// The master seed every trial's seed derives from.
    pub seed: u64,
    /// The faults run, in the catalogue's order: the order CHAOS.md lists them in.
    pub fault_order: Vec<&'static str>,
    pub trials_per_fault: usize,
    /// Trials run at once (the API server restarts always run alone).
    pub parallel: usize,
    pub timings: Timings,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub load_average: LoadAverage,
    pub produced_by: Provenance,
    pub faults: BTreeMap<&'static str, FaultSummary>,
    pub frozen_leader: FrozenLeader,
    pub clock_skew: ClockSkew,
    /// Every trial that failed a check or found an overlap.
    pub problems: Vec<Problem>,
    /// Every trial, by fault (in catalogue order) and index.
    pub trials: Vec<TrialResult>,
}

/// The election timings and the task period every replica ran with.
#[derive(Serialize)]
pub struct Timings {
    pub lease_duration_s: f64,
    pub renew_deadline_s: f64,
    pub retry_period_s: f64,
    pub task_period_s: f64,
}

/// /proc/loadavg's three figures, at the start and at the end of the run.
#[derive(Serialize)]
pub struct LoadAverage {
    pub start: String,
    pub end: String,
}

/// One fault's trials, summed up.
#[derive(Serialize)]
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
#[derive(Serialize)]
pub struct FrozenLeader {
    pub trials: usize,
    pub runs_after_sigstop: usize,
    pub trials_that_logged_term_over: usize,
    /// The first trial that passed, with what its resumed leader logged first.
    pub example: Option<FrozenExample>,
}

#[derive(Serialize)]
pub struct FrozenExample {
    pub trial: usize,
    pub stopped_s: Option<f64>,
    pub fencing_token: Option<i64>,
    pub after_resume: Vec<ResumedLine>,
}

/// One line a resumed leader logged, with when it arrived after SIGCONT.
#[derive(Clone, Debug, Serialize)]
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
#[derive(Serialize)]
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
#[derive(Serialize)]
pub struct Problem {
    pub fault: &'static str,
    pub trial: usize,
    pub seed: u64,
    pub overlaps: Vec<String>,
    pub problems: Vec<String>,
    /// Every replica's output, written next to the results.
    pub log_file: Option<String>,
}

/// One trial.
#[derive(Serialize)]
pub struct TrialResult {
    pub fault: &'static str,
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
#[derive(Clone, Debug, Default, Serialize)]
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
    pub leader_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<&'static str>,
    /// lease_duration_edited_to_*: a standby warned that it judges the claim with its cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_standby_warned_of_the_cap: Option<bool>,
}

/// What the run was, apart from its trials: filled in by `main`.
pub struct Run {
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub load_average: LoadAverage,
    pub produced_by: Provenance,
}

impl Results {
    /// The results of `records`, run with `settings`.
    pub fn new(settings: &Settings, records: &[TrialRecord], run: Run) -> Self {
        let faults = settings
            .faults
            .iter()
            .map(|&fault| (fault.name(), summarize_fault(settings, fault, records)))
            .collect();
        let mut sorted: Vec<&TrialRecord> = records.iter().collect();
        sorted.sort_by_key(|r| (r.fault, r.index));
        Results {
            command: settings.command(),
            seed: settings.seed,
            fault_order: settings.faults.iter().map(|f| f.name()).collect(),
            trials_per_fault: settings.trials,
            parallel: settings.parallel,
            timings: Timings {
                lease_duration_s: T.lease_duration.as_secs_f64(),
                renew_deadline_s: T.renew_deadline.as_secs_f64(),
                retry_period_s: T.retry_period.as_secs_f64(),
                task_period_s: TASK_PERIOD.as_secs_f64(),
            },
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_s: run.duration_s,
            load_average: run.load_average,
            produced_by: run.produced_by,
            faults,
            frozen_leader: frozen_leader(records),
            clock_skew: clock_skew(records),
            problems: records
                .iter()
                .filter(|r| !r.problems.is_empty() || !r.overlaps.is_empty())
                .map(|r| Problem {
                    fault: r.fault.name(),
                    trial: r.index,
                    seed: r.seed,
                    overlaps: r.overlaps.clone(),
                    problems: r.problems.clone(),
                    log_file: r.notes.log_file.clone(),
                })
                .collect(),
            trials: sorted
                .iter()
                .map(|r| TrialResult {
                    fault: r.fault.name(),
                    trial: r.index,
                    seed: r.seed,
                    seconds: r.seconds,
                    gap_s: r.gap_s.map(round3),
                    overlaps: r.overlaps.len(),
                    ok: r.problems.is_empty(),
                    notes: r.notes.clone(),
                })
                .collect(),
        }
    }

    /// The file's text. It goes through `serde_json::Value`, whose maps keep their keys
    /// sorted, so the file keeps the layout it has always had and runs diff cleanly.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("the results are plain data");
        serde_json::to_string_pretty(&value).expect("a JSON value prints") + "\n"
    }
}

fn summarize_fault(settings: &Settings, fault: Fault, records: &[TrialRecord]) -> FaultSummary {
    let mine: Vec<&TrialRecord> = records.iter().filter(|r| r.fault == fault).collect();
    let mut gaps: Vec<f64> = mine.iter().filter_map(|r| r.gap_s).collect();
    gaps.sort_by(f64::total_cmp);
    FaultSummary {
        what: fault.what(),
        trials: mine.len(),
        overlaps: mine.iter().filter(|r| !r.overlaps.is_empty()).count(),
        overlap_pairs: mine.iter().map(|r| r.overlaps.len()).sum(),
        failures: mine.iter().filter(|r| !r.problems.is_empty()).count(),
        handovers: gaps.len(),
        max_gap_s: gaps.last().copied().map(round3),
        p90_gap_s: percentile(&gaps, 90.0).map(round3),
        median_gap_s: percentile(&gaps, 50.0).map(round3),
        min_gap_s: gaps.first().copied().map(round3),
        gaps_s: gaps.iter().copied().map(round3).collect(),
        reproduce: settings.reproduce(fault),
    }
}

fn frozen_leader(records: &[TrialRecord]) -> FrozenLeader {
    let sigstop = || records.iter().filter(|r| r.fault == Fault::Sigstop);
    FrozenLeader {
        trials: sigstop().count(),
        runs_after_sigstop: sigstop().filter_map(|r| r.notes.runs_after_sigstop).sum(),
        trials_that_logged_term_over: sigstop()
            .filter(|r| r.notes.logged_term_over == Some(true))
            .count(),
        example: sigstop()
            .filter(|r| r.problems.is_empty())
            .min_by_key(|r| r.index)
            .map(|r| FrozenExample {
                trial: r.index,
                stopped_s: r.notes.stopped_s,
                fencing_token: r.notes.old_fencing_token,
                after_resume: r.after_resume.clone(),
            }),
    }
}

fn clock_skew(records: &[TrialRecord]) -> ClockSkew {
    let of = |fault: Fault| records.iter().filter(move |r| r.fault == fault);
    ClockSkew {
        factor: SKEW,
        how: format!("LD_PRELOAD=libfaketimeMT.so.1 FAKETIME=\"+0 x{SKEW}\""),
        library: libfaketime().ok().map(|p| p.display().to_string()),
        measured_clock_rates: of(Fault::ClockSkew)
            .filter_map(|r| r.notes.measured_clock_rate)
            .collect(),
        skewed_standby_took_over: of(Fault::ClockSkew)
            .filter(|r| r.notes.skewed_standby_took_over == Some(true))
            .count(),
        takeover_after_last_change_s: of(Fault::ClockSkew)
            .filter_map(|r| r.notes.takeover_after_last_change_s)
            .collect(),
        unskewed_takeover_after_last_change_s: of(Fault::Partition)
            .filter_map(|r| r.notes.takeover_after_last_change_s)
            .collect(),
    }
}
