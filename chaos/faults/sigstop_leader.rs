//! `sigstop_leader`: the leader frozen with SIGSTOP for longer than the lease duration, then
//! resumed. The resumed process must not run the task again: its term's deadline has passed.

use std::time::{Duration, Instant};

use k8sensus::log_event;
use k8sensus::telemetry::monotonic_ns;
use rand::Rng;

use super::secs;
use crate::T;
use crate::results::ResumedLine;
use crate::support::LogLine;
use crate::support::overlap;
use crate::support::stats::round3;
use crate::trial::Trial;

/// How many of the resumed leader's first lines the results keep, for CHAOS.md's example.
const SHOWN_AFTER_RESUME: usize = 8;

pub fn what() -> String {
    let ld = T.lease_duration.as_secs_f64();
    format!(
        "SIGSTOP of the leader for {:.1}-{:.1} s (longer than the lease duration), then SIGCONT; the resumed process must not run the task again",
        ld + 0.3,
        ld + 2.5
    )
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let pause = T.lease_duration + secs(t.rng.random_range(0.3..2.5));
    t.fault_on(leader);
    t.fleet().replicas[leader].signal("STOP");
    // The process is stopped once `kill` has returned: no run can carry a later mono_ns
    // unless it happened after SIGCONT, and by then the term's deadline (at most a renew
    // deadline after the last renewal began, which was before now) has passed.
    let stopped_ns = monotonic_ns();
    tokio::time::sleep(pause).await;
    let continued_ns = monotonic_ns();
    let continued_at = Instant::now();
    t.fleet().replicas[leader].signal("CONT");
    t.healed();
    // Give it time to notice and say so.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let replica = &t.fleet().replicas[leader];
    let logs = replica.logs();
    let terms = overlap::terms_in_logs(&replica.name, &logs);
    // The old term's lines: from its work_started line up to the next one, if any.
    let mono = |l: &LogLine| l.json["mono_ns"].as_u64().unwrap_or(0);
    let started = |l: &LogLine| l.json["event"] == log_event::WORK_STARTED;
    let opened = logs
        .iter()
        .rposition(|l| started(l) && mono(l) < stopped_ns)
        .unwrap_or(0);
    let late: Vec<&LogLine> = logs[opened..]
        .iter()
        .skip(1)
        .take_while(|l| !started(l))
        .filter(|l| l.json["event"] == log_event::WORK_RUN && mono(l) > stopped_ns)
        .collect();
    let after_resume: Vec<ResumedLine> = logs
        .iter()
        .filter(|l| l.at >= continued_at)
        .take(SHOWN_AFTER_RESUME)
        .map(|l| {
            let ms = |d: f64| (d * 10.0).round() / 10.0;
            let received = l.at.duration_since(continued_at).as_secs_f64() * 1e3;
            ResumedLine {
                message: l.message().to_string(),
                received_ms_after_sigcont: ms(received),
                ms_after_sigcont: l.json["mono_ns"]
                    .as_u64()
                    .map(|m| ms((m as f64 - continued_ns as f64) / 1e6)),
                fencing_token: l.json["fencing_token"].as_i64(),
            }
        })
        .collect();
    let term_over = logs
        .iter()
        .any(|l| l.at >= continued_at && l.json["event"] == log_event::WORK_SKIPPED);
    let old_token = overlap::term_at(&terms, &replica.name, stopped_ns).map(|t| t.fencing_token);
    t.notes.stopped_s = Some(round3(pause.as_secs_f64()));
    t.notes.old_fencing_token = old_token;
    t.notes.runs_after_sigstop = Some(late.len());
    t.notes.logged_term_over = Some(term_over);
    t.after_resume = after_resume;
    if let Some(first) = late.first() {
        return Err(format!(
            "the resumed leader ran the sample task after its deadline: {}",
            first.json
        ));
    }
    Ok(())
}
