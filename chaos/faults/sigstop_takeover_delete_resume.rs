//! `sigstop_takeover_delete_resume`: a frozen leader is taken over, the Lease is deleted, and
//! the old leader resumes to find no Lease at all.

use std::time::{Duration, Instant};

use rand::Rng;

use super::secs;
use crate::T;
use crate::support::stats::round3;
use crate::support::{LEASE, wait_for};
use crate::trial::Trial;

pub fn what() -> String {
    "SIGSTOP of the leader until another replica has taken over, then the Lease deleted, then SIGCONT 0-0.3 s later (the resumed leader finds no Lease)".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let name = t.fleet().replicas[leader].name.clone();
    let leases = t.fleet().ns.leases().await;
    t.fault_on(leader);
    t.fleet().replicas[leader].signal("STOP");
    let stopped = Instant::now();
    let taken = {
        let ns = &t.fleet().ns;
        let name = &name;
        wait_for(Duration::from_secs(20), || async move {
            let holder = ns.holder().await?;
            (holder != *name).then_some(holder)
        })
        .await
    };
    let Some(taken_by) = taken else {
        t.fleet().replicas[leader].signal("CONT");
        return Err("no replica took over from the frozen leader within 20 s".into());
    };
    tokio::time::sleep(secs(t.rng.random_range(0.0..T.retry_period.as_secs_f64()))).await;
    leases
        .delete(LEASE, &Default::default())
        .await
        .map_err(|e| format!("could not delete the lease: {e}"))?;
    tokio::time::sleep(secs(t.rng.random_range(0.0..0.3))).await;
    t.fleet().replicas[leader].signal("CONT");
    t.healed();
    t.notes.taken_over_by = Some(taken_by);
    t.notes.stopped_s = Some(round3(stopped.elapsed().as_secs_f64()));
    Ok(())
}
