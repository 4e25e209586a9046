//! An API server outage longer than the renew deadline. This file is its own test binary, so
//! it has its own control plane to stop and start.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// With kube-apiserver stopped for longer than the renew deadline, the leader stops its
/// sample task within the renew deadline and no process crashes; once it is back, a leader is
/// elected again.
#[tokio::test]
async fn api_server_outage_longer_than_the_renew_deadline() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("outage");
    let mut replicas: Vec<Replica> = ["pod-a", "pod-b", "pod-c"]
        .iter()
        .map(|n| ns.replica(n, t, &[]))
        .collect();
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(replicas[leader].says_leading());

    // The last renewal that can succeed started before the API server went away, so the
    // leader's deadline falls at most a renew deadline after the command returns.
    ns.cp.command("stop-apiserver");
    let gone = Instant::now();
    let stopped = wait_for(t.renew_deadline + Duration::from_secs(1), || async {
        replicas[leader]
            .lines_with("sample task stopped")
            .first()
            .map(|l| l.at)
    })
    .await
    .expect("the leader stops its sample task within the renew deadline");
    eprintln!(
        "sample task stopped {:?} after the API server went away",
        stopped.duration_since(gone)
    );
    // Nothing ran after that, and nobody crashed while the API server stayed away.
    tokio::time::sleep((t.renew_deadline + Duration::from_secs(3)).saturating_sub(gone.elapsed()))
        .await;
    let late_runs = replicas[leader]
        .lines_with("k8sensus is running sample task.")
        .iter()
        .filter(|l| l.at > stopped)
        .count();
    assert_eq!(late_runs, 0, "the sample task ran without leadership");
    for r in replicas.iter_mut() {
        assert!(r.is_running(), "{} exited during the outage", r.name);
    }

    // The replicas may win before the runner's own readiness check answers, so "after the
    // restart" counts from when the restart was asked for.
    let back = Instant::now();
    ns.cp.command("start-apiserver");
    let again = wait_for(Duration::from_secs(30), || async {
        replicas.iter().position(|r| {
            r.says_leading()
                && r.lines_with("successfully acquired")
                    .last()
                    .is_some_and(|l| l.at > back)
        })
    })
    .await
    .expect("a leader is elected again after the API server returns");
    eprintln!(
        "{} leads again {:?} after the API server returned",
        replicas[again].name,
        back.elapsed()
    );
    assert_eq!(
        ns.holder().await.as_deref(),
        Some(replicas[again].name.as_str())
    );
    for r in replicas.iter_mut() {
        assert!(r.is_running(), "{} exited", r.name);
    }
    assert_no_panics(&replicas);
}

/// Killing kube-apiserver breaks every standby's watch. Once it is back, the standbys watch
/// again: a release afterwards is taken over within 1.5 s, faster than any poll with the real
/// timings (2 to 4.4 s). The leader rides out the short outage (shorter than its renew
/// deadline) without losing leadership.
#[tokio::test]
async fn dropped_watches_recover_after_an_api_server_restart() {
    let t = Timings::REAL;
    let ns = TestNamespace::new("rewatch");
    let mut replicas: Vec<Replica> = ["pod-a", "pod-b", "pod-c"]
        .iter()
        .map(|n| ns.replica(n, t, &[]))
        .collect();
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

    replicas[leader].signal("TERM");
    replicas[leader]
        .wait_exit(Duration::from_secs(15))
        .expect("the leader exits");
    let released_at = replicas[leader]
        .lines_with("released lease")
        .first()
        .expect("the old leader released the lease")
        .at;
    let old_name = replicas[leader].name.clone();
    let new = wait_for(Duration::from_secs(10), || async {
        ns.holder().await.filter(|h| *h != old_name)
    })
    .await
    .expect("a standby takes over");
    let took = released_at.elapsed();
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
