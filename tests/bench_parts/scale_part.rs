//! The benchmark's scale part (bench/scale/), tested where it needs no API server: where
//! its windows fall, how its namespaces are named, which requests a takeover caused, how its
//! section goes into the results file, and that the section keeps the keys of the committed
//! bench/results.json.

use crate::{results, scale};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::replicas::ReplicaSet;
use crate::results::{CrashMeasured, CrashTrial, GracefulTrial, TrialSummaries};
use crate::scale::namespaces::scale_namespaces;
use crate::scale::results::{
    ByN, Json, Method, ReplicaRequests, ScaleFigures, ScaleMachine, ScaleRaw, ScaleSection,
    ScaleSource, Takeover, WindowSpan, top_level_entries, write_section,
};
use crate::scale::takeover::{TakeoverSpan, takeover_requests};
use crate::scale::window::{K8SENSUS_RESYNC_S, window_span};
use crate::support::REPO;
use crate::support::replica::Implementation;
use crate::support::stats::Summary;

/// A set of `n` replicas of `key` on namespace `ns`, none started.
fn set(key: &str, ns: &str, n: usize) -> ReplicaSet {
    let implementation = Implementation {
        key: key.into(),
        bin: PathBuf::from("/bin/true"),
        extra_args: Vec::new(),
        env: Vec::new(),
    };
    let kubeconfigs: HashMap<(String, usize), PathBuf> = (0..n)
        .map(|i| ((ns.to_string(), i), PathBuf::from(format!("kc-{i}"))))
        .collect();
    ReplicaSet::new(
        &implementation,
        ns,
        &kubeconfigs,
        scale::TIMINGS,
        n,
        Path::new("/tmp"),
    )
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "k8sensus-bench-scale-test-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The steady-state windows open `settle` s after the leaders at the earliest, and close late
/// enough that a k8sensus standby's first resync (120 to 180 s after its watch opened, by
/// then) falls in them: a 120 s window spans 65 to 185 s after the leaders, so it holds that
/// resync wherever the jitter put it, and no second one.
#[test]
fn window_span_holds_each_first_resync() {
    assert_eq!(window_span(1000.0, 120.0, 15.0), (1065.0, 1185.0));
    let (t0, t1) = window_span(1000.0, 120.0, 15.0);
    let (lo, hi) = K8SENSUS_RESYNC_S;
    assert!(t0 < 1000.0 - 50.0 + lo && 1000.0 + hi < t1 && t1 < 1000.0 - 5.0 + 2.0 * lo);
    // A window long enough on its own opens after the settle time.
    assert_eq!(window_span(1000.0, 360.0, 15.0), (1015.0, 1375.0));
    // A short one (a quick check) ends at the same time and holds part of the resyncs.
    assert_eq!(window_span(1000.0, 40.0, 15.0), (1145.0, 1185.0));
}

/// Each N has a trial and a steady namespace per implementation, the seed in each, the two
/// apart (their replicas' log files are named after them).
#[test]
fn scale_namespaces_carry_the_seed_and_keep_trial_and_steady_apart() {
    let (trial, steady) = scale_namespaces(123456, "client-go", 100);
    assert_eq!(trial, "bench-23456-n100-client-go");
    assert_eq!(steady, "bench-23456-n100-steady-client-go");
    let mut all = std::collections::BTreeSet::new();
    for key in ["k8sensus", "client-go"] {
        for n in [3, 100] {
            let (a, b) = scale_namespaces(123456, key, n);
            all.insert(a);
            all.insert(b);
        }
    }
    assert_eq!(all.len(), 8);
}

/// One audit event as kube-apiserver writes it (its ResponseComplete stage).
fn audit_line(id: &str, t: f64, ns: &str, slot: usize, verb: &str) -> String {
    let ts = k8s_openapi::jiff::Timestamp::from_nanosecond((t * 1e9).round() as i128).unwrap();
    serde_json::json!({
        "auditID": id, "verb": verb, "stage": "ResponseComplete",
        "user": {"username": format!("system:serviceaccount:{ns}:replica-{slot}")},
        "requestReceivedTimestamp": ts.to_string(),
        "objectRef": {"resource": "leases"}, "responseStatus": {"code": 200},
    })
    .to_string()
}

/// A crash takeover's requests run from the old holder's last renewal + the lease duration to
/// one retry period after the new acquireTime; the old leader's slot is left out and the new
/// holder's requests are cut at half a retry period; failed trials count nothing.
#[test]
fn takeover_requests_count_the_takeover_alone() {
    let scratch = Scratch::new("takeover");
    let log = scratch.0.join("audit.log");
    let ns = "ns";
    std::fs::write(
        &log,
        [
            audit_line("old", 116.0, ns, 0, "get"),
            audit_line("w1", 115.5, ns, 1, "update"),
            audit_line("w2", 116.5, ns, 1, "get"),
            audit_line("s", 116.9, ns, 2, "get"),
            audit_line("early", 114.0, ns, 2, "get"),
            audit_line("other-ns", 116.0, "elsewhere", 2, "get"),
        ]
        .join("\n"),
    )
    .unwrap();
    let rs = set("k8sensus", ns, 3);
    let trial = CrashTrial::Measured(CrashMeasured {
        trial: 0,
        ns: ns.into(),
        ok: true,
        old: "k8sensus-0".into(),
        new: "k8sensus-1".into(),
        kill_t: 101.0,
        last_renew_t: Some(100.0),
        acquire_t: Some(115.0),
        seen_t: 115.01,
        failover_s: Some(15.0),
        failover_seen_s: Some(15.01),
        kill_after_renew_s: Some(1.0),
        transitions: Some(1),
    });
    let failed = CrashTrial::Failed(results::FailedTrial {
        trial: 1,
        ns: ns.into(),
        ok: false,
        old: Some("k8sensus-1".into()),
        reason: "no takeover before timeout".into(),
        exit_code: None,
    });
    let spans = TakeoverSpan::crash(&[trial, failed], rs.timings);
    let got = takeover_requests(&log, &rs, &spans);
    assert_eq!(
        got,
        vec![Takeover {
            trial: 0,
            from_t: 115.0,
            to_t: 117.0,
            requests: 2,
            by_request: BTreeMap::from([
                ("leases get 200".to_string(), 1),
                ("leases update 200".to_string(), 1)
            ]),
        }]
    );
    assert!(takeover_requests(&log, &rs, &[]).is_empty());
}

/// The section goes into the results file in place of the one there, every other key kept
/// byte for byte and in its order; a file without the key gets it at the end; no file starts
/// empty. The file is JSON indented by one space, as bench/run.py writes it.
#[test]
fn write_section_keeps_every_other_key_as_it_was() {
    let scratch = Scratch::new("write");
    let out = scratch.0.join("results.json");
    let before = "{\n \"command\": \"x\",\n \"scale\": {\n  \"old\": 1\n },\n \"cluster\": {\n  \"b\": 2.50,\n  \"a\": [\n   1e-05\n  ]\n }\n}\n";
    std::fs::write(&out, before).unwrap();
    write_section(&out, "scale", &serde_json::json!({"new": [1, 2]})).unwrap();
    let after = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        after,
        "{\n \"command\": \"x\",\n \"scale\": {\n  \"new\": [\n   1,\n   2\n  ]\n },\n \"cluster\": {\n  \"b\": 2.50,\n  \"a\": [\n   1e-05\n  ]\n }\n}\n"
    );
    write_section(&out, "added", &serde_json::json!(true)).unwrap();
    let keys: Vec<String> = top_level_entries(&std::fs::read_to_string(&out).unwrap())
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["command", "scale", "cluster", "added"]);
    let fresh = scratch.0.join("fresh.json");
    write_section(&fresh, "scale", &serde_json::json!({})).unwrap();
    assert_eq!(
        std::fs::read_to_string(&fresh).unwrap(),
        "{\n \"scale\": {}\n}\n"
    );
}

/// The section, each N's figures and their raw part keep the keys, in their order, of the
/// committed bench/results.json, which bench/render.py reads.
#[test]
fn scale_section_keeps_the_keys_of_the_committed_results() {
    let text = std::fs::read_to_string(Path::new(REPO).join("bench/results.json")).unwrap();
    let stored_text = top_level_entries(&text)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "scale")
        .expect("bench/results.json has a scale section")
        .1
        .to_string();
    let stored_keys: Vec<String> = top_level_entries(&stored_text)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let stored: Value = serde_json::from_str(&stored_text).unwrap();
    let empty = || Summary::of(&[], 0);
    let figures = ScaleFigures {
        replicas: 3,
        trials: TrialSummaries {
            crash_failover_s: empty(),
            crash_failover_seen_s: empty(),
            graceful_handoff_s: empty(),
            graceful_handoff_seen_s: empty(),
        },
        standby_requests_per_s: 0.0,
        standby_requests_per_s_max: None,
        all_standbys_requests_per_s: 0.0,
        leader_requests_per_s: 0.0,
        takeover_requests: Some(3.0),
        takeover_requests_max: Some(3),
        takeover_requests_graceful: Some(3.5),
        takeover_requests_graceful_max: Some(4),
        apiserver_cpu_s_per_min: 0.0,
        apiserver_cpu_s: 0.0,
        window_s: 120.0,
        transitions_in_window: 0,
        rss_mib: None,
        rss_mib_max: None,
        raw: ScaleRaw {
            crash: Vec::<CrashTrial>::new(),
            graceful: Vec::<GracefulTrial>::new(),
            takeovers_crash: Vec::new(),
            takeovers_graceful: Vec::new(),
            window: WindowSpan { t0: 0.0, t1: 120.0 },
            requests_by_replica: BTreeMap::from([(
                "k8sensus-0".to_string(),
                ReplicaRequests {
                    role: "leader",
                    requests: 60,
                    by_verb: BTreeMap::from([("update".to_string(), 60)]),
                },
            )]),
            rss_per_replica: BTreeMap::new(),
        },
    };
    let section = ScaleSection {
        k8sensus: ByN(vec![(3, figures.clone()), (10, figures.clone())]),
        client_go: ByN(vec![(3, figures)]),
        complete: true,
        started_at: "2026-11-30T15:13:40+00:00".into(),
        generated_at: "2026-11-30T15:27:10+00:00".into(),
        duration_s: 1.0,
        ns: vec![3, 10],
        timings: scale::TIMINGS.into(),
        crash_trials: 5,
        graceful_trials: 5,
        steady_seconds: 120.0,
        method: Method::new(),
        command: "python3 bench/run.py".into(),
        seed: 1,
        source: ScaleSource {
            build: serde_json::from_str::<Json>("{\"commit\": \"x\", \"dirty\": false}").unwrap(),
            k8sensus_binary_sha256: None,
            client_go_ref_binary_sha256: None,
            kubernetes_version: None,
        },
        machine: ScaleMachine {
            cpus: 2,
            load_by_phase: Vec::new(),
        },
    };
    let ours_text = scale::results::to_text(&section).unwrap();
    let ours_keys: Vec<String> = top_level_entries(&ours_text)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(ours_keys, stored_keys);
    let ours: Value = serde_json::from_str(&ours_text).unwrap();
    // The N in the order they ran, not sorted as text.
    assert_eq!(keys_at(&ours_text, &["k8sensus"]), ["3", "10"]);
    for path in [
        &["k8sensus", "3"][..],
        &["k8sensus", "3", "raw"],
        &["k8sensus", "3", "crash_failover_s"],
        &["k8sensus", "3", "raw", "window"],
        &["method"],
        &["timings"],
        &["machine"],
    ] {
        assert_eq!(
            keys_at(&ours_text, path),
            keys_at(&stored_text, path),
            "the keys of {}",
            path.join(".")
        );
    }
    // The method says what it said, word for word.
    assert_eq!(ours["method"], stored["method"]);
    // A median of request counts is written as a whole number when it is one.
    assert_eq!(ours["k8sensus"]["3"]["takeover_requests"].to_string(), "3");
    assert_eq!(
        ours["k8sensus"]["3"]["takeover_requests_graceful"].to_string(),
        "3.5"
    );
}

/// The keys, in order, of the object at `path` in `text` (the key order serde_json's `Value`
/// would lose).
fn keys_at(text: &str, path: &[&str]) -> Vec<String> {
    let mut cur = text.to_string();
    for p in path {
        cur = top_level_entries(&cur)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == p)
            .unwrap_or_else(|| panic!("no {p}"))
            .1
            .to_string();
    }
    top_level_entries(&cur)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Each N's stored failover and handoff figures follow from its stored raw trials, and its
/// takeover figures from its stored takeovers: the code that sums them up gives what the
/// last run's gave.
#[test]
fn stored_scale_figures_follow_from_their_raw_trials() {
    let text = std::fs::read_to_string(Path::new(REPO).join("bench/results.json")).unwrap();
    let stored: Value = serde_json::from_str(&text).unwrap();
    let close = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => a == b,
    };
    let mut checked = 0;
    for key in ["k8sensus", "client_go"] {
        for (n, s) in stored["scale"][key].as_object().unwrap() {
            let crash: Vec<CrashTrial> = serde_json::from_value(s["raw"]["crash"].clone()).unwrap();
            let graceful: Vec<GracefulTrial> =
                serde_json::from_value(s["raw"]["graceful"].clone()).unwrap();
            let got = serde_json::to_value(TrialSummaries::of(&crash, &graceful)).unwrap();
            for (figure, summary) in got.as_object().unwrap() {
                for (stat, v) in summary.as_object().unwrap() {
                    assert!(
                        close(v, &s[figure][stat]),
                        "{key} N={n} {figure}.{stat}: {v} vs {}",
                        s[figure][stat]
                    );
                }
            }
            let counts = |which: &str| -> Vec<f64> {
                s["raw"][which]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["requests"].as_f64().unwrap())
                    .collect()
            };
            let median = crate::support::stats::median;
            assert_eq!(
                median(&counts("takeovers_crash")),
                s["takeover_requests"].as_f64()
            );
            assert_eq!(
                median(&counts("takeovers_graceful")),
                s["takeover_requests_graceful"].as_f64()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "the committed results have a scale section");
}
