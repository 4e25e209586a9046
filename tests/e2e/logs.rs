//! The replicas' log lines as programs read them: in either format, the lines the tests, the
//! chaos checker and the demo rely on carry their `event`, and the harness's one parser reads
//! both formats alike.

use std::time::Duration;

use k8sensus::log_event::{ACQUIRED, CAMPAIGNING, NEW_LEADER, WORK_RUN, WORK_STARTED};

use crate::support::*;

/// A replica logging plain text (the default: the cluster's pods and the demo read it) and one
/// logging JSON tell the same story in the same `event`s and fields, every line of either is
/// read as a log line, and `wait_for_leader`, which reads only events, works on both.
#[tokio::test]
async fn plain_and_json_logs_carry_the_same_events() {
    let ns = TestNamespace::new("logformats");
    let plain = SpawnOptions {
        env: vec![("LOG_FORMAT".into(), "plain".into())],
        ..SpawnOptions::default()
    };
    let replicas = [
        Replica::spawn_with(
            "pod-plain",
            &ns.name,
            &ns.sa_kubeconfig,
            Timings::SHORT,
            &[],
            &plain,
        ),
        ns.replica("pod-json", Timings::SHORT, &[]),
    ];
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    let standby = 1 - leader;
    let leader_name = replicas[leader].name.clone();
    wait_for(Duration::from_secs(10), || async {
        let announced = replicas[standby]
            .events(NEW_LEADER)
            .iter()
            .any(|l| l.field("holder") == Some(leader_name.as_str()));
        (announced && replicas[leader].events(WORK_RUN).len() >= 2).then_some(())
    })
    .await
    .expect("the leader works and the standby knows it");

    let lease_ref = format!("{}/{LEASE}", ns.name);
    for r in &replicas {
        assert!(
            r.events(CAMPAIGNING)
                .iter()
                .any(|l| l.field("lease") == Some(lease_ref.as_str())
                    && l.field("identity") == Some(r.name.as_str())),
            "{}: no campaigning line with the lease and identity:\n{}",
            r.name,
            r.raw_output()
        );
        let lines = r.raw_output().lines().filter(|l| !l.is_empty()).count();
        assert_eq!(
            r.logs().len(),
            lines,
            "{}: a line was not read as a log line:\n{}",
            r.name,
            r.raw_output()
        );
    }
    let acquired = replicas[leader].events(ACQUIRED);
    assert!(
        acquired
            .iter()
            .any(|l| l.field("lease") == Some(lease_ref.as_str()) && l.json["transitions"] == 0),
        "{:#?}",
        acquired
    );
    let started = &replicas[leader].events(WORK_STARTED)[0];
    assert_eq!(started.json["fencing_token"], 0, "{}", started.json);
    assert!(started.mono_ns().is_some(), "{}", started.json);
    let runs = replicas[leader].events(WORK_RUN);
    assert!(
        runs.iter()
            .all(|l| l.mono_ns().is_some_and(|m| m >= started.mono_ns().unwrap())),
        "{runs:#?}"
    );
    assert!(replicas[standby].events(WORK_RUN).is_empty());
    assert!(replicas[leader].says_leading() && !replicas[standby].says_leading());
    assert_no_panics(&replicas);
}
