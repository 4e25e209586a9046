//! The overlap checker: did two leaders ever do leader work at the same time?
//!
//! Every run of the sample task is logged with the host's CLOCK_MONOTONIC (`mono_ns`) and the
//! term's fencing token, and every term begins with "starting the sample task". All replicas
//! run on one host, so their runs sit on one timeline with no clock adjustment at all.
//!
//! A *term* here is one stretch of leader work by one replica: from one "starting the sample
//! task" to the next, with its interval [first run, last run]. Two terms overlap when they share
//! more than a boundary instant: zero tolerance, to the nanosecond. A term with a single run is
//! the instant of that run, and overlaps anything that has it strictly inside.

use std::fmt;

use super::LogLine;

/// The message of one run of the leader's work.
pub const RUN: &str = "k8sensus is running sample task.";
/// The message that opens a term's work.
pub const START: &str = "starting the sample task";

/// One stretch of leader work by one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub replica: String,
    /// 1 for the replica's first term, 2 for its second, ...
    pub ordinal: usize,
    pub fencing_token: i64,
    /// CLOCK_MONOTONIC of its first and last run, in nanoseconds.
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

/// The terms in one replica's logs, in order. Lines without `mono_ns` are ignored; a run seen
/// before any "starting" line (which the binary never logs) still counts, as a term of its own.
pub fn terms_in_logs(replica: &str, logs: &[LogLine]) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    let mut open = false;
    for line in logs {
        let message = line.message();
        let Some(mono) = line.json["mono_ns"].as_u64() else {
            continue;
        };
        let token = line.json["fencing_token"].as_i64().unwrap_or(-1);
        if message == START {
            open = false;
            continue;
        }
        if message != RUN {
            continue;
        }
        match terms.last_mut() {
            Some(term) if open && term.fencing_token == token => {
                term.first_ns = term.first_ns.min(mono);
                term.last_ns = term.last_ns.max(mono);
                term.runs += 1;
            }
            _ => {
                let ordinal = terms.len() + 1;
                terms.push(Term {
                    replica: replica.to_string(),
                    ordinal,
                    fencing_token: token,
                    first_ns: mono,
                    last_ns: mono,
                    runs: 1,
                });
                open = true;
            }
        }
    }
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
