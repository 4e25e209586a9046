//! From the trials' records to the results file's types (`results.rs`): each fault's trials
//! summed up, the frozen leader's and the skewed clock's figures, every failed trial.

use crate::args::Settings;
use crate::faults::Fault;
use crate::faults::standby_clock_fast::{SKEW, libfaketime};
use crate::results::{
    ClockSkew, FaultSummary, FrozenExample, FrozenLeader, LoadAverage, Problem, Provenance,
    Results, Timings, TrialResult,
};
use crate::support::stats::{percentile, round3};
use crate::trial::TrialRecord;
use crate::{T, TASK_PERIOD};

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
            .map(|&fault| {
                (
                    fault.name().to_string(),
                    summarize_fault(settings, fault, records),
                )
            })
            .collect();
        let mut sorted: Vec<&TrialRecord> = records.iter().collect();
        sorted.sort_by_key(|r| (r.fault, r.index));
        Results {
            command: settings.command(),
            seed: settings.seed,
            fault_order: settings
                .faults
                .iter()
                .map(|f| f.name().to_string())
                .collect(),
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
                    fault: r.fault.name().to_string(),
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
                    fault: r.fault.name().to_string(),
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
