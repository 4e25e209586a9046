//! `latency_leader`: the leader's path to the API server slower than its renew deadline, for
//! longer than the lease duration.

use rand::Rng;

use super::secs;
use crate::T;
use crate::support::stats::round3;
use crate::trial::Trial;

pub fn what() -> String {
    let ld = T.lease_duration.as_secs_f64();
    let rd = T.renew_deadline.as_secs_f64();
    format!(
        "{:.1}-{:.1} s of latency each way (above the {rd:.0} s renew deadline) on the leader's path for {:.1}-{:.1} s",
        rd + 0.2,
        rd + 1.5,
        ld + 1.0,
        ld + 3.0
    )
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let delay = T.renew_deadline + secs(t.rng.random_range(0.2..1.5));
    let hold = T.lease_duration + secs(t.rng.random_range(1.0..3.0));
    t.fault_on(leader);
    t.fleet().proxies[leader].latency(delay);
    tokio::time::sleep(hold).await;
    t.fleet().proxies[leader].pass();
    t.healed();
    t.notes.latency_s = Some(round3(delay.as_secs_f64()));
    t.notes.held_s = Some(round3(hold.as_secs_f64()));
    t.note_takeover_delay(leader);
    Ok(())
}
