//! One trial: a fault's script run with its own random choices, then the checks every trial
//! must pass (one leader again, the survivors still running, no panic, no overlap), the gap
//! measured, and the record of it all.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use k8sensus::telemetry::monotonic_ns;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::T;
use crate::args::Settings;
use crate::faults::{Fault, secs};
use crate::fleet::Fleet;
use crate::results::{Notes, ResumedLine};
use crate::support::overlap;
use crate::support::stats::round3;

/// One randomized trial of one fault: its random choices, what it set up, what it found.
pub struct Trial {
    pub fault: Fault,
    pub index: usize,
    pub rng: StdRng,
    pub fleet: Option<Fleet>,
    /// The leader hit by the fault, and when (CLOCK_MONOTONIC ns): its term is the old term.
    pub fault_on: Option<(String, u64)>,
    /// For a start from nothing: when the replicas were started.
    pub start_ns: Option<u64>,
    /// When the fault was over (healed, or done for good): the new leader must work after it.
    healed_ns: u64,
    /// Replicas ended on purpose.
    pub gone: Vec<String>,
    /// Whether [`Trial::start`] watches the Lease from the beginning.
    pub watch: bool,
    pub recovery_timeout: Duration,
    pub notes: Notes,
    /// The resumed leader's first lines (`sigstop_leader`), for CHAOS.md's example.
    pub after_resume: Vec<ResumedLine>,
    problems: Vec<String>,
}

/// What a trial found, for the results.
#[derive(Clone, Debug)]
pub struct TrialRecord {
    pub fault: Fault,
    pub index: usize,
    pub seed: u64,
    pub seconds: f64,
    pub gap_s: Option<f64>,
    pub overlaps: Vec<String>,
    pub problems: Vec<String>,
    pub notes: Notes,
    pub after_resume: Vec<ResumedLine>,
    /// Every replica's output, kept for a failed trial (or with `--keep-logs`) until it is
    /// written to its log file.
    logs: Option<String>,
}

impl Trial {
    fn new(fault: Fault, index: usize, seed: u64) -> Self {
        Self {
            fault,
            index,
            rng: StdRng::seed_from_u64(seed),
            fleet: None,
            fault_on: None,
            start_ns: None,
            healed_ns: 0,
            gone: Vec::new(),
            watch: false,
            recovery_timeout: Duration::from_secs(40),
            notes: Notes::default(),
            after_resume: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The trial's replicas, once its script has started them.
    pub fn fleet(&mut self) -> &mut Fleet {
        self.fleet
            .as_mut()
            .expect("the trial has started its replicas")
    }

    /// `n` replicas in a fresh namespace; returns the leader once they have converged and it
    /// has worked for a while, at a random moment within a retry period.
    pub async fn start(&mut self, n: usize) -> Result<usize, String> {
        let mut fleet = Fleet::new(&format!("chaos-{}", self.fault.name().replace('_', "-")));
        for i in 0..n {
            fleet.add(&format!("replica-{}", (b'a' + i as u8) as char), Vec::new());
        }
        if self.watch {
            fleet.watch_lease();
        }
        self.fleet = Some(fleet);
        let leader = self.fleet().converged(&[], Duration::from_secs(30)).await?;
        self.warm_up().await;
        Ok(leader)
    }

    /// Long enough for the standbys to have seen renewals, plus a random part of a retry period.
    pub async fn warm_up(&mut self) {
        let jitter = self.rng.random_range(0.0..T.retry_period.as_secs_f64());
        tokio::time::sleep(Duration::from_secs(1) + secs(jitter)).await;
    }

    /// Marks `replica` as the leader the fault hits, now.
    pub fn fault_on(&mut self, replica: usize) {
        let name = self.fleet().replicas[replica].name.clone();
        self.notes.leader_at_fault = Some(name.clone());
        self.fault_on = Some((name, monotonic_ns()));
        if matches!(self.fault, Fault::Kill9 | Fault::Sigterm) {
            let name = self.fleet().replicas[replica].name.clone();
            self.gone.push(name);
        }
    }

    /// Marks the fault as over (healed, or done for good).
    pub fn healed(&mut self) {
        self.healed_ns = monotonic_ns();
    }

    /// Notes how long after the old leader's last change the Lease named another holder, as
    /// the test's own watch saw it, and returns that holder.
    pub fn note_takeover_delay(&mut self, old: usize) -> Option<String> {
        let name = self.fleet().replicas[old].name.clone();
        let ns = self.fleet().ns.name.clone();
        let found = self
            .fleet()
            .watcher
            .as_ref()
            .and_then(|w| w.takeover_after_last_change(&ns, &name));
        let (delay, next) = found?;
        self.notes.takeover_after_last_change_s = Some(round3(delay));
        self.notes.took_over = Some(next.clone());
        Some(next)
    }

    /// After the fault: recovery, survivors, panics, overlaps, the gap.
    async fn finish(&mut self, seed: u64, seconds: f64, keep_logs: bool) -> TrialRecord {
        let mut gap_s = None;
        let mut overlaps = Vec::new();
        let mut logs = None;
        if let Some(mut fleet) = self.fleet.take() {
            if self.problems.is_empty() {
                let recovered = fleet
                    .converged_after(&self.gone, self.healed_ns, 3, self.recovery_timeout)
                    .await;
                match recovered {
                    Ok(i) => self.notes.leader_after = Some(fleet.replicas[i].name.clone()),
                    Err(e) => self.problems.push(format!("no recovery: {e}")),
                }
            }
            for r in &mut fleet.replicas {
                if !self.gone.contains(&r.name) && !r.is_running() {
                    let status = r.wait_exit(Duration::ZERO);
                    self.problems
                        .push(format!("{} exited on its own: {status:?}", r.name));
                }
            }
            fleet.stop().await;
            for r in &fleet.replicas {
                if r.raw_output().contains("panicked") {
                    self.problems.push(format!("{} panicked", r.name));
                }
            }
            let terms = fleet.terms();
            overlaps = overlap::find_overlaps(&terms)
                .iter()
                .map(|o| o.to_string())
                .collect();
            self.notes.leaders = Some(
                terms
                    .iter()
                    .map(|t| t.replica.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
            );
            if let Some((name, at)) = &self.fault_on {
                match overlap::term_at(&terms, name, *at) {
                    Some(old) => match overlap::gap_after(&terms, old) {
                        Some((gap, next)) => {
                            gap_s = Some(gap);
                            self.notes.next_term_by = Some(next.replica.clone());
                        }
                        None => self.notes.kept_its_term = Some(true),
                    },
                    None => self
                        .problems
                        .push(format!("{name} had done no leader work before the fault")),
                }
            } else if let Some(start) = self.start_ns
                && let Some(first) = terms.iter().map(|t| t.first_ns).min()
            {
                let gap = (first as f64 - start as f64) / 1e9;
                gap_s = Some(gap);
                // A brand-new deployment: the first leader created the missing Lease, so its
                // work may start only a lease duration after it first saw it missing.
                if gap < T.lease_duration.as_secs_f64() {
                    self.problems.push(format!(
                        "the first leader's work started {gap:.3} s after the processes did, before one lease duration"
                    ));
                }
            }
            if keep_logs || !self.problems.is_empty() || !overlaps.is_empty() {
                logs = Some(fleet.dump());
            }
        }
        TrialRecord {
            fault: self.fault,
            index: self.index,
            seed,
            seconds,
            gap_s,
            overlaps,
            problems: self.problems.clone(),
            notes: self.notes.clone(),
            after_resume: self.after_resume.clone(),
            logs,
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Runs trial `index` of `fault` to the end on this thread, whatever happens in it, and says
/// how it went on stderr. A failed trial's logs go to `FAULT-INDEX.log` next to the results.
pub fn run_trial(fault: Fault, index: usize, settings: &Settings) -> TrialRecord {
    let seed = settings.trial_seed(fault, index);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the trial");
    let started = Instant::now();
    let mut trial = Trial::new(fault, index, seed);
    let injected = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(fault.inject(&mut trial))
    }));
    match injected {
        Ok(Ok(())) => {}
        Ok(Err(problem)) => trial.problems.push(problem),
        Err(panic) => trial
            .problems
            .push(format!("panicked: {}", panic_message(&*panic))),
    }
    let finished = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(trial.finish(seed, started.elapsed().as_secs_f64(), settings.keep_logs))
    }));
    let mut record = match finished {
        Ok(record) => record,
        Err(panic) => TrialRecord {
            fault,
            index,
            seed,
            seconds: 0.0,
            gap_s: None,
            overlaps: Vec::new(),
            problems: vec![format!("the checks panicked: {}", panic_message(&*panic))],
            notes: Notes::default(),
            after_resume: Vec::new(),
            logs: None,
        },
    };
    record.seconds = round3(started.elapsed().as_secs_f64());
    if let Some(logs) = record.logs.take() {
        let path = settings
            .log_dir()
            .join(format!("{}-{}.log", fault.name(), index));
        let mut text = format!(
            "{} trial {} (seed {})\nproblems: {:#?}\noverlaps: {:#?}\nnotes: {}\n\n",
            fault.name(),
            index,
            seed,
            record.problems,
            record.overlaps,
            serde_json::to_value(&record.notes).expect("notes are plain data")
        );
        text.push_str(&logs);
        if std::fs::write(&path, text).is_ok() {
            record.notes.log_file = Some(path.display().to_string());
        }
    }
    let verdict = if !record.overlaps.is_empty() {
        format!("OVERLAP: {}", record.overlaps.join("; "))
    } else if !record.problems.is_empty() {
        format!("FAILED: {}", record.problems.join("; "))
    } else {
        "ok".into()
    };
    let gap = record
        .gap_s
        .map_or("no handover".to_string(), |g| format!("gap {g:.3} s"));
    eprintln!(
        "[chaos] {} #{}: {verdict}, {gap} ({:.1} s)",
        fault.name(),
        index,
        record.seconds
    );
    record
}
