//! Election and failover of real `k8sensus` processes against a real kube-apiserver.
//!
//! Every replica runs with a token of the rbac.yaml ServiceAccount, so these tests also prove
//! the manifests grant enough. Most use short timings (4 s / 3 s / 0.5 s); one crash failover
//! runs with the walkthrough's 15 s / 10 s / 2 s. Bounds are generous correctness bounds; the
//! measured figures belong to `make bench`.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use k8sensus::log_event::{
    ACQUIRED, CAMPAIGNING, DUPLICATE_IDENTITY, NEW_LEADER, RELEASED, WORK_RUN, WORK_STARTED,
    WORK_STOPPED,
};
use kube::api::PostParams;

use crate::support::*;

fn three(ns: &TestNamespace, timings: Timings) -> Vec<Replica> {
    ns.replicas(&["pod-a", "pod-b", "pod-c"], timings, &[])
}

/// Waits until exactly one replica says it leads and the Lease names that same replica.
async fn wait_converged(ns: &TestNamespace, replicas: &[Replica], timeout: Duration) -> usize {
    let found = wait_for(timeout, || async {
        let holder = ns.holder().await?;
        let leading: Vec<usize> = (0..replicas.len())
            .filter(|&i| replicas[i].says_leading())
            .collect();
        match leading[..] {
            [only] if replicas[only].name == holder => Some(only),
            _ => None,
        }
    })
    .await;
    found.unwrap_or_else(|| panic!("replicas did not converge on one leader within {timeout:?}"))
}

fn spec(lease: Option<Lease>) -> LeaseSpec {
    lease.expect("lease exists").spec.expect("lease has a spec")
}

/// Three replicas produce exactly one leader; only it runs the sample task; the Lease names
/// it with the configured duration, an acquireTime, 0 transitions, and a renewTime that moves
/// about every retry period. The walkthrough's log lines appear (found by their `event`).
#[tokio::test]
async fn three_replicas_elect_exactly_one_leader() {
    let ns = TestNamespace::new("elect");
    let replicas = three(&ns, Timings::SHORT);
    let leader = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    let leader_name = replicas[leader].name.clone();

    // Watch renewTime for 5 s: with a 0.5 s retry period it should change about ten times.
    let mut renewals = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let renew = spec(ns.lease().await).renew_time.map(|t| t.0);
        if renewals.last() != Some(&renew) {
            renewals.push(renew);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        (5..=15).contains(&renewals.len()),
        "renewTime changed {} times in 5 s with a 0.5 s retry period",
        renewals.len()
    );

    let spec = spec(ns.lease().await);
    assert_eq!(spec.holder_identity.as_deref(), Some(leader_name.as_str()));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    assert!(spec.acquire_time.is_some());
    assert_eq!(spec.lease_transitions, Some(0));

    let lease_ref = format!("{}/{LEASE}", ns.name);
    for (i, r) in replicas.iter().enumerate() {
        let runs = r.events(WORK_RUN).len();
        let new_leader = r.events(NEW_LEADER);
        let announced = |holder: &str| {
            new_leader
                .iter()
                .filter(|l| l.field("holder") == Some(holder))
                .count()
        };
        if i == leader {
            assert!(
                runs >= 3,
                "the leader ran the sample task {runs} times in over 5 s"
            );
            assert_eq!(announced(&r.name), 1, "it announced itself once");
        } else {
            assert_eq!(runs, 0, "standby {} ran the sample task", r.name);
            assert!(
                announced(&leader_name) > 0,
                "{} never logged the new leader",
                r.name
            );
        }
        assert!(
            r.events(CAMPAIGNING)
                .iter()
                .any(|l| l.field("lease") == Some(lease_ref.as_str())),
            "{} never logged its campaign for {lease_ref}",
            r.name
        );
        assert!(
            new_leader
                .iter()
                .all(|l| l.field("holder").is_some_and(|h| !h.is_empty())),
            "a new leader was announced with no holder"
        );
    }
    assert_eq!(replicas.iter().filter(|r| r.says_leading()).count(), 1);
    assert!(
        replicas[leader]
            .events(ACQUIRED)
            .iter()
            .any(|l| l.field("lease") == Some(lease_ref.as_str()))
    );
    assert_no_panics(&replicas);
}

/// After `kill -9` of the leader another replica leads within LD + 2·RP·1.2 + 3 s, with one
/// more transition, and the sample task moves to it.
async fn crash_failover(timings: Timings, prefix: &str) {
    let ns = TestNamespace::new(prefix);
    let mut replicas = three(&ns, timings);
    let old = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    // Let the standbys see the leader renew at least once.
    tokio::time::sleep(timings.retry_period * 3).await;
    let before = spec(ns.lease().await);
    assert_eq!(
        before.lease_duration_seconds,
        Some(timings.lease_duration.as_secs() as i32)
    );

    let killed_at = Instant::now();
    replicas[old].kill9();
    let old_name = replicas[old].name.clone();
    let bound = timings.crash_failover_bound();
    let new = wait_for(bound, || async {
        let holder = ns.holder().await?;
        (holder != old_name).then_some(holder)
    })
    .await
    .unwrap_or_else(|| panic!("no takeover within {bound:?} of killing {old_name}"));
    let took = killed_at.elapsed();
    eprintln!("takeover by {new} {took:?} after kill -9 (bound {bound:?})");

    let after = spec(ns.lease().await);
    assert_eq!(
        after.lease_transitions,
        Some(before.lease_transitions.unwrap_or(0) + 1)
    );
    let new_replica = replicas
        .iter()
        .find(|r| r.name == new)
        .expect("holder is a replica");
    let moved = wait_for(Duration::from_secs(5), || async {
        new_replica
            .events(WORK_RUN)
            .iter()
            .any(|l| l.at > killed_at)
            .then_some(())
    })
    .await;
    assert!(moved.is_some(), "the sample task did not move to {new}");
    assert_no_panics(&replicas);
}

/// Crash failover with short timings.
#[tokio::test]
async fn crash_failover_short_timings() {
    crash_failover(Timings::SHORT, "crash").await;
}

/// Crash failover with the walkthrough's real timings, 15 s / 10 s / 2 s.
#[tokio::test]
async fn crash_failover_real_timings() {
    crash_failover(Timings::REAL, "crash-real").await;
}

/// On SIGTERM the leader stops its task, then releases the Lease, then exits 0; a standby
/// takes over within a few seconds (it need not wait out the lease duration).
#[tokio::test]
async fn graceful_failover_on_sigterm() {
    let ns = TestNamespace::new("graceful");
    let mut replicas = three(&ns, Timings::SHORT);
    let old = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = spec(ns.lease().await);

    let sent = Instant::now();
    replicas[old].signal("TERM");
    let status = replicas[old]
        .wait_exit(Duration::from_secs(10))
        .expect("the leader exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");

    let logs = replicas[old].logs();
    let pos = |event: &str| {
        logs.iter()
            .position(|l| l.is(event))
            .unwrap_or_else(|| panic!("the old leader never logged event {event:?}"))
    };
    // The last line has no `event` of its own: it is the one that says the process is done.
    let exited = logs
        .iter()
        .rposition(|l| l.message() == "k8sensus stopped")
        .expect("the old leader said it stopped");
    assert!(
        pos(WORK_STOPPED) < pos(RELEASED),
        "the task must stop before the release"
    );
    assert!(pos(RELEASED) < exited);
    assert!(logs.iter().skip(pos(WORK_STOPPED)).all(|l| !l.is(WORK_RUN)));

    let old_name = replicas[old].name.clone();
    let new = wait_for(Duration::from_secs(5), || async {
        ns.holder().await.filter(|h| *h != old_name)
    })
    .await
    .expect("a standby takes over a released lease within seconds");
    eprintln!("takeover by {new} {:?} after SIGTERM", sent.elapsed());
    let after = spec(ns.lease().await);
    assert_eq!(
        after.lease_transitions,
        Some(before.lease_transitions.unwrap_or(0) + 1)
    );
    assert_no_panics(&replicas);
}

/// Standbys watch the Lease, so a released Lease is taken over as soon as the release is
/// written, not at the next poll. With the real timings a poll would come 2 to 4.4 s later;
/// the bound here is 1.5 s, from the moment the old leader logged the release.
#[tokio::test]
async fn a_release_is_taken_over_without_waiting_a_poll_period() {
    let ns = TestNamespace::new("watch-release");
    let mut replicas = three(&ns, Timings::REAL);
    let old = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    // Give the standbys time to read the Lease and open their watches.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (new, took) = sigterm_and_time_takeover(&ns, &mut replicas, old).await;
    eprintln!("{new} took over {took:?} after the release was logged");
    assert!(
        took < Duration::from_millis(1500),
        "took {took:?}: as slow as a poll"
    );
    assert_no_panics(&replicas);
}

/// Deleting the Lease mid-term: the leader steps down, and the replicas converge on one
/// leader again, none crashing.
#[tokio::test]
async fn lease_deleted_mid_term() {
    let ns = TestNamespace::new("deleted");
    let mut replicas = three(&ns, Timings::SHORT);
    wait_converged(&ns, &replicas, Duration::from_secs(30)).await;
    ns.leases()
        .await
        .delete(LEASE, &Default::default())
        .await
        .expect("delete lease");
    // The leader notices at its next renewal.
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_converged(&ns, &replicas, Duration::from_secs(20)).await;
    for r in replicas.iter_mut() {
        assert!(r.is_running(), "{} exited", r.name);
    }
    assert_no_panics(&replicas);
}

/// Editing the Lease by hand to name someone else: the leader sees it at its next renewal
/// (409, then a read) and steps down; once the intruder fails to renew for a lease duration,
/// the replicas converge on one leader again.
#[tokio::test]
async fn lease_edited_to_another_holder() {
    let ns = TestNamespace::new("edited");
    let mut replicas = three(&ns, Timings::SHORT);
    let old = wait_converged(&ns, &replicas, Duration::from_secs(30)).await;
    let leases = ns.leases().await;
    // Retry on conflict: the leader renews every 0.5 s.
    for attempt in 0.. {
        let mut lease = leases.get(LEASE).await.unwrap();
        let spec = lease.spec.as_mut().unwrap();
        spec.holder_identity = Some("intruder".into());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match leases.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => break,
            Err(e) if attempt < 20 => eprintln!("edit conflicted, retrying: {e}"),
            Err(e) => panic!("could not edit the lease: {e}"),
        }
    }
    let stepped_down = wait_for(Duration::from_secs(5), || async {
        (!replicas[old].says_leading()).then_some(())
    })
    .await;
    assert!(
        stepped_down.is_some(),
        "the old leader kept leading after the lease named another holder"
    );
    wait_converged(&ns, &replicas, Duration::from_secs(20)).await;
    for r in replicas.iter_mut() {
        assert!(r.is_running(), "{} exited", r.name);
    }
    assert_no_panics(&replicas);
}

/// A record that names the leader but that it did not write (here: its renewTime changed by
/// hand, as a second process with the same identity would) makes it step down at once and
/// report the duplicate identity. It then honours that record like anyone else's and takes
/// the Lease back only after a lease duration, as a new term with a new fencing token.
#[tokio::test]
async fn a_record_with_our_name_that_we_did_not_write_makes_the_leader_step_down() {
    let ns = TestNamespace::new("twin");
    let replica = ns.replica("pod-a", Timings::SHORT, &[]);
    let replicas = [replica];
    wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    let leases = ns.leases().await;
    for attempt in 0.. {
        let mut lease = leases.get(LEASE).await.unwrap();
        let spec = lease.spec.as_mut().unwrap();
        assert_eq!(spec.lease_transitions, Some(0));
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match leases.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => break,
            Err(e) if attempt < 20 => eprintln!("edit conflicted, retrying: {e}"),
            Err(e) => panic!("could not edit the lease: {e}"),
        }
    }
    let edited = Instant::now();
    let stepped_down = wait_for(Duration::from_secs(5), || async {
        (!replicas[0].says_leading()).then_some(())
    })
    .await;
    assert!(stepped_down.is_some(), "the leader kept leading");
    assert!(
        replicas[0]
            .events(DUPLICATE_IDENTITY)
            .iter()
            .any(|l| l.field("identity") == Some("pod-a")),
        "the leader did not say why it stepped down"
    );
    let back = wait_for(Duration::from_secs(15), || async {
        let starts = replicas[0].events(WORK_STARTED);
        (starts.len() == 2).then(|| starts[1].clone())
    })
    .await
    .expect("it leads again once the record it did not write has expired");
    assert!(
        back.at.duration_since(edited)
            >= Timings::SHORT.lease_duration - Duration::from_millis(600),
        "it worked again {:?} after the edit, before that record could have expired",
        back.at.duration_since(edited)
    );
    assert_eq!(back.json["fencing_token"], 1, "{}", back.json);
    assert_no_panics(&replicas);
}

/// Creates the Lease by hand with the given spec before any replica starts.
async fn precreate(ns: &TestNamespace, spec: LeaseSpec) {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.into()),
            ..Default::default()
        },
        spec: Some(spec),
    };
    ns.leases()
        .await
        .create(&PostParams::default(), &lease)
        .await
        .expect("create lease");
}

/// A Lease held by a holder that is gone, with no leaseDurationSeconds, is taken over cleanly
/// after our own lease duration (never at once, never never).
///
/// A zero or negative duration cannot be stored: kube-apiserver answers 422, which this test
/// also checks. The elector's unit tests cover those values for servers that let them through.
#[tokio::test]
async fn odd_durations_are_taken_over_cleanly() {
    let ns = TestNamespace::new("odd");
    for bad in [0, -3] {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(LEASE.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some("ghost".into()),
                lease_duration_seconds: Some(bad),
                ..Default::default()
            }),
        };
        let err = ns
            .leases()
            .await
            .create(&PostParams::default(), &lease)
            .await
            .unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 422),
            "{bad}: {err}"
        );
    }
    precreate(
        &ns,
        LeaseSpec {
            holder_identity: Some("ghost".into()),
            lease_duration_seconds: None,
            lease_transitions: Some(5),
            ..Default::default()
        },
    )
    .await;
    let started = Instant::now();
    let replicas = three(&ns, Timings::SHORT);
    wait_converged(
        &ns,
        &replicas,
        Timings::SHORT.crash_failover_bound() + Duration::from_secs(2),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= Timings::SHORT.lease_duration,
        "took over after {took:?}, before our own lease duration had passed"
    );
    let spec = spec(ns.lease().await);
    assert_eq!(spec.lease_transitions, Some(6));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    assert_no_panics(&replicas);
}

/// A released Lease (empty holder) with an old renewTime is free: it is taken at once, not
/// after a lease duration.
#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let ns = TestNamespace::new("released");
    let old = Timestamp::from_second(1_600_000_000).unwrap();
    precreate(
        &ns,
        LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(old)),
            acquire_time: Some(MicroTime(old)),
            lease_transitions: Some(2),
            ..Default::default()
        },
    )
    .await;
    let started = Instant::now();
    let replicas = three(&ns, Timings::SHORT);
    wait_converged(&ns, &replicas, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(
        took < Timings::SHORT.lease_duration,
        "took {took:?}: a released lease must not wait out a lease duration"
    );
    assert_eq!(spec(ns.lease().await).lease_transitions, Some(3));
    assert_no_panics(&replicas);
}

/// Work that cannot be stopped ends the election with an error, and the Lease is left to
/// expire rather than released: a standby must not start the work while this copy may still
/// run. The work here blocks its thread and never reaches an await point, so neither
/// `Leadership::ended` nor the elector's abort can stop it.
#[test]
fn work_that_cannot_be_stopped_ends_the_election_without_a_release() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use k8sensus::elector::{ElectionConfig, ElectionError, LeaderElector};
    use tokio_util::sync::CancellationToken;

    // Two workers: the stuck work holds one, the elector runs on the other.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ns = TestNamespace::new("stuck-work");
    let (result, holder) = runtime.block_on(async {
        let client = client_for(&ns.sa_kubeconfig).await;
        let t = Timings::SHORT;
        let config = ElectionConfig::new(LEASE, ns.name.clone(), "stuck").with_timings(
            k8sensus::elector::Timings {
                lease_duration: t.lease_duration,
                renew_deadline: t.renew_deadline,
                retry_period: t.retry_period,
            },
        );
        let elector = LeaderElector::new(client, config).unwrap();
        let shutdown = CancellationToken::new();
        let working = Arc::new(AtomicBool::new(false));
        let (stop, flag) = (shutdown.clone(), working.clone());
        tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop.cancel();
        });
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            elector.run(shutdown, move |term| {
                let working = working.clone();
                async move {
                    if !term.started().await {
                        return;
                    }
                    working.store(true, Ordering::SeqCst);
                    // Never yields. block_in_place hands this worker's other tasks to another
                    // thread first, so that only this work is stuck, not the client's tasks.
                    tokio::task::block_in_place(|| {
                        loop {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    })
                }
            }),
        )
        .await
        .expect("the elector returned within 60 s");
        (result, ns.holder().await)
    });
    runtime.shutdown_background(); // the stuck thread is left behind on purpose
    assert!(
        matches!(result, Err(ElectionError::WorkWouldNotStop { .. })),
        "expected WorkWouldNotStop, got {result:?}"
    );
    assert_eq!(
        holder.as_deref(),
        Some("stuck"),
        "the Lease was released while the work may still run"
    );
}

/// A replica's /metrics, read through the harness's one parser.
fn metrics(replica: &Replica) -> Metrics {
    let addr = replica
        .probe_addr()
        .expect("the replica logged its probe address");
    Metrics::fetch(&addr).expect("the replica serves /metrics")
}

/// A takeover costs each standby at most one write, and no read and no new watch: every
/// standby sees the release on its watch and tries to claim the Lease; those that lose the
/// race learn who won from the same watch. (Before, each loser read the Lease again and
/// opened a new watch: three calls per standby per takeover, which adds up with a hundred.)
#[tokio::test]
async fn losing_standbys_learn_the_winner_from_their_watch() {
    let ns = TestNamespace::new("lost-race");
    let names = ["pod-a", "pod-b", "pod-c", "pod-d", "pod-e", "pod-f"];
    let mut replicas = ns.replicas(&names, Timings::SHORT, &[]);
    let old = wait_for_leader(&ns, &replicas, Duration::from_secs(30)).await;
    // Let every standby read the Lease and open its watch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<_> = replicas.iter().map(metrics).collect();

    replicas[old].signal("TERM");
    replicas[old]
        .wait_exit(Duration::from_secs(10))
        .expect("the leader exits after SIGTERM");
    let new = wait_for_new_leader(&ns, &replicas, names[old], Duration::from_secs(10))
        .await
        .expect("a standby takes over");
    // Let the losers receive the winner's write.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut writes = 0.0;
    for (i, replica) in replicas.iter().enumerate() {
        if i == old || i == new {
            continue;
        }
        let after = metrics(replica);
        // Lease API calls sent with this verb during the takeover (a verb not yet used has
        // no sample).
        let sent = |m: &Metrics, verb: &str| {
            m.get("k8sensus_api_requests_total", &[("verb", verb)])
                .unwrap_or(0.0)
        };
        let delta = |verb: &str| sent(&after, verb) - sent(&before[i], verb);
        assert_eq!(
            delta("get"),
            0.0,
            "{} read the lease during the takeover",
            replica.name
        );
        assert_eq!(
            delta("watch"),
            0.0,
            "{} opened a new watch during the takeover",
            replica.name
        );
        assert!(
            delta("update") <= 1.0,
            "{} wrote {} times",
            replica.name,
            delta("update")
        );
        writes += delta("update");
    }
    assert!(writes >= 1.0, "no standby tried to take the released lease");
    assert_no_panics(&replicas);
}
