//! `kill9_leader`: the leader killed with SIGKILL, mid-term.

use crate::trial::Trial;

pub fn what() -> String {
    "`kill -9` of the leader".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    t.fault_on(leader);
    t.fleet().replicas[leader].kill9();
    t.healed();
    Ok(())
}
