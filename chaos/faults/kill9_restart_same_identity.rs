//! `kill9_restart_same_identity`: the leader killed and, at once, a new process with the same
//! identity, as when the kubelet restarts a container. The next term's fencing token must be
//! higher than the killed leader's.

use std::time::Duration;

use crate::support::overlap;
use crate::trial::Trial;

pub fn what() -> String {
    "`kill -9` of the leader and, at once, a new process with the same identity (a container restarted by the kubelet); in every other trial the leader runs alone, so the restarted process leads next; the next term's fencing token must be higher".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    // In every other trial the leader is alone, so the restarted process must be the one to
    // lead next: it finds its own name in the Lease, written by its predecessor.
    let alone = t.index % 2 == 1;
    let leader = t.start(if alone { 1 } else { 3 }).await?;
    let identity = t.fleet().replicas[leader].name.clone();
    t.fault_on(leader);
    t.fleet().replicas[leader].kill9();
    t.gone.push(identity.clone());
    let restarted = t
        .fleet()
        .add_as(&format!("{identity}-restarted"), &identity);
    t.healed();
    // Whoever leads next, a new term has a new fencing token, the restarted process included.
    let gone = t.gone.clone();
    let next = t.fleet().converged(&gone, Duration::from_secs(30)).await?;
    let terms = t.fleet().terms();
    let old = t
        .fault_on
        .as_ref()
        .and_then(|(n, at)| overlap::term_at(&terms, n, *at))
        .map(|term| term.fencing_token);
    let name = t.fleet().replicas[next].name.clone();
    let new = terms
        .iter()
        .filter(|term| term.replica == name)
        .max_by_key(|term| term.first_ns)
        .map(|term| term.fencing_token);
    t.notes.alone = Some(alone);
    t.notes.restarted_took_over = Some(next == restarted);
    if alone && next != restarted {
        return Err("the restarted process, the only one left, did not lead next".into());
    }
    t.notes.old_fencing_token = old;
    t.notes.new_fencing_token = new;
    match (old, new) {
        (Some(old), Some(new)) if new > old => Ok(()),
        _ => Err(format!(
            "the next term's fencing token ({new:?}) is not above the killed leader's ({old:?})"
        )),
    }
}
