//! The local part's pure parts (bench/local/ and the pieces the scale part shares).
//!
//! - `rules`: the lanes' split, the trials' timeouts, the set's names and command lines.
//! - `steady_state`: who held the Lease when, and each request counted for the role its
//!   replica had.
//! - `timeline_sample`: the picture shows the consecutive trials closest to the median.
//! - `results_keys`: the results' types write exactly the keys the committed
//!   bench/results.json has, in its order, so that bench/render.py reads them unchanged.

use crate::support;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::replicas::ReplicaSet;
use crate::support::Timings;
use crate::support::lease_watch::{EventKind, LeaseEvent};
use crate::support::replica::Implementation;

/// A Lease event in namespace `ns` at `t`, naming `holder` ("" for none).
fn ev(ns: &str, t: f64, holder: &str, acquire: Option<f64>, renew: Option<f64>) -> LeaseEvent {
    LeaseEvent {
        t,
        at: Instant::now(),
        kind: EventKind::Modified,
        namespace: ns.into(),
        resource_version: None,
        holder: holder.into(),
        acquire,
        renew,
        lease_duration_seconds: Some(15),
        lease_transitions: Some(0),
    }
}

fn k8sensus() -> Implementation {
    Implementation {
        key: "k8sensus".into(),
        bin: PathBuf::from("/x/k8sensus"),
        extra_args: vec!["--log-format=json".into()],
        env: Vec::new(),
    }
}

/// A set of 3 k8sensus replicas in `ns` (not started).
fn set(ns: &str) -> ReplicaSet {
    let kubeconfigs: HashMap<(String, usize), PathBuf> = (0..3)
        .map(|i| ((ns.to_string(), i), PathBuf::from(format!("kc-{i}"))))
        .collect();
    ReplicaSet::new(
        &k8sensus(),
        ns,
        &kubeconfigs,
        Timings::REAL,
        3,
        Path::new("/tmp"),
    )
}

/// The committed results file.
fn stored() -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/bench/results.json", support::REPO))
        .expect("bench/results.json");
    serde_json::from_str(&text).expect("bench/results.json is JSON")
}

mod rules {
    use super::*;
    use crate::replicas::namespace_name;
    use crate::support::replica::duration_flag;
    use crate::trials::{lanes_of, settle_time, takeover_timeout};

    /// Lanes share the trials evenly, the first ones taking the remainder.
    #[test]
    fn lanes_share_trials_evenly() {
        assert_eq!(lanes_of(5, 2), [0..3, 3..5]);
        assert_eq!(lanes_of(1, 3), [0..1, 1..1, 1..1]);
    }

    /// A trial settles at least 3 s (two retry periods) and waits a lease duration, four
    /// jittered retry periods and 20 s for a takeover.
    #[test]
    fn trial_timeouts() {
        assert_eq!(settle_time(Timings::SHORT), 3.0);
        assert_eq!(settle_time(Timings::REAL), 4.0);
        assert!((takeover_timeout(Timings::REAL) - 44.6).abs() < 1e-9);
    }

    /// Every namespace names the run's seed, its part and its implementation.
    #[test]
    fn namespaces_carry_the_seed() {
        assert_eq!(
            namespace_name(123_456, "lanea", "client-go"),
            "bench-23456-lanea-client-go"
        );
    }

    /// A replica's command line is the one results.json records, durations as the electors'
    /// flags take them.
    #[test]
    fn replica_argv_as_stored() {
        assert_eq!(
            (
                duration_flag(std::time::Duration::from_secs(15)),
                duration_flag(std::time::Duration::from_millis(500))
            ),
            ("15s".to_string(), "500ms".to_string())
        );
        let argv = k8sensus().argv("NAMESPACE", Timings::REAL);
        let stored = stored();
        let want: Vec<&str> = stored["k8sensus"]["argv"].as_array().unwrap()[1..6]
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(argv[1..6], want);
        assert_eq!(set("ns").replicas[2].identity, "k8sensus-2");
    }
}

mod steady_state {
    use super::*;
    use crate::steady::{holder_at, holder_intervals, lead_time, set_load};
    use crate::support::audit::{AuditByUser, AuditRequest};

    /// A holder holds from its acquireTime to the next event that names someone else (a
    /// release or a deletion ends it too); the last one is open-ended.
    #[test]
    fn holder_intervals_end_at_the_next_holder_release_or_deletion() {
        let mut deleted = ev("ns", 8.0, "b", Some(5.95), Some(8.0));
        deleted.kind = EventKind::Deleted;
        let evs = [
            ev("ns", 1.0, "a", Some(0.9), Some(1.0)),
            ev("ns", 3.0, "a", Some(0.9), Some(3.0)),
            ev("ns", 5.0, "", None, Some(4.9)),
            ev("ns", 6.0, "b", Some(5.95), Some(6.0)),
            deleted,
            ev("ns", 9.0, "c", None, Some(9.0)),
        ];
        let ivs = holder_intervals(&evs);
        assert_eq!(
            ivs,
            [
                ("a".to_string(), 0.9, 5.0),
                ("b".to_string(), 5.95, 8.0),
                ("c".to_string(), 9.0, f64::INFINITY)
            ]
        );
        assert!((lead_time(&ivs, "a", 2.0, 10.0) - 3.0).abs() < 1e-9);
        assert_eq!(holder_at(&ivs, 6.5), Some("b"));
        assert_eq!(holder_at(&ivs, 8.5), None);
    }

    fn request(verb: &str, t: f64, code: i64, resource: &str) -> AuditRequest {
        AuditRequest {
            verb: verb.into(),
            t,
            code: Some(code),
            stage: None,
            resource: resource.into(),
        }
    }

    /// A request counts for the role its replica had when it was received; a leader's
    /// writes are limited to one per retry period (plus one at each edge of the window).
    #[test]
    fn requests_count_by_role() {
        let rs = set("ns");
        let events = [ev("ns", 0.0, "k8sensus-0", Some(0.0), Some(0.0))];
        let user = |i: usize| format!("system:serviceaccount:ns:replica-{i}");
        let mut seen = AuditByUser::new();
        seen.insert(
            user(0),
            (0..10)
                .map(|i| {
                    let t = 100.0 + 2.0 * f64::from(i);
                    (format!("w{i}"), request("update", t, 200, "leases"))
                })
                .collect(),
        );
        seen.insert(
            user(1),
            [
                ("g".to_string(), request("get", 150.0, 200, "leases")),
                ("w".to_string(), request("watch", 160.0, 200, "leases")),
            ]
            .into_iter()
            .collect(),
        );
        let mut everything = seen.clone();
        everything
            .get_mut(&user(1))
            .unwrap()
            .insert("e".into(), request("create", 150.0, 201, "events"));
        let load = set_load(&rs, &events, &seen, &everything, 100.0, 200.0);
        assert_eq!(load.leader_writes_in_window, 10);
        assert_eq!(load.leader_writes_allowed, 51);
        let w = load.leader_write_interval_s.as_ref().unwrap();
        assert_eq!((w.median, w.min, w.max), (2.0, 2.0, 2.0));
        assert!((load.leader_writes_per_s - 0.1).abs() < 1e-9);
        assert_eq!(load.leader_reads_per_s, 0.0);
        assert!((load.standby_requests_per_s - 2.0 / 200.0).abs() < 1e-12);
        assert_eq!(load.standby_requests_per_s_max, Some(0.02));
        let one = &load.per_replica["k8sensus-1"];
        assert_eq!(one.other_requests.get("events create"), Some(&1));
        assert_eq!(load.per_replica["k8sensus-0"].role, "leader");
        assert_eq!(load.per_replica["k8sensus-2"].requests, 0);
    }
}

mod timeline_sample {
    use super::*;
    use crate::replicas::Marker;
    use crate::results::CrashMeasured;
    use crate::timeline::timeline;

    /// The picture shows the two consecutive trials closest to the median, with each
    /// crash's gap from the last renewal to the new acquireTime.
    #[test]
    fn the_timeline_picks_trials_near_the_median() {
        let mut events = vec![ev("ns", 0.0, "k8sensus-0", Some(0.0), Some(0.0))];
        let mut trials = Vec::new();
        for (k, length) in [15.2, 15.0, 15.1, 16.0].into_iter().enumerate() {
            let base = 100.0 * (k + 1) as f64;
            let (old, new) = (
                format!("k8sensus-{}", k % 3),
                format!("k8sensus-{}", (k + 1) % 3),
            );
            let acquired = events.last().unwrap().acquire;
            events.push(ev("ns", base, &old, acquired, Some(base)));
            let taken = base + length;
            events.push(ev("ns", taken + 0.01, &new, Some(taken), Some(taken)));
            trials.push(CrashMeasured {
                trial: k,
                ns: "ns".into(),
                ok: true,
                old,
                new,
                kill_t: base + 1.0,
                last_renew_t: Some(base),
                acquire_t: Some(taken),
                seen_t: taken + 0.01,
                failover_s: Some(length),
                failover_seen_s: Some(length + 0.01),
                kill_after_renew_s: Some(1.0),
                transitions: Some(k as i32 + 1),
            });
        }
        let markers = [Marker {
            ns: "ns".into(),
            kind: "kill",
            replica: "k8sensus-2".into(),
            t: 301.0,
            trial: Some(2),
        }];
        let ids: Vec<String> = (0..3).map(|i| format!("k8sensus-{i}")).collect();
        let good: Vec<&CrashMeasured> = trials.iter().collect();
        let tl = timeline(&events, &markers, &good, &ids).unwrap();
        assert_eq!(tl.trials, [2, 3]);
        let gaps: Vec<f64> = tl
            .gaps
            .iter()
            .map(|g| (g.length_s * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(gaps, [15.0, 15.1]);
        assert_eq!(tl.markers.len(), 1);
        assert!(timeline::<CrashMeasured>(&[], &[], &[], &ids).is_none());
    }
}

mod results_keys {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;
    use crate::machine_load::PhaseLoad;
    use crate::results::*;
    use crate::support::provenance::SourceSnapshot;
    use crate::support::stats::Summary;

    fn keys(v: &Value) -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    fn without(v: &Value, drop: &[&str]) -> Vec<String> {
        keys(v)
            .into_iter()
            .filter(|k| !drop.contains(&k.as_str()))
            .collect()
    }

    fn figures() -> ImplFigures {
        let load = ApiLoad {
            window_s: 360.0,
            transitions_in_window: 0,
            standby_requests_per_s: 0.01,
            standby_requests_per_s_max: Some(0.01),
            leader_requests_per_s: 0.5,
            leader_reads_per_s: 0.0,
            leader_writes_per_s: 0.5,
            leader_writes_in_window: 180,
            leader_writes_allowed: 181,
            leader_write_interval_s: None,
            by_verb_per_s: ByVerbPerS {
                leader: VerbRates(vec![("get", 0.0), ("update", 0.5)]),
                standby_mean: VerbRates::default(),
            },
            role_seconds: RoleSeconds {
                leader: 360.0,
                standby: 720.0,
            },
            per_replica: BTreeMap::new(),
        };
        let crash = CrashTrial::Measured(CrashMeasured {
            trial: 0,
            ns: "ns".into(),
            ok: true,
            old: "a".into(),
            new: "b".into(),
            kill_t: 1.0,
            last_renew_t: Some(0.5),
            acquire_t: Some(15.5),
            seen_t: 15.51,
            failover_s: Some(15.0),
            failover_seen_s: Some(15.01),
            kill_after_renew_s: Some(0.5),
            transitions: Some(1),
        });
        let graceful = GracefulTrial::Measured(GracefulMeasured {
            trial: 0,
            ns: "ns".into(),
            ok: true,
            old: "a".into(),
            new: "b".into(),
            sigterm_t: 1.0,
            acquire_t: Some(1.01),
            seen_t: 1.02,
            handoff_s: Some(0.01),
            handoff_seen_s: 0.02,
            released: true,
            release_seen_t: Some(1.005),
            release_renew_t: Some(1.004),
            release_after_sigterm_s: Some(0.005),
            exit_code: Some(0),
            exited_after_s: Some(0.01),
            transitions: Some(2),
        });
        let trials = TrialSummaries::of(
            std::slice::from_ref(&crash),
            std::slice::from_ref(&graceful),
        );
        ImplFigures {
            binary_path: "/x".into(),
            trials: trials.clone(),
            standby_requests_per_s: 0.01,
            standby_requests_per_s_max: Some(0.01),
            leader_requests_per_s: 0.5,
            leader_reads_per_s: 0.0,
            leader_writes_per_s: 0.5,
            leader_writes_in_window: 180,
            leader_writes_allowed: 181,
            leader_write_interval_s: None,
            requests_by_verb_per_s: load.by_verb_per_s.clone(),
            api_load: load,
            rss_mib: Some(9.8),
            rss_per_replica: BTreeMap::new(),
            binary_mib: 10.0,
            binary_bytes: 10 << 20,
            first_leadership_s: Some(0.015),
            first_leadership_runs_s: vec![0.015],
            short: TrialSummaries::of(&[], &[]),
            raw: Raw {
                crash: vec![crash],
                graceful: vec![graceful],
                short_crash: Vec::new(),
                short_graceful: Vec::new(),
                first_leadership: vec![FirstRun::Measured {
                    run: 0,
                    ok: true,
                    start_t: 1.0,
                    acquire_t: Some(1.015),
                    first_leadership_s: Some(0.015),
                    seen_s: 0.02,
                }],
                process_exits: BTreeMap::new(),
            },
            argv: Vec::new(),
            api_requests_whole_run: BTreeMap::new(),
        }
    }

    fn sample() -> Value {
        let snapshot = SourceSnapshot {
            commit: "c".into(),
            commit_short: "c".into(),
            commit_subject: "s".into(),
            dirty_paths: Vec::new(),
            dirty: false,
            build_inputs_sha256: "h".into(),
            build_inputs_dirty: Vec::new(),
        };
        let timeline = || ImplTimeline {
            crash: None,
            graceful: None,
        };
        let results = LocalResults {
            command: "c".into(),
            generated_at: "g".into(),
            started_at: "s".into(),
            duration_s: 1.0,
            seed: 1,
            machine: MachineSection {
                hostname: "h".into(),
                kernel: "k".into(),
                cpu_model: "m".into(),
                cpus: 2,
                memory_gib: Some(1.0),
                go: None,
                rustc: None,
                loadavg_at_start: [0.0; 3],
                loadavg_at_end: [0.0; 3],
                load_by_phase: vec![PhaseLoad {
                    phase: "p".into(),
                    seconds: 1.0,
                    cpu_busy_mean: 0.1,
                    cpu_busy_max: 0.2,
                    load1_max: 1.0,
                }],
            },
            source: SourceSection {
                snapshot,
                k8sensus_binary_sha256: None,
                client_go_ref_binary_sha256: None,
                client_go_version: "v".into(),
                kubernetes_version: None,
                etcd_version: "v".into(),
            },
            timings: Timings::REAL.into(),
            short_timings: Timings::SHORT.into(),
            method: Method::new(2),
            timeline: PerImpl {
                k8sensus: timeline(),
                client_go: Some(timeline()),
            },
            implementations: PerImpl {
                k8sensus: figures(),
                client_go: Some(figures()),
            },
            watch: WatchSection {
                reconnects: 0,
                relists: 1,
                errors: Vec::new(),
            },
        };
        serde_json::to_value(&results).unwrap()
    }

    /// The program's sections have the committed file's keys, in its order; bench/run.py adds
    /// `build`, the build's own source keys, `platform` and `python`
    /// (bench/test_k8sbench.py checks that merge).
    #[test]
    fn local_sections_keep_the_stored_keys_in_order() {
        let (got, want) = (sample(), stored());
        assert_eq!(keys(&got), without(&want, &["build", "scale", "cluster"]));
        assert_eq!(
            keys(&got["machine"]),
            without(&want["machine"], &["platform", "python"])
        );
        assert_eq!(
            keys(&got["source"]),
            without(
                &want["source"],
                &["skip_build", "changed_during_build", "commit_before_build"]
            )
        );
        for section in ["method", "timings", "short_timings", "watch"] {
            assert_eq!(keys(&got[section]), keys(&want[section]), "{section}");
        }
        for k in ["k8sensus", "client_go"] {
            let (g, w) = (&got[k], &want[k]);
            assert_eq!(keys(g), keys(w), "{k}");
            for section in ["raw", "api_load", "short", "crash_failover_s"] {
                assert_eq!(keys(&g[section]), keys(&w[section]), "{k}.{section}");
            }
            for (raw, first) in [("crash", 0), ("graceful", 0), ("first_leadership", 0)] {
                assert_eq!(
                    keys(&g["raw"][raw][first]),
                    keys(&w["raw"][raw][first]),
                    "{k}.raw.{raw}"
                );
            }
            assert_eq!(
                keys(&g["api_load"]["by_verb_per_s"]),
                keys(&w["api_load"]["by_verb_per_s"])
            );
        }
        assert_eq!(
            keys(&got["machine"]["load_by_phase"][0]),
            keys(&want["machine"]["load_by_phase"][0])
        );
        let s = Summary::of(&[], 0);
        assert_eq!(
            keys(&serde_json::to_value(s).unwrap()),
            keys(&want["k8sensus"]["short"]["crash_failover_s"])
        );
    }
}
