//! `ten_start_together`: a brand-new deployment, ten replicas started back to back on a
//! namespace with no Lease. Its gap is from the start of the processes to the first work.

use std::path::PathBuf;

use k8sensus::telemetry::monotonic_ns;

use crate::fleet::Fleet;
use crate::support::proxy::Proxy;
use crate::trial::Trial;

pub fn what() -> String {
    "ten replicas started back to back on a namespace with no Lease".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let names: Vec<String> = (0..10).map(|i| format!("replica-{i}")).collect();
    let mut fleet = Fleet::new("chaos-ten");
    // Proxies and kubeconfigs first, so the processes start back to back.
    let prepared: Vec<(Proxy, PathBuf)> = names.iter().map(|n| fleet.prepare(n)).collect();
    t.start_ns = Some(monotonic_ns());
    for (name, (proxy, kubeconfig)) in names.iter().zip(prepared) {
        fleet.spawn(name, proxy, &kubeconfig, Vec::new());
    }
    t.fleet = Some(fleet);
    t.healed();
    Ok(())
}
