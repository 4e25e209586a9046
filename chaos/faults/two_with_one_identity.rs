//! `two_with_one_identity`: a second live process with the leader's identity, then the
//! original leader killed. The twin must report the duplicate identity.

use k8sensus::log_event;
use rand::Rng;

use super::secs;
use crate::trial::Trial;

pub fn what() -> String {
    "a fourth process started with the leader's identity, then (2-4 s later) the original leader killed with `kill -9`".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let identity = t.fleet().replicas[leader].name.clone();
    t.fault_on(leader);
    let twin = t.fleet().add_as("replica-twin", &identity);
    tokio::time::sleep(secs(t.rng.random_range(2.0..4.0))).await;
    t.fleet().replicas[leader].kill9();
    t.gone.push(identity.clone());
    t.healed();
    let reported = t.fleet().replicas[twin]
        .logs()
        .iter()
        .any(|l| l.json["event"] == log_event::DUPLICATE_IDENTITY);
    t.notes.twin_reported_duplicate = Some(reported);
    if !reported {
        return Err(format!(
            "the second process with identity {identity} never reported the duplicate identity"
        ));
    }
    Ok(())
}
