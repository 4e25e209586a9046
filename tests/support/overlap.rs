//! The overlap checker: did two leaders ever do leader work at the same time?
//!
//! Every term's work is logged with the host's CLOCK_MONOTONIC (`mono_ns`) and the term's
//! fencing token, on three lines the checker knows by their `event` field (the names in
//! [`k8sensus::log_event`]), never by their wording: the line that starts it (`work_started`),
//! each run (`work_run`), and the line that ends it (`work_stopped`). The client-go reference
//! (bench/client-go-ref) logs the same three events. All replicas run on one host, so their
//! lines sit on one timeline with no clock adjustment at all.
//!
//! A *term* here is one stretch of leader work by one replica, from the line that starts the
//! work to the line that ends it: not from its first run to its last, which would hide an
//! overlap shorter than one task period at either edge. The end is the stop line's
//! `ended_mono_ns` when it has one: the earlier of the stop and the term's deadline, after
//! which `still_leading()` was false (a frozen leader logs its stop only after it resumes, but
//! had no authority from its deadline on, and checks before every run). A term with no stop
//! line (the process was killed) ends at its last line with a `mono_ns`.
//!
//! Two terms overlap when they share more than a boundary instant: zero tolerance, to the
//! nanosecond. A term that is a single instant overlaps anything that has it strictly inside.

use std::collections::BTreeMap;
use std::fmt;

use k8sensus::log_event;

use super::log::LogLine;

/// The wording of the run line, for people. The checker does not read it (it matches
/// `event`); tests/harness.rs uses these three to show that wording alone is not work.
pub const RUN: &str = "k8sensus is running sample task.";
/// The wording of the line that opens a term's work.
pub const START: &str = "starting the sample task";
/// The wording of the line that closes a term's work.
pub const STOP: &str = "sample task stopped";

fn is_start(line: &LogLine) -> bool {
    line.is(log_event::WORK_STARTED)
}

fn is_stop(line: &LogLine) -> bool {
    line.is(log_event::WORK_STOPPED)
}

/// A run of the work: k8sensus's or the client-go reference's.
pub fn is_run(line: &LogLine) -> bool {
    line.is(log_event::WORK_RUN)
}

/// One stretch of leader work by one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub replica: String,
    /// 1 for the replica's first term, 2 for its second, ...
    pub ordinal: usize,
    pub fencing_token: i64,
    /// CLOCK_MONOTONIC of the start and the end of its work, in nanoseconds.
    pub first_ns: u64,
    pub last_ns: u64,
    pub runs: usize,
}

impl Term {
    /// A term by hand, for tests of the checker.
    pub fn new(replica: &str, fencing_token: i64, first_ns: u64, last_ns: u64) -> Self {
        assert!(first_ns <= last_ns);
        Self {
            replica: replica.to_string(),
            ordinal: 1,
            fencing_token,
            first_ns,
            last_ns,
            runs: 2,
        }
    }

    fn is_instant(&self) -> bool {
        self.first_ns == self.last_ns
    }

    fn same_term(&self, other: &Term) -> bool {
        self.replica == other.replica && self.ordinal == other.ordinal
    }

    /// Whether two terms share more than a boundary instant (see the module comment).
    pub fn overlaps(&self, other: &Term) -> bool {
        let strictly_inside = |t: u64, term: &Term| term.first_ns < t && t < term.last_ns;
        match (self.is_instant(), other.is_instant()) {
            (false, false) => self.first_ns.max(other.first_ns) < self.last_ns.min(other.last_ns),
            (true, false) => strictly_inside(self.first_ns, other),
            (false, true) => strictly_inside(other.first_ns, self),
            (true, true) => self.first_ns == other.first_ns,
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} term #{} (fencing token {}): {} runs from mono {} to {} ns",
            self.replica, self.ordinal, self.fencing_token, self.runs, self.first_ns, self.last_ns
        )
    }
}

/// Two terms that overlap, and by how much.
#[derive(Clone, Debug)]
pub struct Overlap {
    pub a: Term,
    pub b: Term,
}

impl Overlap {
    /// How long both were working, in seconds (0 for an instant inside the other term).
    pub fn seconds(&self) -> f64 {
        let start = self.a.first_ns.max(self.b.first_ns);
        let end = self.a.last_ns.min(self.b.last_ns);
        end.saturating_sub(start) as f64 / 1e9
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OVERLAP of {:.6} s: [{}] and [{}]",
            self.seconds(),
            self.a,
            self.b
        )
    }
}

/// The terms in one replica's logs, in order (see the module comment). Lines without
/// `mono_ns` are ignored. A run outside any started term (never logged by the binary) still
/// counts, as a term of its own that starts there.
pub fn terms_in_logs(replica: &str, logs: &[LogLine]) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    let mut open = false;
    // The last instant the open term certainly worked: its start or its latest run.
    let mut last_work = 0;
    for line in logs {
        let Some(mono) = line.mono_ns() else {
            continue;
        };
        let token = line.json["fencing_token"].as_i64().unwrap_or(-1);
        let run = is_run(line);
        if is_start(line) || (run && !open) {
            let ordinal = terms.len() + 1;
            terms.push(Term {
                replica: replica.to_string(),
                ordinal,
                fencing_token: token,
                first_ns: mono,
                last_ns: mono,
                runs: usize::from(run),
            });
            open = true;
            last_work = mono;
            continue;
        }
        let Some(term) = terms.last_mut().filter(|_| open) else {
            continue;
        };
        if is_stop(line) {
            // Never before a run: a run after the deadline would be an overlap to report.
            let ended = line.json["ended_mono_ns"].as_u64().unwrap_or(mono);
            term.last_ns = ended.min(mono).max(last_work);
            open = false;
            continue;
        }
        term.last_ns = term.last_ns.max(mono);
        if run {
            term.runs += 1;
            last_work = mono;
        }
    }
    terms
}

/// The terms in the lines of several replicas (each line with its replica's name), sorted by
/// start and then end. Each replica's lines are taken in `mono_ns` order, so the files of a
/// container's restarts may be read in any order.
pub fn terms_by_replica<'a>(lines: impl IntoIterator<Item = (&'a str, &'a LogLine)>) -> Vec<Term> {
    let mut by_replica: BTreeMap<&str, Vec<&LogLine>> = BTreeMap::new();
    for (replica, line) in lines {
        by_replica.entry(replica).or_default().push(line);
    }
    let mut terms = Vec::new();
    for (replica, mut lines) in by_replica {
        lines.sort_by_key(|l| l.mono_ns());
        let lines: Vec<LogLine> = lines.into_iter().cloned().collect();
        terms.extend(terms_in_logs(replica, &lines));
    }
    terms.sort_by_key(|t| (t.first_ns, t.last_ns));
    terms
}

/// Every pair of different terms that overlap.
pub fn find_overlaps(terms: &[Term]) -> Vec<Overlap> {
    let mut sorted: Vec<&Term> = terms.iter().collect();
    sorted.sort_by_key(|t| (t.first_ns, t.last_ns));
    let mut found = Vec::new();
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[i + 1..] {
            if b.first_ns > a.last_ns {
                break; // sorted by start: no later term can reach back into `a`
            }
            if !a.same_term(b) && a.overlaps(b) {
                found.push(Overlap {
                    a: (*a).clone(),
                    b: (*b).clone(),
                });
            }
        }
    }
    found
}

/// The term that was doing leader work at `at_ns` (or had last done it before then) by
/// `replica`: the old term of a fault injected at `at_ns`.
pub fn term_at<'a>(terms: &'a [Term], replica: &str, at_ns: u64) -> Option<&'a Term> {
    terms
        .iter()
        .filter(|t| t.replica == replica && t.first_ns <= at_ns)
        .max_by_key(|t| t.first_ns)
}

/// The leaderless gap after `old`: from its last run to the first run of the next term to
/// start (any replica, any token), in seconds, and that next term. `None` if no term started
/// after `old` did.
pub fn gap_after<'a>(terms: &'a [Term], old: &Term) -> Option<(f64, &'a Term)> {
    let next = terms
        .iter()
        .filter(|t| !t.same_term(old) && t.first_ns > old.first_ns)
        .min_by_key(|t| t.first_ns)?;
    let gap = next.first_ns as f64 / 1e9 - old.last_ns as f64 / 1e9;
    Some((gap, next))
}
