//! Probes and metrics while the API server is gone. Its own test binary, because it stops
//! the API server.

mod support;

use std::time::Duration;

use support::*;

/// 1. SIGTERM to a leader while the API server is gone: it stops its work and tries to
///    release until the renew deadline; meanwhile /readyz answers 503 "shutting down" and
///    /healthz stays 200; then it exits 0.
/// 2. A leader cut off from the API server steps down at its renew deadline: the leader gauge
///    drops to 0, API errors are counted, and /healthz stays 200 (a cut-off leader is not
///    wedged, and a restart would not bring the network back).
#[tokio::test]
async fn probes_and_metrics_while_the_api_server_is_gone() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("probes");
    let mut replicas = ns.replicas(&["pod-a", "pod-b", "pod-c"], t, &[]);
    let first = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let addr = replicas[first].probe_addr().expect("probe address logged");
    assert_eq!(master_status(&addr), Some(1.0));

    // 1. Shutdown with nowhere to release to.
    ns.cp.command("kill-apiserver");
    replicas[first].signal("TERM");
    let (unready, healthy_while_unready) =
        readiness_during_shutdown(&addr, t.renew_deadline + Duration::from_secs(3));
    assert!(
        unready > 0,
        "/readyz never answered 503 while shutting down"
    );
    assert!(
        healthy_while_unready,
        "/healthz must stay 200 while shutting down"
    );
    let status = replicas[first]
        .wait_exit(Duration::from_secs(10))
        .expect("it exits");
    assert_eq!(status.code(), Some(0));

    // 2. A new leader, then the API server goes away again.
    ns.cp.command("start-apiserver");
    let first_name = replicas[first].name.clone();
    let second = wait_for_new_leader(&ns, &replicas, &first_name, Duration::from_secs(30))
        .await
        .expect("another replica leads once the API server is back");
    let addr = replicas[second].probe_addr().expect("probe address logged");
    assert!(
        wait_for_master_status(&addr, 1.0, Duration::from_secs(5)).await,
        "the new leader's gauge is 1"
    );
    let errors_before = api_errors(&addr);
    ns.cp.command("kill-apiserver");
    let dropped =
        wait_for_master_status(&addr, 0.0, t.renew_deadline + Duration::from_secs(2)).await;
    assert!(
        dropped,
        "the leader gauge did not drop within the renew deadline"
    );
    assert!(
        api_errors(&addr) > errors_before,
        "failed renewals are counted"
    );
    assert_eq!(http_get(&addr, "/healthz").map(|(c, _)| c), Some(200));
    assert_eq!(http_get(&addr, "/readyz").map(|(c, _)| c), Some(200));
    ns.cp.command("start-apiserver");
    assert_no_panics(&replicas);
}
