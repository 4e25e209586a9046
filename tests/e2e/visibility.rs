//! Leadership made visible, against a real kube-apiserver: probes, Prometheus metrics,
//! Events on the Lease, the leader label on pods, and `k8sensus status`.
//! (The probes while the API server is gone are in tests/probes.rs, a binary of its own: it
//! stops the API server.)

use std::process::Stdio;
use std::time::Duration;

use crate::command::status;
use crate::support::proxy::{Proxy, socket_addr_of};
use crate::support::*;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams};

const LABEL: &str = "k8sensus.io/role";

/// Creates Pod objects named like the replicas, so the leader label has pods to go on (there
/// is no kubelet: they stay Pending, but they are real objects).
async fn create_pods(ns: &TestNamespace, names: &[&str]) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(ns.cp.admin_client().await, &ns.name);
    for name in names {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "spec": {
                "serviceAccountName": "k8sensus",
                "automountServiceAccountToken": false,
                "containers": [{ "name": "k8sensus", "image": "k8sensus:0.1.0" }]
            }
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
    }
    pods
}

async fn role_of(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name)
        .await
        .ok()?
        .metadata
        .labels?
        .get(LABEL)
        .cloned()
}

/// Probes answer, /metrics parses and shows who leads, Events appear on the Lease (in
/// `kubectl describe lease` too), the leader label moves on failover (a crash included),
/// and `k8sensus status` prints the holder and, watching, the handover with its gap.
#[tokio::test]
async fn leadership_is_visible_to_kubernetes_and_people() {
    let ns = TestNamespace::new("visible");
    let names = ["pod-a", "pod-b", "pod-c"];
    let pods = create_pods(&ns, &names).await;
    let kubeconfig = ns.cp.kubeconfig.to_str().unwrap();
    let mut watch_status = status(&["--watch"], &ns.name, &[("KUBECONFIG", kubeconfig)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut replicas: Vec<Replica> = names
        .iter()
        .map(|n| ns.replica(n, Timings::SHORT, &["--label-leader-pod"]))
        .collect();
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    let leader_name = replicas[leader].name.clone();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Probes and metrics.
    for (i, r) in replicas.iter().enumerate() {
        let addr = r.probe_addr().expect("the probe address is logged");
        assert_eq!(
            http_get(&addr, "/readyz").map(|(c, _)| c),
            Some(200),
            "{} /readyz",
            r.name
        );
        assert_eq!(
            http_get(&addr, "/healthz").map(|(c, _)| c),
            Some(200),
            "{} /healthz",
            r.name
        );
        let (code, body) = http_get(&addr, "/metrics").expect("/metrics answers");
        assert_eq!(code, 200);
        let metrics = Metrics::parse(&body).unwrap_or_else(|e| panic!("{e}:\n{body}"));
        let lease = [("name", LEASE)];
        let master = metrics.get("leader_election_master_status", &lease);
        assert_eq!(
            master,
            Some(if i == leader { 1.0 } else { 0.0 }),
            "{}:\n{body}",
            r.name
        );
        if i == leader {
            assert_eq!(metrics.get("k8sensus_fencing_token", &lease), Some(0.0));
            assert!(
                metrics
                    .get("k8sensus_renew_duration_seconds_count", &[])
                    .unwrap_or(0.0)
                    >= 2.0,
                "{body}"
            );
        }
    }

    // Events on the Lease, as kubectl shows them.
    let events: Api<Event> = Api::namespaced(ns.cp.admin_client().await, &ns.name);
    let became = format!("{leader_name} became leader");
    let found = wait_for(Duration::from_secs(10), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.message.as_deref() == Some(became.as_str()))
    })
    .await
    .expect("an Event says who became leader");
    assert_eq!(found.reason.as_deref(), Some("LeaderElection"));
    assert_eq!(found.involved_object.kind.as_deref(), Some("Lease"));
    let describe = ns
        .cp
        .kubectl_ok(&["describe", "lease", LEASE, "-n", &ns.name]);
    assert!(
        describe.contains(&became),
        "kubectl describe lease lacks the Event:\n{describe}"
    );

    // The label is on the leader's pod only.
    for name in names {
        let expected = (name == leader_name).then(|| "leader".to_string());
        assert_eq!(role_of(&pods, name).await, expected, "label on {name}");
    }

    // `status` shows the holder.
    let out = status(&[], &ns.name, &[("KUBECONFIG", kubeconfig)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("holder       {leader_name}")),
        "{text}"
    );
    assert!(text.contains("transitions  0"), "{text}");

    // Crash the leader: the label moves, and the new leader clears the old pod's label.
    replicas[leader].kill9();
    let new_name = wait_for(Timings::SHORT.crash_failover_bound(), || async {
        ns.holder().await.filter(|h| *h != leader_name)
    })
    .await
    .expect("a standby takes over");
    let moved = wait_for(Duration::from_secs(10), || async {
        let new = role_of(&pods, &new_name).await;
        let old = role_of(&pods, &leader_name).await;
        (new.as_deref() == Some("leader") && old.is_none()).then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "the leader label did not move from {leader_name} to {new_name}"
    );

    // `status --watch` printed the handover with its leaderless gap.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = watch_status.kill();
    let out = watch_status.wait_with_output().unwrap();
    let watched = String::from_utf8_lossy(&out.stdout);
    assert!(
        watched.lines().any(
            |l| l.contains(&format!("{new_name} took over from {leader_name}"))
                && l.contains("leaderless for")
        ),
        "status --watch did not report the handover:\n{watched}"
    );
    assert_no_panics(&replicas);
}

/// Replicas that each reach the API server through their own proxy, so one can be cut off.
fn replicas_behind_proxies(
    ns: &TestNamespace,
    names: &[&str],
    t: Timings,
) -> (Vec<Replica>, Vec<Proxy>) {
    let mut replicas = Vec::new();
    let mut proxies = Vec::new();
    for name in names {
        let proxy = Proxy::start(socket_addr_of(&ns.cp.server));
        let path = ns.kubeconfig_via(&format!("{name}-proxied"), &proxy.url());
        replicas.push(Replica::spawn(name, &ns.name, &path, t, &[]));
        proxies.push(proxy);
    }
    (replicas, proxies)
}

/// A leader wedged by blackholing its API traffic (its proxy accepts and never answers):
/// A. it steps down at its renew deadline (leader gauge 0, API errors counted), /healthz
///    stays 200 (a cut-off leader is not wedged inside, and a restart would not mend the
///    network), and another replica takes over;
/// B. a leader blackholed and sent SIGTERM at once answers /readyz 503 "shutting down" while
///    its release hangs (bounded by the renew deadline), keeps /healthz 200, and exits 0.
#[tokio::test]
async fn probes_flip_when_the_leaders_api_traffic_is_blackholed() {
    let t = Timings::SHORT;
    let ns = TestNamespace::new("blackhole");
    let (mut replicas, proxies) = replicas_behind_proxies(&ns, &["pod-a", "pod-b", "pod-c"], t);
    let first = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let addr = replicas[first].probe_addr().expect("probe address logged");
    assert_eq!(master_status(&addr), Some(1.0));

    // A.
    proxies[first].blackhole();
    let dropped =
        wait_for_master_status(&addr, 0.0, t.renew_deadline + Duration::from_secs(2)).await;
    assert!(
        dropped,
        "the blackholed leader's gauge did not drop within the renew deadline"
    );
    assert!(api_errors(&addr) >= 1.0, "the failed renewals are counted");
    assert_eq!(http_get(&addr, "/healthz").map(|(c, _)| c), Some(200));
    let first_name = replicas[first].name.clone();
    let second = wait_for_new_leader(&ns, &replicas, &first_name, t.crash_failover_bound())
        .await
        .expect("another replica takes over from the blackholed leader");

    // B.
    let addr = replicas[second].probe_addr().expect("probe address logged");
    assert!(
        wait_for_master_status(&addr, 1.0, Duration::from_secs(5)).await,
        "the new leader's gauge is 1"
    );
    proxies[second].blackhole();
    replicas[second].signal("TERM");
    let (unready, healthy) =
        readiness_during_shutdown(&addr, t.renew_deadline + Duration::from_secs(3));
    assert!(
        unready > 0,
        "/readyz never answered 503 while the blackholed leader shut down"
    );
    assert!(healthy, "/healthz must stay 200 while shutting down");
    let status = replicas[second]
        .wait_exit(Duration::from_secs(10))
        .expect("it exits");
    assert_eq!(status.code(), Some(0));
    assert_no_panics(&replicas);
}
