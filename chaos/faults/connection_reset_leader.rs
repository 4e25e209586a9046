//! `connection_reset_leader`: every connection of the leader reset, and every new one, for
//! longer than the lease duration.

use rand::Rng;

use super::secs;
use crate::T;
use crate::support::stats::round3;
use crate::trial::Trial;

pub fn what() -> String {
    let ld = T.lease_duration.as_secs_f64();
    format!(
        "every connection of the leader reset (TCP RST), and every new one, for {:.1}-{:.1} s",
        ld + 0.3,
        ld + 2.0
    )
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    t.fault_on(leader);
    t.fleet().proxies[leader].reset();
    tokio::time::sleep(hold).await;
    t.fleet().proxies[leader].pass();
    t.healed();
    t.notes.reset_for_s = Some(round3(hold.as_secs_f64()));
    Ok(())
}
