//! `lease_deleted`: an admin deletes the Lease while its leader works.

use crate::support::LEASE;
use crate::trial::Trial;

pub fn what() -> String {
    "the Lease deleted mid-term (by an admin)".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let leases = t.fleet().ns.leases().await;
    t.fault_on(leader);
    leases
        .delete(LEASE, &Default::default())
        .await
        .map_err(|e| format!("could not delete the lease: {e}"))?;
    t.healed();
    Ok(())
}
