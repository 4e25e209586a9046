//! `lease_duration_edited_to_1` and `lease_duration_edited_to_max`: leaseDurationSeconds
//! hand-edited on the live holder's record, to 1 (while the leader is partitioned, so a
//! standby that honoured it would take over mid-term) or to 2147483647 (then the leader is
//! killed, and the standbys must not wait 68 years). One script, given the value.

use std::time::Instant;

use k8sensus::log_event;
use kube::api::PostParams;
use rand::Rng;

use super::secs;
use crate::T;
use crate::support::LEASE;
use crate::trial::Trial;

pub fn what(seconds: i32) -> String {
    let ld = T.lease_duration.as_secs_f64();
    if seconds < T.lease_duration.as_secs() as i32 {
        format!(
            "the leader partitioned and leaseDurationSeconds hand-edited to {seconds} on its live record; healed {:.1}-{:.1} s later",
            ld + 0.3,
            ld + 2.0
        )
    } else {
        format!(
            "leaseDurationSeconds hand-edited to {seconds} on the live holder's record, then the leader killed with `kill -9` 1-2 s later"
        )
    }
}

pub async fn run(t: &mut Trial, seconds: i32) -> Result<(), String> {
    let leader = t.start(3).await?;
    let leases = t.fleet().ns.leases().await;
    let partition = seconds < T.lease_duration.as_secs() as i32;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    t.fault_on(leader);
    let partitioned = Instant::now();
    if partition {
        // The leader's term runs on for up to a renew deadline; a standby that honoured the
        // 1 s written in the record would take over long before that.
        t.fleet().proxies[leader].blackhole();
    }
    for attempt in 0.. {
        let mut lease = leases
            .get(LEASE)
            .await
            .map_err(|e| format!("could not read the lease: {e}"))?;
        lease
            .spec
            .get_or_insert_with(Default::default)
            .lease_duration_seconds = Some(seconds);
        match leases.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => break,
            Err(_) if attempt < 20 => {}
            Err(e) => return Err(format!("could not edit the lease: {e}")),
        }
    }
    if partition {
        tokio::time::sleep_until((partitioned + hold).into()).await;
        t.fleet().proxies[leader].pass();
    } else {
        // The live leader overwrites the edit at its next renewal; then it is killed, and the
        // standbys must take over after the usual lease duration, not 68 years.
        tokio::time::sleep(secs(t.rng.random_range(1.0..2.0))).await;
        let name = t.fleet().replicas[leader].name.clone();
        t.fleet().replicas[leader].kill9();
        t.gone.push(name);
    }
    t.healed();
    let warned = t.fleet().replicas.iter().any(|r| {
        r.logs()
            .iter()
            .any(|l| l.json["event"] == log_event::DURATION_CAPPED)
    });
    t.notes.a_standby_warned_of_the_cap = Some(warned);
    Ok(())
}
