//! The leader's work in this demo: a log line every task period, only while leading.

use std::time::Duration;

use tokio::time::{MissedTickBehavior, interval};
use tracing::{info, warn};

use crate::elector::Leadership;
use crate::telemetry::monotonic_ns;

/// Runs the sample task until the term of leadership ends. This is the shape any leader-only
/// work should have: wait for either the next tick or the end of the term, and check
/// `still_leading()` right before acting.
pub async fn run(leadership: Leadership, period: Duration) {
    let token = leadership.fencing_token();
    info!(fencing_token = token, period = %humantime::format_duration(period), mono_ns = monotonic_ns(),
        "starting the sample task");
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
                    warn!(fencing_token = token, mono_ns = monotonic_ns(), "the term of leadership is over: not running the sample task");
                    break;
                }
                // `mono_ns` puts every run on the host's monotonic clock: tests check that no
                // two replicas' runs ever interleave.
                info!(fencing_token = token, mono_ns = monotonic_ns(), "k8sensus is running sample task.");
            }
        }
    }
    info!(
        fencing_token = token,
        mono_ns = monotonic_ns(),
        "sample task stopped"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// The task stops as soon as the term ends: here, at its deadline, with no elector running.
    #[tokio::test(start_paused = true)]
    async fn stops_when_the_term_ends() {
        let t0 = Instant::now();
        let term = Leadership::new(1, t0 + Duration::from_secs(25));
        run(term, Duration::from_secs(10)).await;
        assert_eq!(Instant::now(), t0 + Duration::from_secs(25));
    }
}
