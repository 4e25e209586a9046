//! Chaos: randomized faults against real `k8sensus` processes and a real kube-apiserver, each
//! trial checked for two leaders working at once.
//!
//! Every trial runs in a fresh namespace with its own replicas (3, or 10 for the start-together
//! case), each behind its own fault-injecting TCP proxy ([`support::proxy`]), with short
//! timings (4 s / 3 s / 0.5 s) and the sample task every 100 ms. A fault is injected at a random
//! moment within a retry period, with random durations; then the replicas must converge on one
//! leader again, every replica that was not ended on purpose must still run, no output may
//! show a panic, and the overlap checker ([`support::overlap`]) must find no two terms whose
//! work overlaps on the host's monotonic clock, to the nanosecond. The leaderless gap of each
//! trial is recorded.
//!
//! `K8SENSUS_CHAOS_TRIALS` trials of each fault (default 1: the smoke run of `cargo test`);
//! `make chaos` runs 20 and writes chaos/results.json, from which chaos/render.py writes
//! CHAOS.md. Other knobs: `K8SENSUS_CHAOS_ONLY=name,name` (a subset of faults),
//! `K8SENSUS_CHAOS_SEED` (the master seed, to replay the same random choices),
//! `K8SENSUS_CHAOS_PARALLEL` (trials run at once, default 3), `K8SENSUS_CHAOS_RESULTS` (where
//! to write the results; by default target/tmp/chaos-smoke/results.json, overwritten each run).
//!
//! Trials of independent namespaces run concurrently. The kube-apiserver restarts disturb
//! every namespace of this binary's control plane, so they run alone, after the others.

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use k8sensus::telemetry::monotonic_ns;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use support::overlap::{self, Term};
use support::proxy::{Proxy, socket_addr_of};
use support::*;
use tokio_util::sync::CancellationToken;

/// 4 s / 3 s / 0.5 s.
const T: Timings = Timings::SHORT;
const TASK_PERIOD: Duration = Duration::from_millis(100);
/// How fast the skewed standby's clock runs: the README's example of a tolerated skew.
const SKEW: f64 = 1.10;
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// -------------------------------------------------------------------------------------------
// The faults
// -------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill9,
    Sigterm,
    Sigstop,
    Partition,
    Latency,
    ConnectionReset,
    LeaseDeleted,
    LeaseEdited,
    StartTogether,
    ClockSkew,
    ApiserverRestart,
    SigstopDeleteResume,
    PartitionDeleteFresh,
    SameIdentity,
    RestartSameIdentity,
    MixedFleet,
    LeaseDuration1,
    LeaseDurationMax,
}

impl Fault {
    const ALL: [Fault; 18] = [
        Fault::Kill9,
        Fault::Sigterm,
        Fault::Sigstop,
        Fault::Partition,
        Fault::Latency,
        Fault::ConnectionReset,
        Fault::LeaseDeleted,
        Fault::LeaseEdited,
        Fault::StartTogether,
        Fault::ClockSkew,
        Fault::ApiserverRestart,
        Fault::SigstopDeleteResume,
        Fault::PartitionDeleteFresh,
        Fault::SameIdentity,
        Fault::RestartSameIdentity,
        Fault::MixedFleet,
        Fault::LeaseDuration1,
        Fault::LeaseDurationMax,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::Kill9 => "kill9_leader",
            Fault::Sigterm => "sigterm_leader",
            Fault::Sigstop => "sigstop_leader",
            Fault::Partition => "partition_leader",
            Fault::Latency => "latency_leader",
            Fault::ConnectionReset => "connection_reset_leader",
            Fault::LeaseDeleted => "lease_deleted",
            Fault::LeaseEdited => "lease_edited",
            Fault::StartTogether => "ten_start_together",
            Fault::ClockSkew => "standby_clock_fast",
            Fault::ApiserverRestart => "apiserver_restart",
            Fault::SigstopDeleteResume => "sigstop_takeover_delete_resume",
            Fault::PartitionDeleteFresh => "partition_delete_fresh_replica",
            Fault::SameIdentity => "two_with_one_identity",
            Fault::RestartSameIdentity => "kill9_restart_same_identity",
            Fault::MixedFleet => "mixed_fleet_client_go",
            Fault::LeaseDuration1 => "lease_duration_edited_to_1",
            Fault::LeaseDurationMax => "lease_duration_edited_to_max",
        }
    }

    fn what(self) -> String {
        let ld = T.lease_duration.as_secs_f64();
        let rd = T.renew_deadline.as_secs_f64();
        match self {
            Fault::Kill9 => "`kill -9` of the leader".into(),
            Fault::Sigterm => {
                "SIGTERM to the leader (graceful: stop the work, release the Lease, exit 0)".into()
            }
            Fault::Sigstop => format!(
                "SIGSTOP of the leader for {:.1}-{:.1} s (longer than the lease duration), then SIGCONT; the resumed process must not run the task again",
                ld + 0.3,
                ld + 2.5
            ),
            Fault::Partition => format!(
                "the leader's connection to the API server blackholed for {:.1}-{:.1} s, then healed",
                ld + 0.3,
                ld + 3.0
            ),
            Fault::Latency => format!(
                "{:.1}-{:.1} s of latency each way (above the {rd:.0} s renew deadline) on the leader's path for {:.1}-{:.1} s",
                rd + 0.2,
                rd + 1.5,
                ld + 1.0,
                ld + 3.0
            ),
            Fault::ConnectionReset => format!(
                "every connection of the leader reset (TCP RST), and every new one, for {:.1}-{:.1} s",
                ld + 0.3,
                ld + 2.0
            ),
            Fault::LeaseDeleted => "the Lease deleted mid-term (by an admin)".into(),
            Fault::LeaseEdited => {
                "the Lease edited mid-term to name another holder, who never renews".into()
            }
            Fault::StartTogether => {
                "ten replicas started back to back on a namespace with no Lease".into()
            }
            Fault::ClockSkew => format!(
                "one standby's clock running {:.0} % fast (libfaketime), then the leader partitioned as in partition_leader",
                (SKEW - 1.0) * 100.0
            ),
            Fault::ApiserverRestart => {
                "kube-apiserver killed (SIGKILL), kept down 0-3 s, restarted (2-3 s more)".into()
            }
            Fault::SigstopDeleteResume => {
                "SIGSTOP of the leader until another replica has taken over, then the Lease deleted, then SIGCONT 0-0.3 s later (the resumed leader finds no Lease)".into()
            }
            Fault::PartitionDeleteFresh => format!(
                "the leader partitioned; 0-{rd:.0} s later (while its term may still run) the Lease deleted and a fresh replica started; healed {:.1}-{:.1} s after the partition began",
                ld + 0.3,
                ld + 2.0
            ),
            Fault::SameIdentity => {
                "a fourth process started with the leader's identity, then (2-4 s later) the original leader killed with `kill -9`".into()
            }
            Fault::RestartSameIdentity => {
                "`kill -9` of the leader and, at once, a new process with the same identity (a container restarted by the kubelet); in every other trial the leader runs alone, so the restarted process leads next; the next term's fencing token must be higher".into()
            }
            Fault::MixedFleet => {
                "two k8sensus replicas and two client-go reference replicas (bench/client-go-ref) on one Lease; the leader, of either kind, killed with `kill -9` or SIGTERM (each of the four combinations in turn)".into()
            }
            Fault::LeaseDuration1 => format!(
                "the leader partitioned and leaseDurationSeconds hand-edited to 1 on its live record; healed {:.1}-{:.1} s later",
                ld + 0.3,
                ld + 2.0
            ),
            Fault::LeaseDurationMax => {
                "leaseDurationSeconds hand-edited to 2147483647 on the live holder's record, then the leader killed with `kill -9` 1-2 s later".into()
            }
        }
    }

    /// Faults that disturb every namespace of the control plane: they run alone.
    fn exclusive(self) -> bool {
        self == Fault::ApiserverRestart
    }

    fn by_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    async fn inject(self, t: &mut Trial) -> Result<(), String> {
        match self {
            Fault::Kill9 => kill9_leader(t).await,
            Fault::Sigterm => sigterm_leader(t).await,
            Fault::Sigstop => sigstop_leader(t).await,
            Fault::Partition => partition_leader(t).await,
            Fault::Latency => latency_leader(t).await,
            Fault::ConnectionReset => connection_reset_leader(t).await,
            Fault::LeaseDeleted => lease_deleted(t).await,
            Fault::LeaseEdited => lease_edited(t).await,
            Fault::StartTogether => ten_start_together(t).await,
            Fault::ClockSkew => standby_clock_fast(t).await,
            Fault::ApiserverRestart => apiserver_restart(t).await,
            Fault::SigstopDeleteResume => sigstop_takeover_delete_resume(t).await,
            Fault::PartitionDeleteFresh => partition_delete_fresh_replica(t).await,
            Fault::SameIdentity => two_with_one_identity(t).await,
            Fault::RestartSameIdentity => kill9_restart_same_identity(t).await,
            Fault::MixedFleet => mixed_fleet_client_go(t).await,
            Fault::LeaseDuration1 => lease_duration_edited(t, 1).await,
            Fault::LeaseDurationMax => lease_duration_edited(t, i32::MAX).await,
        }
    }
}

async fn kill9_leader(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    t.fault_on(leader);
    t.c().replicas[leader].kill9();
    t.healed();
    Ok(())
}

async fn sigterm_leader(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    t.fault_on(leader);
    let replica = &mut t.c().replicas[leader];
    replica.signal("TERM");
    let status = replica.wait_exit(Duration::from_secs(15));
    t.healed();
    match status {
        Some(s) if s.code() == Some(0) => Ok(()),
        Some(s) => Err(format!("the leader exited with {s} after SIGTERM, not 0")),
        None => Err("the leader did not exit within 15 s of SIGTERM".into()),
    }
}

async fn sigstop_leader(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let pause = T.lease_duration + secs(t.rng.random_range(0.3..2.5));
    t.fault_on(leader);
    t.c().replicas[leader].signal("STOP");
    // The process is stopped once `kill` has returned: no run can carry a later mono_ns
    // unless it happened after SIGCONT, and by then the term's deadline (at most a renew
    // deadline after the last renewal began, which was before now) has passed.
    let stopped_ns = monotonic_ns();
    tokio::time::sleep(pause).await;
    let continued_ns = monotonic_ns();
    let continued_at = Instant::now();
    t.c().replicas[leader].signal("CONT");
    t.healed();
    // Give it time to notice and say so.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let replica = &t.c().replicas[leader];
    let logs = replica.logs();
    let terms = overlap::terms_in_logs(&replica.name, &logs);
    // The old term's lines: from its "starting" line up to the next one, if any.
    let mono = |l: &LogLine| l.json["mono_ns"].as_u64().unwrap_or(0);
    let opened = logs
        .iter()
        .rposition(|l| l.message() == overlap::START && mono(l) < stopped_ns)
        .unwrap_or(0);
    let late: Vec<&LogLine> = logs[opened..]
        .iter()
        .skip(1)
        .take_while(|l| l.message() != overlap::START)
        .filter(|l| l.message() == overlap::RUN && mono(l) > stopped_ns)
        .collect();
    let after_resume: Vec<Value> = logs
        .iter()
        .filter(|l| l.at >= continued_at)
        .take(8)
        .map(|l| {
            let ms = |d: f64| (d * 10.0).round() / 10.0;
            let received = l.at.duration_since(continued_at).as_secs_f64() * 1e3;
            let mut line =
                json!({ "message": l.message(), "received_ms_after_sigcont": ms(received) });
            if let Some(m) = l.json["mono_ns"].as_u64() {
                line["ms_after_sigcont"] = json!(ms((m as f64 - continued_ns as f64) / 1e6));
            }
            if let Some(token) = l.json["fencing_token"].as_i64() {
                line["fencing_token"] = json!(token);
            }
            line
        })
        .collect();
    let term_over = logs
        .iter()
        .any(|l| l.at >= continued_at && l.message().starts_with("the term of leadership is over"));
    let old_token = overlap::term_at(&terms, &replica.name, stopped_ns).map(|t| t.fencing_token);
    t.note("stopped_s", json!(round3(pause.as_secs_f64())));
    t.note("old_fencing_token", json!(old_token));
    t.note("runs_after_sigstop", json!(late.len()));
    t.note("logged_term_over", json!(term_over));
    t.note("after_resume", Value::Array(after_resume));
    if let Some(first) = late.first() {
        return Err(format!(
            "the resumed leader ran the sample task after its deadline: {}",
            first.json
        ));
    }
    Ok(())
}

async fn partition_leader(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..3.0));
    t.fault_on(leader);
    t.c().proxies[leader].blackhole();
    tokio::time::sleep(hold).await;
    t.c().proxies[leader].pass();
    t.healed();
    t.note("partitioned_s", json!(round3(hold.as_secs_f64())));
    t.note_takeover_delay(leader);
    Ok(())
}

async fn latency_leader(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let delay = T.renew_deadline + secs(t.rng.random_range(0.2..1.5));
    let hold = T.lease_duration + secs(t.rng.random_range(1.0..3.0));
    t.fault_on(leader);
    t.c().proxies[leader].latency(delay);
    tokio::time::sleep(hold).await;
    t.c().proxies[leader].pass();
    t.healed();
    t.note("latency_s", json!(round3(delay.as_secs_f64())));
    t.note("held_s", json!(round3(hold.as_secs_f64())));
    t.note_takeover_delay(leader);
    Ok(())
}

async fn connection_reset_leader(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    t.fault_on(leader);
    t.c().proxies[leader].reset();
    tokio::time::sleep(hold).await;
    t.c().proxies[leader].pass();
    t.healed();
    t.note("reset_for_s", json!(round3(hold.as_secs_f64())));
    Ok(())
}

async fn lease_deleted(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let leases = t.c().ns.leases().await;
    t.fault_on(leader);
    leases
        .delete(LEASE, &Default::default())
        .await
        .map_err(|e| format!("could not delete the lease: {e}"))?;
    t.healed();
    Ok(())
}

async fn lease_edited(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let leases = t.c().ns.leases().await;
    let intruder = format!("intruder-{}", random_suffix());
    t.fault_on(leader);
    // The leader renews every 0.5 s: retry on conflict.
    for attempt in 0.. {
        let mut lease = leases
            .get(LEASE)
            .await
            .map_err(|e| format!("could not read the lease: {e}"))?;
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.holder_identity = Some(intruder.clone());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match leases.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => break,
            Err(_) if attempt < 20 => {}
            Err(e) => return Err(format!("could not edit the lease: {e}")),
        }
    }
    t.healed();
    Ok(())
}

async fn ten_start_together(t: &mut Trial) -> Result<(), String> {
    let names: Vec<String> = (0..10).map(|i| format!("replica-{i}")).collect();
    let mut cluster = Cluster::new("chaos-ten");
    // Proxies and kubeconfigs first, so the processes start back to back.
    let prepared: Vec<(Proxy, PathBuf)> = names.iter().map(|n| cluster.prepare(n)).collect();
    t.start_ns = Some(monotonic_ns());
    for (name, (proxy, kubeconfig)) in names.iter().zip(prepared) {
        cluster.spawn(name, proxy, &kubeconfig, Vec::new());
    }
    t.cluster = Some(cluster);
    t.healed();
    Ok(())
}

async fn standby_clock_fast(t: &mut Trial) -> Result<(), String> {
    let library = libfaketime()?;
    let mut cluster = Cluster::new("chaos-skew");
    for name in ["replica-a", "replica-b"] {
        cluster.add(name, Vec::new());
    }
    t.cluster = Some(cluster);
    let leader = t.c().converged(&[], Duration::from_secs(30)).await?;
    // The skewed replica joins as a standby. libfaketime makes CLOCK_MONOTONIC (and the wall
    // clock) run SKEW times as fast for it; `mono_ns` is read through the vDSO, which
    // libfaketime cannot reach, so its runs stay on the true host clock for the checker.
    let skewed = t.c().add(
        "replica-fast",
        vec![
            ("LD_PRELOAD".into(), library.display().to_string()),
            ("FAKETIME".into(), format!("+0 x{SKEW}")),
        ],
    );
    t.c().watch_lease();
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.warm_up().await;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    t.fault_on(leader);
    t.c().proxies[leader].blackhole();
    tokio::time::sleep(hold).await;
    t.c().proxies[leader].pass();
    t.healed();
    t.note("partitioned_s", json!(round3(hold.as_secs_f64())));
    let next = t.note_takeover_delay(leader);
    t.note(
        "skewed_standby_took_over",
        json!(next.as_deref() == Some("replica-fast")),
    );

    // Measure the skewed replica's clock as Rust sees it: its task ticks every 100 ms of its
    // own (faked) tokio clock, and each run is stamped with the true CLOCK_MONOTONIC. If it
    // did not take over, kill whoever leads so that it does (it is the fastest to expire).
    let gone = t.gone.clone();
    let now_leading = t.c().converged(&gone, Duration::from_secs(30)).await?;
    if now_leading != skewed {
        let name = t.c().replicas[now_leading].name.clone();
        t.c().replicas[now_leading].kill9();
        t.gone.push(name);
        t.note("killed_to_let_it_lead", json!(true));
        let gone = t.gone.clone();
        t.c().converged(&gone, Duration::from_secs(30)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The median spacing of its runs on the true clock: robust to a tick skipped under load.
    let replica = &t.c().replicas[skewed];
    let terms = overlap::terms_in_logs(&replica.name, &replica.logs());
    let Some(term) = terms.iter().max_by_key(|t| t.runs).filter(|t| t.runs >= 10) else {
        return Err("the skewed replica never led long enough to measure its clock".into());
    };
    let runs: Vec<u64> = replica
        .logs()
        .iter()
        .filter(|l| l.message() == overlap::RUN)
        .filter_map(|l| l.json["mono_ns"].as_u64())
        .filter(|m| (term.first_ns..=term.last_ns).contains(m))
        .collect();
    let mut spacings: Vec<f64> = runs.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    spacings.sort_by(f64::total_cmp);
    let median = percentile(&spacings, 50.0).unwrap_or(f64::NAN) / 1e9;
    let rate = TASK_PERIOD.as_secs_f64() / median;
    t.note("measured_clock_rate", json!(round3(rate)));
    if !(SKEW - 0.05..SKEW + 0.05).contains(&rate) {
        return Err(format!(
            "the skewed replica's clock ran at {rate:.3}x the host's, not about {SKEW}x: libfaketime did not take effect as intended"
        ));
    }
    Ok(())
}

async fn apiserver_restart(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let down = secs(t.rng.random_range(0.0..3.0));
    let cp = control_plane();
    t.fault_on(leader);
    cp.command("kill-apiserver");
    tokio::time::sleep(down).await;
    let restart = Instant::now();
    cp.command("start-apiserver");
    t.healed();
    t.note("kept_down_s", json!(round3(down.as_secs_f64())));
    t.note(
        "restart_took_s",
        json!(round3(restart.elapsed().as_secs_f64())),
    );
    t.recovery_timeout = Duration::from_secs(60);
    Ok(())
}

async fn sigstop_takeover_delete_resume(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let name = t.c().replicas[leader].name.clone();
    let leases = t.c().ns.leases().await;
    t.fault_on(leader);
    t.c().replicas[leader].signal("STOP");
    let stopped = Instant::now();
    let taken = {
        let ns = &t.c().ns;
        let name = &name;
        wait_for(Duration::from_secs(20), || async move {
            let holder = ns.holder().await?;
            (holder != *name).then_some(holder)
        })
        .await
    };
    let Some(taken_by) = taken else {
        t.c().replicas[leader].signal("CONT");
        return Err("no replica took over from the frozen leader within 20 s".into());
    };
    tokio::time::sleep(secs(t.rng.random_range(0.0..T.retry_period.as_secs_f64()))).await;
    leases
        .delete(LEASE, &Default::default())
        .await
        .map_err(|e| format!("could not delete the lease: {e}"))?;
    tokio::time::sleep(secs(t.rng.random_range(0.0..0.3))).await;
    t.c().replicas[leader].signal("CONT");
    t.healed();
    t.note("taken_over_by", json!(taken_by));
    t.note("stopped_s", json!(round3(stopped.elapsed().as_secs_f64())));
    Ok(())
}

async fn partition_delete_fresh_replica(t: &mut Trial) -> Result<(), String> {
    t.watch = true;
    let leader = t.start(3).await?;
    let leases = t.c().ns.leases().await;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    let delete_after = secs(t.rng.random_range(0.0..T.renew_deadline.as_secs_f64()));
    t.fault_on(leader);
    t.c().proxies[leader].blackhole();
    let partitioned = Instant::now();
    tokio::time::sleep(delete_after).await;
    leases
        .delete(LEASE, &Default::default())
        .await
        .map_err(|e| format!("could not delete the lease: {e}"))?;
    t.c().add("replica-fresh", Vec::new());
    tokio::time::sleep_until((partitioned + hold).into()).await;
    t.c().proxies[leader].pass();
    t.healed();
    t.note("deleted_after_s", json!(round3(delete_after.as_secs_f64())));
    t.note("partitioned_s", json!(round3(hold.as_secs_f64())));
    Ok(())
}

async fn two_with_one_identity(t: &mut Trial) -> Result<(), String> {
    let leader = t.start(3).await?;
    let identity = t.c().replicas[leader].name.clone();
    t.fault_on(leader);
    let twin = t.c().add_as("replica-twin", &identity);
    tokio::time::sleep(secs(t.rng.random_range(2.0..4.0))).await;
    t.c().replicas[leader].kill9();
    t.gone.push(identity.clone());
    t.healed();
    let reported = !t.c().replicas[twin]
        .lines_with("two replicas share one identity")
        .is_empty();
    t.note("twin_reported_duplicate", json!(reported));
    if !reported {
        return Err(format!(
            "the second process with identity {identity} never reported the duplicate identity"
        ));
    }
    Ok(())
}

async fn kill9_restart_same_identity(t: &mut Trial) -> Result<(), String> {
    // In every other trial the leader is alone, so the restarted process must be the one to
    // lead next: it finds its own name in the Lease, written by its predecessor.
    let alone = t.index % 2 == 1;
    let leader = t.start(if alone { 1 } else { 3 }).await?;
    let identity = t.c().replicas[leader].name.clone();
    t.fault_on(leader);
    t.c().replicas[leader].kill9();
    t.gone.push(identity.clone());
    let restarted = t.c().add_as(&format!("{identity}-restarted"), &identity);
    t.healed();
    // Whoever leads next, a new term has a new fencing token, the restarted process included.
    let gone = t.gone.clone();
    let next = t.c().converged(&gone, Duration::from_secs(30)).await?;
    let terms = t.c().terms();
    let old = t
        .fault_on
        .as_ref()
        .and_then(|(n, at)| overlap::term_at(&terms, n, *at))
        .map(|term| term.fencing_token);
    let name = t.c().replicas[next].name.clone();
    let new = terms
        .iter()
        .filter(|term| term.replica == name)
        .max_by_key(|term| term.first_ns)
        .map(|term| term.fencing_token);
    t.note("alone", json!(alone));
    t.note("restarted_took_over", json!(next == restarted));
    if alone && next != restarted {
        return Err("the restarted process, the only one left, did not lead next".into());
    }
    t.note("old_fencing_token", json!(old));
    t.note("new_fencing_token", json!(new));
    match (old, new) {
        (Some(old), Some(new)) if new > old => Ok(()),
        _ => Err(format!(
            "the next term's fencing token ({new:?}) is not above the killed leader's ({old:?})"
        )),
    }
}

async fn mixed_fleet_client_go(t: &mut Trial) -> Result<(), String> {
    let binary = client_go_ref()?;
    // Each combination in turn: (which kind leads, which signal).
    let go_leads = t.index % 2 == 1;
    let sigterm = t.index % 4 >= 2;
    let mut cluster = Cluster::new("chaos-mixed");
    // The kind that is to lead starts first, alone.
    let order: [(&str, bool); 4] = if go_leads {
        [
            ("go-a", true),
            ("rs-a", false),
            ("go-b", true),
            ("rs-b", false),
        ]
    } else {
        [
            ("rs-a", false),
            ("go-a", true),
            ("rs-b", false),
            ("go-b", true),
        ]
    };
    let start = |cluster: &mut Cluster, (name, go): (&str, bool)| {
        if go {
            cluster.add_client_go(name, &binary);
        } else {
            cluster.add(name, Vec::new());
        }
    };
    start(&mut cluster, order[0]);
    t.cluster = Some(cluster);
    let leader = t.c().converged(&[], Duration::from_secs(30)).await?;
    for &replica in &order[1..] {
        start(t.c(), replica);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.warm_up().await;
    let name = t.c().replicas[leader].name.clone();
    t.note(
        "leader_kind",
        json!(if go_leads { "client-go" } else { "k8sensus" }),
    );
    t.note("signal", json!(if sigterm { "TERM" } else { "KILL" }));
    t.fault_on(leader);
    t.gone.push(name.clone());
    if sigterm {
        t.c().replicas[leader].signal("TERM");
        let status = t.c().replicas[leader].wait_exit(Duration::from_secs(15));
        t.healed();
        match status {
            Some(s) if s.code() == Some(0) => {}
            Some(s) => return Err(format!("{name} exited with {s} after SIGTERM, not 0")),
            None => return Err(format!("{name} did not exit within 15 s of SIGTERM")),
        }
    } else {
        t.c().replicas[leader].kill9();
        t.healed();
    }
    Ok(())
}

async fn lease_duration_edited(t: &mut Trial, seconds: i32) -> Result<(), String> {
    let leader = t.start(3).await?;
    let leases = t.c().ns.leases().await;
    let partition = seconds < T.lease_duration.as_secs() as i32;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    t.fault_on(leader);
    let partitioned = Instant::now();
    if partition {
        // The leader's term runs on for up to a renew deadline; a standby that honoured the
        // 1 s written in the record would take over long before that.
        t.c().proxies[leader].blackhole();
    }
    for attempt in 0.. {
        let mut lease = leases
            .get(LEASE)
            .await
            .map_err(|e| format!("could not read the lease: {e}"))?;
        lease
            .spec
            .get_or_insert_with(Default::default)
            .lease_duration_seconds = Some(seconds);
        match leases.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(_) => break,
            Err(_) if attempt < 20 => {}
            Err(e) => return Err(format!("could not edit the lease: {e}")),
        }
    }
    if partition {
        tokio::time::sleep_until((partitioned + hold).into()).await;
        t.c().proxies[leader].pass();
    } else {
        // The live leader overwrites the edit at its next renewal; then it is killed, and the
        // standbys must take over after the usual lease duration, not 68 years.
        tokio::time::sleep(secs(t.rng.random_range(1.0..2.0))).await;
        let name = t.c().replicas[leader].name.clone();
        t.c().replicas[leader].kill9();
        t.gone.push(name);
    }
    t.healed();
    let warned = t
        .c()
        .replicas
        .iter()
        .any(|r| !r.lines_with("longer than k8sensus honours").is_empty());
    t.note("a_standby_warned_of_the_cap", json!(warned));
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// libfaketime's preload library, or an error that says how to install it.
fn libfaketime() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("K8SENSUS_LIBFAKETIME") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "K8SENSUS_LIBFAKETIME={} is not a file",
                path.display()
            ))
        };
    }
    let mut candidates = vec![
        PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1"),
        PathBuf::from("/usr/local/lib/faketime/libfaketimeMT.so.1"),
    ];
    if let Ok(dirs) = std::fs::read_dir("/usr/lib") {
        for dir in dirs.flatten() {
            candidates.push(dir.path().join("faketime/libfaketimeMT.so.1"));
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "the standby_clock_fast fault needs libfaketime, which was not found \
         (looked for faketime/libfaketimeMT.so.1 under /usr/lib, /usr/lib/<arch> and /usr/local/lib). \
         Install it with `apt-get install faketime` (Debian/Ubuntu; it pulls in libfaketime), \
         or point K8SENSUS_LIBFAKETIME at libfaketimeMT.so.1"
            .to_string()
    })
}

/// The client-go reference elector (bench/client-go-ref), built once per run with `go build`
/// into the target directory.
fn client_go_ref() -> Result<PathBuf, String> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("client-go-ref/client-go-ref");
            let status = std::process::Command::new("go")
                .args(["build", "-trimpath", "-o"])
                .arg(&out)
                .arg(".")
                .current_dir(Path::new(REPO).join("bench/client-go-ref"))
                .env("CGO_ENABLED", "0")
                .status()
                .map_err(|e| format!("cannot run `go build` for bench/client-go-ref (is Go installed? make deps): {e}"))?;
            if !status.success() {
                return Err(format!("`go build` of bench/client-go-ref failed: {status}"));
            }
            Ok(out)
        })
        .clone()
}

// -------------------------------------------------------------------------------------------
// One trial's world: a namespace, replicas, their proxies
// -------------------------------------------------------------------------------------------

/// Replicas and their proxies in a fresh namespace. Dropping it kills the replicas, stops the
/// proxies and the Lease watcher, and deletes the namespace (fields drop in this order).
struct Cluster {
    replicas: Vec<Replica>,
    /// The identity each replica writes into the Lease (its name, unless chosen otherwise).
    identities: Vec<String>,
    proxies: Vec<Proxy>,
    watcher: Option<LeaseWatcher>,
    ns: TestNamespace,
}

impl Cluster {
    fn new(prefix: &str) -> Self {
        Self {
            replicas: Vec::new(),
            identities: Vec::new(),
            proxies: Vec::new(),
            watcher: None,
            ns: TestNamespace::new(prefix),
        }
    }

    /// A proxy to the API server and a kubeconfig for the ServiceAccount that goes through it.
    fn prepare(&self, name: &str) -> (Proxy, PathBuf) {
        let proxy = Proxy::start(socket_addr_of(&self.ns.cp.server));
        let text = std::fs::read_to_string(&self.ns.sa_kubeconfig).expect("read the kubeconfig");
        let direct = format!("server: {}\n", self.ns.cp.server);
        assert!(text.contains(&direct), "unexpected kubeconfig:\n{text}");
        let via_proxy = text.replace(&direct, &format!("server: {}\n", proxy.url()));
        let path = self
            .ns
            .cp
            .dir
            .join(format!("{}-{name}-proxied.kubeconfig", self.ns.name));
        std::fs::write(&path, via_proxy).expect("write the kubeconfig");
        (proxy, path)
    }

    fn spawn(
        &mut self,
        name: &str,
        proxy: Proxy,
        kubeconfig: &Path,
        env: Vec<(String, String)>,
    ) -> usize {
        let options = SpawnOptions {
            task_period: format!("{}ms", TASK_PERIOD.as_millis()),
            env,
            echo: false,
        };
        let identity = options
            .env
            .iter()
            .find(|(k, _)| k == "POD_NAME")
            .map_or(name.to_string(), |(_, v)| v.clone());
        let replica = Replica::spawn_with(name, &self.ns.name, kubeconfig, T, &[], &options);
        self.replicas.push(replica);
        self.identities.push(identity);
        self.proxies.push(proxy);
        self.replicas.len() - 1
    }

    fn add(&mut self, name: &str, env: Vec<(String, String)>) -> usize {
        let (proxy, kubeconfig) = self.prepare(name);
        self.spawn(name, proxy, &kubeconfig, env)
    }

    /// A replica called `name` (in the results) that runs with another's `identity`.
    fn add_as(&mut self, name: &str, identity: &str) -> usize {
        self.add(name, vec![("POD_NAME".into(), identity.into())])
    }

    /// A client-go reference replica, with the same timings and task period.
    fn add_client_go(&mut self, name: &str, binary: &Path) -> usize {
        let (proxy, kubeconfig) = self.prepare(name);
        let go = |d: Duration| format!("{}ms", d.as_millis());
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"])
            .arg(binary)
            .arg(format!("--lease-name={LEASE}"))
            .arg(format!("--lease-namespace={}", self.ns.name))
            .arg(format!("--identity={name}"))
            .arg(format!("--lease-duration={}", go(T.lease_duration)))
            .arg(format!("--renew-deadline={}", go(T.renew_deadline)))
            .arg(format!("--retry-period={}", go(T.retry_period)))
            .arg(format!("--task-period={}", go(TASK_PERIOD)))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &kubeconfig);
        self.replicas.push(Replica::spawn_command(name, cmd, false));
        self.identities.push(name.to_string());
        self.proxies.push(proxy);
        self.replicas.len() - 1
    }

    fn watch_lease(&mut self) {
        self.watcher = Some(LeaseWatcher::start(
            self.ns.cp.kubeconfig.clone(),
            self.ns.name.clone(),
        ));
    }

    /// Waits until exactly one replica (of those not in `gone`) says it leads, the Lease names
    /// it, and it has run the sample task since it took the Lease.
    async fn converged(&self, gone: &[String], timeout: Duration) -> Result<usize, String> {
        self.converged_after(gone, 0, 1, timeout).await
    }

    /// Like [`Cluster::converged`], and the leader has run the task `runs` times after
    /// `after_ns`.
    async fn converged_after(
        &self,
        gone: &[String],
        after_ns: u64,
        runs: usize,
        timeout: Duration,
    ) -> Result<usize, String> {
        let found = wait_for(timeout, || async {
            let holder = self.ns.holder().await?;
            let leading: Vec<usize> = (0..self.replicas.len())
                .filter(|&i| !gone.contains(&self.replicas[i].name))
                .filter(|&i| self.replicas[i].says_leading())
                .collect();
            let [only] = leading[..] else { return None };
            let replica = &self.replicas[only];
            if self.identities[only] != holder {
                return None;
            }
            let logs = replica.logs();
            let acquired = logs
                .iter()
                .rposition(|l| l.message().starts_with("successfully acquired lease"))?;
            let recent = logs[acquired..]
                .iter()
                .filter(|l| overlap::is_run(l))
                .filter(|l| l.json["mono_ns"].as_u64().is_some_and(|m| m > after_ns))
                .count();
            (recent >= runs).then_some(only)
        })
        .await;
        found.ok_or_else(|| {
            let leading: Vec<&str> = self
                .replicas
                .iter()
                .filter(|r| r.says_leading())
                .map(|r| r.name.as_str())
                .collect();
            format!(
                "the replicas did not converge on one working leader within {timeout:?} (saying they lead: {leading:?})"
            )
        })
    }

    /// Every term of every replica, from their logs so far.
    fn terms(&self) -> Vec<Term> {
        self.replicas
            .iter()
            .flat_map(|r| overlap::terms_in_logs(&r.name, &r.logs()))
            .collect()
    }

    /// Kills every replica that still runs, and lets their log readers drain.
    async fn stop(&mut self) {
        for r in &mut self.replicas {
            r.kill9();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Every replica's whole output, for a failed trial.
    fn dump(&self) -> String {
        let mut text = String::new();
        for r in &self.replicas {
            text.push_str(&format!("===== {} =====\n{}\n", r.name, r.raw_output()));
        }
        if let Some(w) = &self.watcher {
            text.push_str("===== the Lease as the test watched it =====\n");
            for e in w.events() {
                text.push_str(&format!("{:?} {:?}\n", e.at, e.holder));
            }
        }
        text
    }
}

/// One change of the Lease, as the test saw it.
#[derive(Clone, Debug)]
struct LeaseEvent {
    at: Instant,
    holder: Option<String>,
}

/// Watches the Lease as admin, on a thread of its own, and records each change's holder and
/// the instant it arrived: the timeline standbys see.
struct LeaseWatcher {
    events: Arc<Mutex<Vec<LeaseEvent>>>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl LeaseWatcher {
    fn start(kubeconfig: PathBuf, namespace: String) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (events2, stop2) = (events.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the watcher's runtime");
            runtime.block_on(async move {
                let leases: Api<Lease> = Api::namespaced(client_for(&kubeconfig).await, &namespace);
                let params = WatchParams::default().fields(&format!("metadata.name={LEASE}"));
                while !stop2.is_cancelled() {
                    let Ok(stream) = leases.watch(&params, "0").await else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    let mut stream = stream.boxed();
                    loop {
                        let event = tokio::select! {
                            _ = stop2.cancelled() => return,
                            event = stream.next() => event,
                        };
                        let holder = match event {
                            Some(Ok(WatchEvent::Added(l) | WatchEvent::Modified(l))) => l
                                .spec
                                .and_then(|s| s.holder_identity)
                                .filter(|h| !h.is_empty()),
                            Some(Ok(WatchEvent::Deleted(_))) => None,
                            Some(Ok(_)) => continue,
                            Some(Err(_)) | None => break,
                        };
                        events2.lock().unwrap().push(LeaseEvent {
                            at: Instant::now(),
                            holder,
                        });
                    }
                }
            });
        });
        Self {
            events,
            stop,
            thread: Some(thread),
        }
    }

    fn events(&self) -> Vec<LeaseEvent> {
        self.events.lock().unwrap().clone()
    }

    /// How long after the last change written by `old` the Lease named someone else, and who.
    fn takeover_after_last_change(&self, old: &str) -> Option<(f64, String)> {
        let events = self.events();
        let handover = events
            .iter()
            .position(|e| e.holder.as_deref().is_some_and(|h| h != old))?;
        let last_old = events[..handover]
            .iter()
            .rev()
            .find(|e| e.holder.as_deref() == Some(old))?;
        let new = &events[handover];
        Some((
            new.at.duration_since(last_old.at).as_secs_f64(),
            new.holder.clone()?,
        ))
    }
}

impl Drop for LeaseWatcher {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// -------------------------------------------------------------------------------------------
// A trial
// -------------------------------------------------------------------------------------------

/// One randomized trial of one fault: its random choices, what it set up, what it found.
struct Trial {
    fault: Fault,
    index: usize,
    seed: u64,
    rng: StdRng,
    cluster: Option<Cluster>,
    /// The leader hit by the fault, and when (CLOCK_MONOTONIC ns): its term is the old term.
    fault_on: Option<(String, u64)>,
    /// For a start from nothing: when the replicas were started.
    start_ns: Option<u64>,
    /// When the fault was over (healed, or done for good): the new leader must work after it.
    healed_ns: u64,
    /// Replicas ended on purpose.
    gone: Vec<String>,
    /// Whether [`Trial::start`] watches the Lease from the beginning.
    watch: bool,
    recovery_timeout: Duration,
    notes: Map<String, Value>,
    problems: Vec<String>,
}

/// What a trial found, for the results.
#[derive(Clone, Debug)]
struct TrialRecord {
    fault: Fault,
    index: usize,
    seed: u64,
    seconds: f64,
    gap_s: Option<f64>,
    overlaps: Vec<String>,
    problems: Vec<String>,
    notes: Map<String, Value>,
}

impl Trial {
    fn new(fault: Fault, index: usize, seed: u64) -> Self {
        Self {
            fault,
            index,
            seed,
            rng: StdRng::seed_from_u64(seed),
            cluster: None,
            fault_on: None,
            start_ns: None,
            healed_ns: 0,
            gone: Vec::new(),
            watch: false,
            recovery_timeout: Duration::from_secs(40),
            notes: Map::new(),
            problems: Vec::new(),
        }
    }

    fn c(&mut self) -> &mut Cluster {
        self.cluster
            .as_mut()
            .expect("the trial has started its replicas")
    }

    fn note(&mut self, key: &str, value: Value) {
        self.notes.insert(key.to_string(), value);
    }

    /// `n` replicas in a fresh namespace; returns the leader once they have converged and it
    /// has worked for a while, at a random moment within a retry period.
    async fn start(&mut self, n: usize) -> Result<usize, String> {
        let mut cluster = Cluster::new(&format!("chaos-{}", self.fault.name().replace('_', "-")));
        for i in 0..n {
            cluster.add(&format!("replica-{}", (b'a' + i as u8) as char), Vec::new());
        }
        if self.watch {
            cluster.watch_lease();
        }
        self.cluster = Some(cluster);
        let leader = self.c().converged(&[], Duration::from_secs(30)).await?;
        self.warm_up().await;
        Ok(leader)
    }

    /// Long enough for the standbys to have seen renewals, plus a random part of a retry period.
    async fn warm_up(&mut self) {
        let jitter = self.rng.random_range(0.0..T.retry_period.as_secs_f64());
        tokio::time::sleep(Duration::from_secs(1) + secs(jitter)).await;
    }

    fn fault_on(&mut self, replica: usize) {
        let name = self.c().replicas[replica].name.clone();
        self.note("leader_at_fault", json!(name));
        self.fault_on = Some((name, monotonic_ns()));
        if matches!(self.fault, Fault::Kill9 | Fault::Sigterm) {
            let name = self.c().replicas[replica].name.clone();
            self.gone.push(name);
        }
    }

    fn healed(&mut self) {
        self.healed_ns = monotonic_ns();
    }

    /// Notes how long after the old leader's last change the Lease named another holder, as
    /// the test's own watch saw it, and returns that holder.
    fn note_takeover_delay(&mut self, old: usize) -> Option<String> {
        let name = self.c().replicas[old].name.clone();
        let found = self
            .c()
            .watcher
            .as_ref()
            .and_then(|w| w.takeover_after_last_change(&name));
        let (delay, next) = found?;
        self.note("takeover_after_last_change_s", json!(round3(delay)));
        self.note("took_over", json!(next));
        Some(next)
    }

    /// After the fault: recovery, survivors, panics, overlaps, the gap.
    async fn finish(&mut self, seconds: f64) -> TrialRecord {
        let mut gap_s = None;
        let mut overlaps = Vec::new();
        if let Some(mut cluster) = self.cluster.take() {
            if self.problems.is_empty() {
                let recovered = cluster
                    .converged_after(&self.gone, self.healed_ns, 3, self.recovery_timeout)
                    .await;
                match recovered {
                    Ok(i) => {
                        self.note("leader_after", json!(cluster.replicas[i].name));
                    }
                    Err(e) => self.problems.push(format!("no recovery: {e}")),
                }
            }
            for r in &mut cluster.replicas {
                if !self.gone.contains(&r.name) && !r.is_running() {
                    let status = r.wait_exit(Duration::ZERO);
                    self.problems
                        .push(format!("{} exited on its own: {status:?}", r.name));
                }
            }
            cluster.stop().await;
            for r in &cluster.replicas {
                if r.raw_output().contains("panicked") {
                    self.problems.push(format!("{} panicked", r.name));
                }
            }
            let terms = cluster.terms();
            overlaps = overlap::find_overlaps(&terms)
                .iter()
                .map(|o| o.to_string())
                .collect();
            self.note(
                "leaders",
                json!(
                    terms
                        .iter()
                        .map(|t| t.replica.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .len()
                ),
            );
            if let Some((name, at)) = &self.fault_on {
                match overlap::term_at(&terms, name, *at) {
                    Some(old) => match overlap::gap_after(&terms, old) {
                        Some((gap, next)) => {
                            gap_s = Some(gap);
                            self.notes
                                .insert("next_term_by".into(), json!(next.replica.clone()));
                        }
                        None => {
                            self.notes.insert("kept_its_term".into(), json!(true));
                        }
                    },
                    None => self
                        .problems
                        .push(format!("{name} had done no leader work before the fault")),
                }
            } else if let Some(start) = self.start_ns
                && let Some(first) = terms.iter().map(|t| t.first_ns).min()
            {
                let gap = (first as f64 - start as f64) / 1e9;
                gap_s = Some(gap);
                // A brand-new deployment: the first leader created the missing Lease, so its
                // work may start only a lease duration after it first saw it missing.
                if gap < T.lease_duration.as_secs_f64() {
                    self.problems.push(format!(
                        "the first leader's work started {gap:.3} s after the processes did, before one lease duration"
                    ));
                }
            }
            let keep = std::env::var_os("K8SENSUS_CHAOS_KEEP_LOGS").is_some();
            if keep || !self.problems.is_empty() || !overlaps.is_empty() {
                self.notes.insert("logs".into(), json!(cluster.dump()));
            }
        }
        TrialRecord {
            fault: self.fault,
            index: self.index,
            seed: self.seed,
            seconds,
            gap_s,
            overlaps,
            problems: self.problems.clone(),
            notes: self.notes.clone(),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Runs one trial to the end on this thread, whatever happens in it.
fn run_trial(fault: Fault, index: usize, seed: u64, log_dir: &Path) -> TrialRecord {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the trial");
    let started = Instant::now();
    let mut trial = Trial::new(fault, index, seed);
    let injected = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(fault.inject(&mut trial))
    }));
    match injected {
        Ok(Ok(())) => {}
        Ok(Err(problem)) => trial.problems.push(problem),
        Err(panic) => trial
            .problems
            .push(format!("panicked: {}", panic_message(&*panic))),
    }
    let finished = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(trial.finish(started.elapsed().as_secs_f64()))
    }));
    let mut record = match finished {
        Ok(record) => record,
        Err(panic) => TrialRecord {
            fault,
            index,
            seed,
            seconds: 0.0,
            gap_s: None,
            overlaps: Vec::new(),
            problems: vec![format!("the checks panicked: {}", panic_message(&*panic))],
            notes: Map::new(),
        },
    };
    record.seconds = round3(started.elapsed().as_secs_f64());
    if let Some(Value::String(logs)) = record.notes.remove("logs") {
        let path = log_dir.join(format!("{}-{}.log", fault.name(), index));
        let mut text = format!(
            "{} trial {} (seed {})\nproblems: {:#?}\noverlaps: {:#?}\nnotes: {}\n\n",
            fault.name(),
            index,
            seed,
            record.problems,
            record.overlaps,
            Value::Object(record.notes.clone())
        );
        text.push_str(&logs);
        if std::fs::write(&path, text).is_ok() {
            record
                .notes
                .insert("log_file".into(), json!(path.display().to_string()));
        }
    }
    let verdict = if !record.overlaps.is_empty() {
        format!("OVERLAP: {}", record.overlaps.join("; "))
    } else if !record.problems.is_empty() {
        format!("FAILED: {}", record.problems.join("; "))
    } else {
        "ok".into()
    };
    let gap = record
        .gap_s
        .map_or("no handover".to_string(), |g| format!("gap {g:.3} s"));
    eprintln!(
        "[chaos] {} #{}: {verdict}, {gap} ({:.1} s)",
        fault.name(),
        index,
        record.seconds
    );
    record
}

// -------------------------------------------------------------------------------------------
// The run: settings, scheduling, results
// -------------------------------------------------------------------------------------------

struct Settings {
    trials: usize,
    faults: Vec<Fault>,
    seed: u64,
    parallel: usize,
    results: PathBuf,
    /// Whether the results go to the committed file (`make chaos`) or a scratch one.
    committed: bool,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let trials = var("K8SENSUS_CHAOS_TRIALS").map_or(1, |v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("K8SENSUS_CHAOS_TRIALS={v:?} is not a number"))
        });
        let faults = match var("K8SENSUS_CHAOS_ONLY") {
            None => Fault::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(|n| {
                    Fault::by_name(n.trim()).unwrap_or_else(|| {
                        panic!(
                            "K8SENSUS_CHAOS_ONLY: no fault named {n:?}; the faults are {:?}",
                            Fault::ALL.map(Fault::name)
                        )
                    })
                })
                .collect(),
        };
        let seed = var("K8SENSUS_CHAOS_SEED").map_or_else(
            || rand::rng().random::<u32>() as u64,
            |v| v.trim().parse().expect("K8SENSUS_CHAOS_SEED is a number"),
        );
        let parallel = var("K8SENSUS_CHAOS_PARALLEL").map_or(3, |v| {
            v.trim()
                .parse::<usize>()
                .expect("K8SENSUS_CHAOS_PARALLEL is a number")
                .max(1)
        });
        let (results, committed) = match var("K8SENSUS_CHAOS_RESULTS") {
            Some(path) => (PathBuf::from(path), true),
            // The smoke run's results stay inside target/ (overwritten each run), not in /tmp.
            None => (
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos-smoke/results.json"),
                false,
            ),
        };
        Self {
            trials,
            faults,
            seed,
            parallel,
            results,
            committed,
        }
    }

    /// The seed of one trial, from the master seed (splitmix64 of a mix of the three).
    fn trial_seed(&self, fault: Fault, index: usize) -> u64 {
        let mut z = self
            .seed
            .wrapping_add((fault as u64) << 32)
            .wrapping_add(index as u64)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs `jobs` on `parallel` threads, each trial on a thread of its own runtime (replicas die
/// with the thread that started them, so a trial stays on one thread from start to end).
fn run_pool(jobs: Vec<(Fault, usize)>, settings: &Settings, log_dir: &Path) -> Vec<TrialRecord> {
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let records = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..settings.parallel {
            let (queue, records) = (queue.clone(), records.clone());
            scope.spawn(move || {
                loop {
                    let Some((fault, index)) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let seed = settings.trial_seed(fault, index);
                    let record = run_trial(fault, index, seed, log_dir);
                    records.lock().unwrap().push(record);
                }
            });
        }
    });
    Arc::try_unwrap(records).unwrap().into_inner().unwrap()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(REPO)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The commit, its subject, the files that differ from it, and a hash of the uncommitted
/// changes to what the binary is built from.
type SourceState = (Option<String>, Option<String>, Vec<String>, u64);

fn source_state() -> SourceState {
    use std::hash::{Hash, Hasher};
    let changed = command_output("git", &["status", "--porcelain"])
        .unwrap_or_default()
        .lines()
        .map(|l| l.get(3..).unwrap_or(l).to_string())
        .collect();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    command_output(
        "git",
        &["diff", "HEAD", "--", "src", "Cargo.toml", "Cargo.lock"],
    )
    .hash(&mut hasher);
    (
        command_output("git", &["rev-parse", "HEAD"]),
        command_output("git", &["log", "-1", "--format=%s"]),
        changed,
        hasher.finish(),
    )
}

/// Whether what the binary is built from differs between two source states: a commit that
/// only touched tests or documents does not count.
fn binary_source_changed(before: &SourceState, after: &SourceState) -> bool {
    let committed = match (&before.0, &after.0) {
        (Some(a), Some(b)) if a != b => command_output(
            "git",
            &[
                "diff",
                "--name-only",
                a,
                b,
                "--",
                "src",
                "Cargo.toml",
                "Cargo.lock",
            ],
        )
        .is_none_or(|names| !names.is_empty()),
        _ => false,
    };
    committed || before.3 != after.3
}

/// What produced the results: the source as it was when the trials began (the binary was
/// built just before), the binary itself, whether the source changed during the run (others
/// may commit to this tree meanwhile), and the machine.
fn provenance(at_start: &SourceState) -> Value {
    let (commit, subject, changed, _) = at_start;
    let at_end = source_state();
    let cpu_model = read_proc("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let memory_kib: Option<f64> = read_proc("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok());
    let binary_sha256 = command_output("sha256sum", &[BIN])
        .and_then(|out| out.split_whitespace().next().map(str::to_string));
    json!({
        "commit": commit,
        "commit_subject": subject,
        "working_tree_changes": changed,
        "binary_sha256": binary_sha256,
        "source_changed_during_run": binary_source_changed(at_start, &at_end),
        "commit_at_end": at_end.0,
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
            "cpu_model": cpu_model,
            "memory_gib": memory_kib.map(|k| round3(k / 1024.0 / 1024.0)),
            "kernel": read_proc("/proc/sys/kernel/osrelease").trim(),
            "rustc": command_output("rustc", &["--version"]),
            "kubernetes": "v1.33.13 (kube-apiserver from hack/control-plane)",
        },
    })
}

fn load_average() -> String {
    read_proc("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn summarize(settings: &Settings, records: &[TrialRecord], meta: Map<String, Value>) -> Value {
    let mut faults = Map::new();
    for fault in &settings.faults {
        let mine: Vec<&TrialRecord> = records.iter().filter(|r| r.fault == *fault).collect();
        let mut gaps: Vec<f64> = mine.iter().filter_map(|r| r.gap_s).collect();
        gaps.sort_by(f64::total_cmp);
        let overlaps = mine.iter().filter(|r| !r.overlaps.is_empty()).count();
        let failures = mine.iter().filter(|r| !r.problems.is_empty()).count();
        let reproduce = format!(
            "K8SENSUS_CHAOS_ONLY={} K8SENSUS_CHAOS_TRIALS={} K8SENSUS_CHAOS_SEED={} cargo test --locked --test chaos -- --nocapture",
            fault.name(),
            settings.trials,
            settings.seed
        );
        faults.insert(
            fault.name().into(),
            json!({
                "what": fault.what(),
                "trials": mine.len(),
                "overlaps": overlaps,
                "overlap_pairs": mine.iter().map(|r| r.overlaps.len()).sum::<usize>(),
                "failures": failures,
                "handovers": gaps.len(),
                "max_gap_s": gaps.last().copied().map(round3),
                "p90_gap_s": percentile(&gaps, 90.0).map(round3),
                "median_gap_s": percentile(&gaps, 50.0).map(round3),
                "min_gap_s": gaps.first().copied().map(round3),
                "gaps_s": gaps.iter().copied().map(round3).collect::<Vec<_>>(),
                "reproduce": reproduce,
            }),
        );
    }

    let notes_of = |fault: Fault, key: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r.fault == fault)
            .filter_map(|r| r.notes.get(key).cloned())
            .collect()
    };
    let frozen = {
        let runs_after: u64 = notes_of(Fault::Sigstop, "runs_after_sigstop")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        let term_over = notes_of(Fault::Sigstop, "logged_term_over")
            .iter()
            .filter(|v| v.as_bool() == Some(true))
            .count();
        let example = records
            .iter()
            .filter(|r| r.fault == Fault::Sigstop && r.problems.is_empty())
            .min_by_key(|r| r.index)
            .map(|r| {
                json!({
                    "trial": r.index,
                    "stopped_s": r.notes.get("stopped_s"),
                    "fencing_token": r.notes.get("old_fencing_token"),
                    "after_resume": r.notes.get("after_resume"),
                })
            });
        json!({
            "trials": records.iter().filter(|r| r.fault == Fault::Sigstop).count(),
            "runs_after_sigstop": runs_after,
            "trials_that_logged_term_over": term_over,
            "example": example,
        })
    };
    let skew = {
        let rates: Vec<Value> = notes_of(Fault::ClockSkew, "measured_clock_rate");
        let took_over = notes_of(Fault::ClockSkew, "skewed_standby_took_over")
            .iter()
            .filter(|v| v.as_bool() == Some(true))
            .count();
        json!({
            "factor": SKEW,
            "how": format!("LD_PRELOAD=libfaketimeMT.so.1 FAKETIME=\"+0 x{SKEW}\""),
            "library": libfaketime().ok().map(|p| p.display().to_string()),
            "measured_clock_rates": rates,
            "skewed_standby_took_over": took_over,
            "takeover_after_last_change_s": notes_of(Fault::ClockSkew, "takeover_after_last_change_s"),
            "unskewed_takeover_after_last_change_s": notes_of(Fault::Partition, "takeover_after_last_change_s"),
        })
    };
    let problems: Vec<Value> = records
        .iter()
        .filter(|r| !r.problems.is_empty() || !r.overlaps.is_empty())
        .map(|r| {
            json!({
                "fault": r.fault.name(),
                "trial": r.index,
                "seed": r.seed,
                "overlaps": r.overlaps,
                "problems": r.problems,
                "log_file": r.notes.get("log_file"),
            })
        })
        .collect();
    let mut sorted: Vec<&TrialRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.fault, r.index));
    let trials: Vec<Value> = sorted
        .iter()
        .map(|r| {
            let mut notes = r.notes.clone();
            notes.remove("after_resume");
            json!({
                "fault": r.fault.name(),
                "trial": r.index,
                "seed": r.seed,
                "seconds": r.seconds,
                "gap_s": r.gap_s.map(round3),
                "overlaps": r.overlaps.len(),
                "ok": r.problems.is_empty(),
                "notes": notes,
            })
        })
        .collect();

    let mut out = meta;
    out.insert("faults".into(), Value::Object(faults));
    out.insert("frozen_leader".into(), frozen);
    out.insert("clock_skew".into(), skew);
    out.insert("problems".into(), Value::Array(problems));
    out.insert("trials".into(), Value::Array(trials));
    Value::Object(out)
}

/// Every fault, `K8SENSUS_CHAOS_TRIALS` times each (see the top of this file).
#[test]
fn chaos() {
    let settings = Settings::from_env();
    if settings.faults.contains(&Fault::ClockSkew) {
        // Fail before anything starts, with the way out in the message.
        libfaketime().unwrap_or_else(|e| panic!("{e}"));
    }
    let log_dir = settings
        .results
        .parent()
        .expect("the results file has a directory")
        .to_path_buf();
    std::fs::create_dir_all(&log_dir).expect("create the results directory");
    let source_at_start = source_state();
    let started_at = Timestamp::now();
    let started = Instant::now();
    let load_before = load_average();
    eprintln!(
        "[chaos] {} trial(s) of each of {:?}, seed {}, {} at a time; results to {}",
        settings.trials,
        settings.faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
        settings.seed,
        settings.parallel,
        settings.results.display()
    );
    control_plane();

    // Round robin, so that every fault's trials are spread over the whole run.
    let mut shared = Vec::new();
    let mut exclusive = Vec::new();
    for index in 0..settings.trials {
        for &fault in &settings.faults {
            if fault.exclusive() {
                exclusive.push((fault, index));
            } else {
                shared.push((fault, index));
            }
        }
    }
    let mut records = run_pool(shared, &settings, &log_dir);
    for (fault, index) in exclusive {
        records.push(run_trial(
            fault,
            index,
            settings.trial_seed(fault, index),
            &log_dir,
        ));
    }

    let mut meta = Map::new();
    meta.insert(
        "command".into(),
        json!(format!(
            "K8SENSUS_CHAOS_TRIALS={} cargo test --locked --test chaos -- --nocapture",
            settings.trials
        )),
    );
    meta.insert("seed".into(), json!(settings.seed));
    meta.insert(
        "fault_order".into(),
        json!(settings.faults.iter().map(|f| f.name()).collect::<Vec<_>>()),
    );
    meta.insert("trials_per_fault".into(), json!(settings.trials));
    meta.insert("parallel".into(), json!(settings.parallel));
    meta.insert(
        "timings".into(),
        json!({
            "lease_duration_s": T.lease_duration.as_secs_f64(),
            "renew_deadline_s": T.renew_deadline.as_secs_f64(),
            "retry_period_s": T.retry_period.as_secs_f64(),
            "task_period_s": TASK_PERIOD.as_secs_f64(),
        }),
    );
    meta.insert("started_at".into(), json!(started_at.to_string()));
    meta.insert("finished_at".into(), json!(Timestamp::now().to_string()));
    meta.insert(
        "duration_s".into(),
        json!(round3(started.elapsed().as_secs_f64())),
    );
    meta.insert(
        "load_average".into(),
        json!({ "start": load_before, "end": load_average() }),
    );
    meta.insert("produced_by".into(), provenance(&source_at_start));
    let results = summarize(&settings, &records, meta);
    let text = serde_json::to_string_pretty(&results).unwrap() + "\n";
    std::fs::write(&settings.results, text).expect("write the results");

    eprintln!(
        "[chaos] {:<26} {:>6} {:>8} {:>8} {:>9} {:>9}",
        "fault", "trials", "overlaps", "failures", "max gap", "p90 gap"
    );
    let gap = |v: &Value| v.as_f64().map_or("-".to_string(), |g| format!("{g:.3} s"));
    for fault in &settings.faults {
        let (name, f) = (fault.name(), &results["faults"][fault.name()]);
        eprintln!(
            "[chaos] {:<26} {:>6} {:>8} {:>8} {:>9} {:>9}",
            name,
            f["trials"].as_u64().unwrap_or(0),
            f["overlaps"].as_u64().unwrap_or(0),
            f["failures"].as_u64().unwrap_or(0),
            gap(&f["max_gap_s"]),
            gap(&f["p90_gap_s"])
        );
    }
    eprintln!(
        "[chaos] {} trials in {:.0} s; results in {}{}",
        records.len(),
        started.elapsed().as_secs_f64(),
        settings.results.display(),
        if settings.committed {
            ""
        } else {
            " (scratch: `make chaos` writes chaos/results.json)"
        }
    );

    let bad: BTreeMap<String, Vec<String>> = records
        .iter()
        .filter(|r| !r.overlaps.is_empty() || !r.problems.is_empty())
        .map(|r| {
            (
                format!("{} #{} (seed {})", r.fault.name(), r.index, r.seed),
                r.overlaps.iter().chain(&r.problems).cloned().collect(),
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} trials failed (logs: {}):\n{bad:#?}",
        bad.len(),
        records.len(),
        log_dir.display()
    );
}

// -------------------------------------------------------------------------------------------
// The checker, checked: it must be able to fail
// -------------------------------------------------------------------------------------------

fn run_line(token: i64, mono_ns: u64) -> LogLine {
    LogLine {
        at: Instant::now(),
        json: json!({"message": overlap::RUN, "fencing_token": token, "mono_ns": mono_ns}),
    }
}

fn start_line(token: i64, mono_ns: u64) -> LogLine {
    LogLine {
        at: Instant::now(),
        json: json!({"message": overlap::START, "fencing_token": token, "mono_ns": mono_ns}),
    }
}

#[test]
fn checker_finds_two_leaders_working_at_once() {
    let terms = [Term::new("a", 1, 100, 500), Term::new("b", 2, 400, 900)];
    let found = overlap::find_overlaps(&terms);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!((found[0].seconds() - 100e-9).abs() < 1e-12);
    // One nanosecond of overlap is enough.
    let terms = [Term::new("a", 1, 100, 500), Term::new("b", 2, 499, 900)];
    assert_eq!(overlap::find_overlaps(&terms).len(), 1);
    // A term entirely inside another, listed in either order.
    let terms = [Term::new("b", 2, 200, 300), Term::new("a", 1, 100, 500)];
    assert_eq!(overlap::find_overlaps(&terms).len(), 1);
}

#[test]
fn checker_accepts_terms_that_touch_or_follow() {
    let terms = [
        Term::new("a", 1, 100, 500),
        Term::new("b", 2, 500, 900),
        Term::new("c", 3, 901, 1000),
        Term::new("a", 4, 2000, 3000),
    ];
    assert!(overlap::find_overlaps(&terms).is_empty());
}

#[test]
fn checker_handles_single_run_terms() {
    // A single run strictly inside another term overlaps it...
    let inside = [Term::new("a", 1, 100, 500), Term::new("b", 2, 300, 300)];
    assert_eq!(overlap::find_overlaps(&inside).len(), 1);
    // ...one at its boundary only touches it...
    let touching = [Term::new("a", 1, 100, 500), Term::new("b", 2, 500, 500)];
    assert!(overlap::find_overlaps(&touching).is_empty());
    // ...and two runs at the very same instant overlap.
    let same = [Term::new("a", 1, 300, 300), Term::new("b", 2, 300, 300)];
    assert_eq!(overlap::find_overlaps(&same).len(), 1);
}

fn stop_line(token: i64, mono_ns: u64, ended_mono_ns: Option<u64>) -> LogLine {
    let mut json = json!({"message": overlap::STOP, "event": "work_stopped", "fencing_token": token, "mono_ns": mono_ns});
    if let Some(ended) = ended_mono_ns {
        json["ended_mono_ns"] = json!(ended);
    }
    LogLine {
        at: Instant::now(),
        json,
    }
}

#[test]
fn checker_reads_terms_from_logs_and_compares_one_replicas_terms_too() {
    // Two terms of one replica (a new "starting" line opens the second, even with the same
    // token, as after an API server outage), the second overlapping the first.
    let logs = vec![
        start_line(3, 90),
        run_line(3, 100),
        run_line(3, 200),
        run_line(3, 300),
        start_line(3, 250),
        run_line(3, 260),
        stop_line(3, 400, None),
    ];
    let terms = overlap::terms_in_logs("a", &logs);
    assert_eq!(terms.len(), 2, "{terms:?}");
    assert_eq!(
        (terms[0].first_ns, terms[0].last_ns, terms[0].runs),
        (90, 300, 3)
    );
    assert_eq!(
        (terms[1].first_ns, terms[1].last_ns, terms[1].runs),
        (250, 400, 1)
    );
    assert_eq!(overlap::find_overlaps(&terms).len(), 1);
}

/// Terms run from the line that starts the work to the line that ends it: an overlap shorter
/// than a task period at either edge, invisible between first and last runs, is found.
#[test]
fn checker_compares_from_start_line_to_stop_line() {
    // a runs at 100 and 200 and stops at 290; b starts at 250 and first runs at 300.
    let a = overlap::terms_in_logs(
        "a",
        &[
            start_line(1, 0),
            run_line(1, 100),
            run_line(1, 200),
            stop_line(1, 290, Some(290)),
        ],
    );
    let b = overlap::terms_in_logs(
        "b",
        &[
            start_line(2, 250),
            run_line(2, 300),
            run_line(2, 400),
            stop_line(2, 450, Some(450)),
        ],
    );
    assert_eq!((a[0].first_ns, a[0].last_ns), (0, 290));
    assert_eq!((b[0].first_ns, b[0].last_ns), (250, 450));
    let terms = [a[0].clone(), b[0].clone()];
    let found = overlap::find_overlaps(&terms);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!((found[0].seconds() - 40e-9).abs() < 1e-12);
    // Touching at the stop line is not an overlap.
    let c = overlap::terms_in_logs("c", &[start_line(3, 450), run_line(3, 460)]);
    assert!(overlap::find_overlaps(&[b[0].clone(), c[0].clone()]).is_empty());
}

/// A frozen leader logs its stop only after it resumes; its term ends at `ended_mono_ns`, its
/// deadline. But a run after that deadline still counts, and is found.
#[test]
fn checker_ends_a_frozen_term_at_its_deadline_but_not_before_a_run() {
    let frozen = [
        start_line(1, 0),
        run_line(1, 100),
        stop_line(1, 900, Some(150)),
    ];
    let a = overlap::terms_in_logs("a", &frozen);
    assert_eq!((a[0].first_ns, a[0].last_ns), (0, 150));
    let b = overlap::terms_in_logs("b", &[start_line(2, 200), run_line(2, 300)]);
    assert!(overlap::find_overlaps(&[a[0].clone(), b[0].clone()]).is_empty());
    let late_run = [
        start_line(1, 0),
        run_line(1, 100),
        run_line(1, 500),
        stop_line(1, 900, Some(150)),
    ];
    let a = overlap::terms_in_logs("a", &late_run);
    assert_eq!(a[0].last_ns, 500);
    assert_eq!(
        overlap::find_overlaps(&[a[0].clone(), b[0].clone()]).len(),
        1
    );
}

/// A killed process logs no stop line: its term ends at its last line. A run with no start
/// line (the client-go reference before it logged one) opens a term of its own.
#[test]
fn checker_handles_killed_terms_and_runs_without_a_start() {
    let killed =
        overlap::terms_in_logs("a", &[start_line(1, 0), run_line(1, 100), run_line(1, 200)]);
    assert_eq!((killed[0].first_ns, killed[0].last_ns), (0, 200));
    let bare = overlap::terms_in_logs("b", &[run_line(-1, 150), run_line(-1, 250)]);
    assert_eq!(
        (bare[0].first_ns, bare[0].last_ns, bare[0].runs),
        (150, 250, 2)
    );
    assert_eq!(
        overlap::find_overlaps(&[killed[0].clone(), bare[0].clone()]).len(),
        1
    );
    // Lines after a stop and before the next start belong to no term.
    let after = overlap::terms_in_logs(
        "c",
        &[
            start_line(1, 0),
            stop_line(1, 10, None),
            stop_line(1, 500, None),
        ],
    );
    assert_eq!((after[0].first_ns, after[0].last_ns), (0, 10));
}

#[test]
fn checker_measures_the_gap_after_a_term() {
    let terms = [
        Term::new("a", 1, 1_000_000_000, 2_000_000_000),
        Term::new("b", 2, 5_500_000_000, 6_000_000_000),
        Term::new("c", 3, 7_000_000_000, 8_000_000_000),
    ];
    let old = overlap::term_at(&terms, "a", 1_500_000_000).unwrap();
    let (gap, next) = overlap::gap_after(&terms, old).unwrap();
    assert_eq!(next.replica, "b");
    assert!((gap - 3.5).abs() < 1e-9, "{gap}");
    assert!(overlap::gap_after(&terms, &terms[2]).is_none());
}

#[test]
fn percentiles_are_nearest_rank() {
    let values: Vec<f64> = (1..=20).map(f64::from).collect();
    assert_eq!(percentile(&values, 90.0), Some(18.0));
    assert_eq!(percentile(&values, 50.0), Some(10.0));
    assert_eq!(percentile(&[3.0], 90.0), Some(3.0));
    assert_eq!(percentile(&[], 90.0), None);
}

// -------------------------------------------------------------------------------------------
// The proxy, checked: each mode does what it says
// -------------------------------------------------------------------------------------------

/// An echo server on a free port of 127.0.0.1, in the current runtime.
async fn echo_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends `ping` and waits up to `within` for it to come back: Ok(round trip), or the error
/// (a timeout is `TimedOut`).
async fn ping(conn: &mut tokio::net::TcpStream, within: Duration) -> std::io::Result<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sent = Instant::now();
    conn.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    match tokio::time::timeout(within, conn.read_exact(&mut buf)).await {
        Ok(Ok(_)) => {
            assert_eq!(&buf, b"ping");
            Ok(sent.elapsed())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

#[tokio::test]
async fn proxy_modes_do_what_they_say() {
    use tokio::net::TcpStream;
    let proxy = Proxy::start(echo_server().await);
    let connect = || TcpStream::connect(proxy.addr());
    let mut conn = connect().await.unwrap();
    ping(&mut conn, Duration::from_secs(2)).await.expect("pass");

    // Latency applies each way, to open and new connections alike.
    proxy.latency(Duration::from_millis(300));
    let took = ping(&mut conn, Duration::from_secs(3))
        .await
        .expect("latency");
    assert!(took >= Duration::from_millis(590), "round trip {took:?}");
    let mut fresh = connect().await.unwrap();
    let took = ping(&mut fresh, Duration::from_secs(3)).await.unwrap();
    assert!(took >= Duration::from_millis(590), "round trip {took:?}");
    proxy.pass();
    ping(&mut fresh, Duration::from_secs(2))
        .await
        .expect("pass again");

    // A blackhole answers nothing, on open connections and on new ones.
    proxy.blackhole();
    let e = ping(&mut conn, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    let mut during = connect().await.expect("a blackhole still accepts");
    let e = ping(&mut during, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);

    // Reset: open connections are reset at once, and new ones as soon as they are accepted.
    proxy.pass();
    let mut open = connect().await.unwrap();
    ping(&mut open, Duration::from_secs(2))
        .await
        .expect("pass after the blackhole");
    proxy.reset();
    let e = ping(&mut open, Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    let e = match connect().await {
        Ok(mut c) => ping(&mut c, Duration::from_secs(2)).await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");

    // Healed: new connections work again.
    proxy.pass();
    let mut healed = connect().await.unwrap();
    ping(&mut healed, Duration::from_secs(2))
        .await
        .expect("healed");
}
