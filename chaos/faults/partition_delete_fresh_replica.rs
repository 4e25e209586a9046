//! `partition_delete_fresh_replica`: the leader partitioned; while its term may still run, the
//! Lease is deleted and a fresh replica, which never saw the old holder, starts.

use std::time::Instant;

use rand::Rng;

use super::secs;
use crate::T;
use crate::support::LEASE;
use crate::support::stats::round3;
use crate::trial::Trial;

pub fn what() -> String {
    let ld = T.lease_duration.as_secs_f64();
    let rd = T.renew_deadline.as_secs_f64();
    format!(
        "the leader partitioned; 0-{rd:.0} s later (while its term may still run) the Lease deleted and a fresh replica started; healed {:.1}-{:.1} s after the partition began",
        ld + 0.3,
        ld + 2.0
    )
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let leases = t.fleet().ns.leases().await;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    let delete_after = secs(t.rng.random_range(0.0..T.renew_deadline.as_secs_f64()));
    t.fault_on(leader);
    t.fleet().proxies[leader].blackhole();
    let partitioned = Instant::now();
    tokio::time::sleep(delete_after).await;
    leases
        .delete(LEASE, &Default::default())
        .await
        .map_err(|e| format!("could not delete the lease: {e}"))?;
    t.fleet().add("replica-fresh", Vec::new());
    tokio::time::sleep_until((partitioned + hold).into()).await;
    t.fleet().proxies[leader].pass();
    t.healed();
    t.notes.deleted_after_s = Some(round3(delete_after.as_secs_f64()));
    t.notes.partitioned_s = Some(round3(hold.as_secs_f64()));
    Ok(())
}
