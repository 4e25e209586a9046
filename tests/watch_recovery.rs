//! Standbys' watches after the API server drops them. This file is its own test binary, so it
//! has its own control plane to restart.

mod support;

use std::time::Duration;

use support::*;

/// Killing kube-apiserver breaks every standby's watch. Once it is back, the standbys watch
/// again: a release afterwards is taken over within 1.5 s, faster than any poll with the real
/// timings (2 to 4.4 s). The leader rides out the short outage (shorter than its renew
/// deadline) without losing leadership.
#[tokio::test]
async fn dropped_watches_recover_after_an_api_server_restart() {
    let t = Timings::REAL;
    let ns = TestNamespace::new("rewatch");
    let mut replicas = ns.replicas(&["pod-a", "pod-b", "pod-c"], t, &[]);
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    ns.cp.command("kill-apiserver");
    ns.cp.command("start-apiserver");
    // Standbys back off up to half a lease duration (7.5 s) while the server is away.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        replicas[leader].says_leading(),
        "a short outage should not cost the leader its lease"
    );

    let old_name = replicas[leader].name.clone();
    let (new, took) = sigterm_and_time_takeover(&ns, &mut replicas, leader).await;
    eprintln!("{new} took over {took:?} after the release, following an API server restart");
    assert!(
        took < Duration::from_millis(1500),
        "took {took:?}: the standbys are not watching again"
    );
    for r in replicas.iter_mut().filter(|r| r.name != old_name) {
        assert!(r.is_running(), "{} exited", r.name);
    }
    assert_no_panics(&replicas);
}
