//! `apiserver_restart`: kube-apiserver killed and restarted under the replicas. It disturbs
//! every namespace of the control plane, so its trials run alone ([`super::Fault::exclusive`]).

use std::time::{Duration, Instant};

use rand::Rng;

use super::secs;
use crate::support::control_plane;
use crate::support::stats::round3;
use crate::trial::Trial;

pub fn what() -> String {
    "kube-apiserver killed (SIGKILL), kept down 0-3 s, restarted (2-3 s more)".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let down = secs(t.rng.random_range(0.0..3.0));
    let cp = control_plane();
    t.fault_on(leader);
    cp.command("kill-apiserver");
    tokio::time::sleep(down).await;
    let restart = Instant::now();
    cp.command("start-apiserver");
    t.healed();
    t.notes.kept_down_s = Some(round3(down.as_secs_f64()));
    t.notes.restart_took_s = Some(round3(restart.elapsed().as_secs_f64()));
    t.recovery_timeout = Duration::from_secs(60);
    Ok(())
}
