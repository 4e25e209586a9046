//! `partition_leader`: the leader cut off from the API server for longer than the lease
//! duration, then healed.

use rand::Rng;

use super::{partition_for, secs};
use crate::T;
use crate::trial::Trial;

pub fn what() -> String {
    let ld = T.lease_duration.as_secs_f64();
    format!(
        "the leader's connection to the API server blackholed for {:.1}-{:.1} s, then healed",
        ld + 0.3,
        ld + 3.0
    )
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..3.0));
    partition_for(t, leader, hold).await;
    t.note_takeover_delay(leader);
    Ok(())
}
