//! `sigterm_leader`: the leader asked to stop with SIGTERM, as Kubernetes does.

use std::time::Duration;

use crate::trial::Trial;

pub fn what() -> String {
    "SIGTERM to the leader (graceful: stop the work, release the Lease, exit 0)".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    t.fault_on(leader);
    let replica = &mut t.fleet().replicas[leader];
    replica.signal("TERM");
    let status = replica.wait_exit(Duration::from_secs(15));
    t.healed();
    match status {
        Some(s) if s.code() == Some(0) => Ok(()),
        Some(s) => Err(format!("the leader exited with {s} after SIGTERM, not 0")),
        None => Err("the leader did not exit within 15 s of SIGTERM".into()),
    }
}
