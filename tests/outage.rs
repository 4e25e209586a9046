//! An API server outage longer than the renew deadline. This file is its own test binary, so
//! it has its own control plane to stop and start.

mod support;

use std::time::{Duration, Instant};

use k8sensus::log_event::{ACQUIRED, WORK_RUN, WORK_STOPPED};
use support::*;

/// With kube-apiserver stopped for longer than the renew deadline, the leader stops its
/// sample task within the renew deadline and no process crashes; once it is back, a leader is
/// elected again.
#[tokio::test]
async fn api_server_outage_longer_than_the_renew_deadline() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("outage");
    let mut replicas = ns.replicas(&["pod-a", "pod-b", "pod-c"], t, &[]);
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(replicas[leader].says_leading());

    // SIGKILL: the API server is gone the moment the command returns, so the last renewal
    // that can succeed started before `gone`, and the leader's deadline is at most a renew
    // deadline after it. (A SIGTERM'd kube-apiserver drains for a while, which would blur
    // that instant.)
    ns.cp.command("kill-apiserver");
    let gone = Instant::now();
    let stopped = wait_for(t.renew_deadline + Duration::from_secs(1), || async {
        replicas[leader].events(WORK_STOPPED).first().map(|l| l.at)
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
        .events(WORK_RUN)
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
            r.says_leading() && r.events(ACQUIRED).last().is_some_and(|l| l.at > back)
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
