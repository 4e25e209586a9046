//! `lease_edited`: the Lease rewritten mid-term to name a holder that never renews.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;

use crate::support::{LEASE, random_suffix};
use crate::trial::Trial;

pub fn what() -> String {
    "the Lease edited mid-term to name another holder, who never renews".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let leases = t.fleet().ns.leases().await;
    let intruder = format!("intruder-{}", random_suffix());
    t.fault_on(leader);
    // The leader renews every 0.5 s: retry on conflict.
    for attempt in 0.. {
        let mut lease = leases
            .get(LEASE)
            .await
            .map_err(|e| format!("could not read the lease: {e}"))?;
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.holder_identity = Some(intruder.clone());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match leases.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => break,
            Err(_) if attempt < 20 => {}
            Err(e) => return Err(format!("could not edit the lease: {e}")),
        }
    }
    t.healed();
    Ok(())
}
