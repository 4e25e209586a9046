//! The leader's work in this demo: a log line every task period, only while leading.

use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tracing::{info, warn};

use crate::elector::Leadership;
use crate::log_event;
use crate::telemetry::monotonic_ns;

/// Runs the sample task until the term of leadership ends. This is the shape any leader-only
/// work should have: wait for either the next tick or the end of the term, and check
/// `still_leading()` right before acting.
///
/// # Cancel safety
///
/// Cancel safe: between runs it only waits. Aborting it mid-run cuts a log line short at
/// worst; the elector aborts it only if it ignores the end of its term.
pub async fn run(leadership: Leadership, period: Duration) {
    let token = leadership.fencing_token();
    // A term that began by creating a missing Lease may not work yet (the elector logged why).
    if !leadership.started().await {
        return;
    }
    info!(fencing_token = token, period = %humantime::format_duration(period), mono_ns = monotonic_ns(),
        event = log_event::WORK_STARTED, "starting the sample task");
    let mut ticker = interval(period);
    // After a pause, run once and carry on; do not fire a burst of missed ticks.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = leadership.ended() => break,
            _ = ticker.tick() => {
                // Both may be ready at once (after a freeze, say), and select! picks either:
                // asking the clock here means a run never starts after the term's deadline.
                if !leadership.still_leading() {
                    warn!(fencing_token = token, mono_ns = monotonic_ns(), event = log_event::WORK_SKIPPED, "the term of leadership is over: not running the sample task");
                    break;
                }
                // `mono_ns` puts every run on the host's monotonic clock: tests check that no
                // two replicas' runs ever interleave.
                info!(fencing_token = token, mono_ns = monotonic_ns(), event = log_event::WORK_RUN, "k8sensus is running sample task.");
            }
        }
    }
    // The work's authority ended at the earlier of now and the term's deadline: from the
    // deadline on, `still_leading()` was false, and no run can have started (a frozen process
    // resumes past it). The overlap checker compares terms up to this instant.
    let now = tokio::time::Instant::now();
    let mono = monotonic_ns();
    let past_deadline = now.saturating_duration_since(leadership.deadline());
    let ended_ns = mono.saturating_sub(past_deadline.as_nanos() as u64);
    info!(
        fencing_token = token,
        mono_ns = mono,
        ended_mono_ns = ended_ns,
        event = log_event::WORK_STOPPED,
        "sample task stopped"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// A delayed term's task does not start before its start, and stops at its deadline.
    #[tokio::test(start_paused = true)]
    async fn waits_for_a_delayed_start() {
        let t0 = Instant::now();
        let term =
            Leadership::starting_at(1, t0 + Duration::from_secs(3), t0 + Duration::from_secs(4));
        run(term, Duration::from_secs(1)).await;
        assert_eq!(Instant::now(), t0 + Duration::from_secs(3));
    }

    /// The task stops as soon as the term ends: here, at its deadline, with no elector running.
    #[tokio::test(start_paused = true)]
    async fn stops_when_the_term_ends() {
        let t0 = Instant::now();
        let term = Leadership::new(1, t0 + Duration::from_secs(25));
        run(term, Duration::from_secs(10)).await;
        assert_eq!(Instant::now(), t0 + Duration::from_secs(25));
    }
}
