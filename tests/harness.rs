//! The test support, tested: its own tests run once, here, rather than in every test binary
//! that includes `support`. No API server is needed.
//!
//! - `log_lines`: the one parser of k8sensus's log lines reads both formats, as the binary's
//!   own formatter writes them, into the same fields, `event` included.
//! - `metrics_text`: the one /metrics reader accepts what k8sensus serves and refuses what a
//!   Prometheus scraper would.
//! - `overlap_checker`: the checker keys on `event` and can fail.
//! - `chaos_stats_and_proxy`: percentiles interpolate linearly between the closest ranks
//!   (the one definition the chaos suite and the benchmark share), and the fault proxy's
//!   modes do what they say.
//! - `lease_watch_queries`: what the chaos suite and the benchmark ask of the Lease watcher.
//! - `audit_log`: each request counted once, with its status code, within the window.
//! - `provenance_hashes`: the build inputs' hash follows what the binary is built from.
//! - `chaos_render`: CHAOS.md is rendered from the results' types, and the committed
//!   chaos/results.json reads back into them and renders the committed CHAOS.md.
//! - `cluster_part`: the pod log tailer reads the kubelet's files as the benchmark's cluster
//!   part needs them, and the committed cluster figures follow from their stored trials.

mod support;

#[path = "../chaos/results.rs"]
mod results;

#[path = "../chaos/render.rs"]
mod render;

// The cluster part's figures; the bench program uses the rest of it.
#[path = "../bench/cluster/results.rs"]
#[allow(dead_code)]
mod cluster_results;

mod log_lines {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use k8sensus::log_event;
    use serde_json::{Value, json};
    use tracing::info;

    use crate::support::log::{LogLine, parse_line};

    /// Lines written by tracing-subscriber's formatter, set up as `telemetry::init` sets it
    /// up (no target; JSON flattened, no span), into a buffer.
    fn formatted(json: bool, emit: impl FnOnce()) -> Vec<String> {
        #[derive(Clone)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer(Arc::default());
        let writer = buffer.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_target(false)
            .with_ansi(false);
        if json {
            let subscriber = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish();
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            tracing::subscriber::with_default(builder.finish(), emit);
        }
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// The lines the checker and the tests read, as the binary logs them.
    fn emit() {
        let lease = "ns/k8sensus-lease";
        info!(
            fencing_token = 3,
            mono_ns = 1_911_911_018_689_u64,
            event = log_event::WORK_RUN,
            "k8sensus is running sample task."
        );
        info!(lease = %lease, identity = %"pod-a", transitions = 3, event = log_event::ACQUIRED,
            "successfully acquired lease {lease}");
        info!(holder = %"pod-b", event = log_event::NEW_LEADER, "New leader is: pod-b");
        info!(pod = "p1", "labelled pod p1 k8sensus.io/role=leader");
        let error = "connection refused (os error 111)";
        info!(error = %error, reason = "it is now held by \"x\"", event = log_event::STOPPED_LEADING,
            "stopped leading");
    }

    /// Both formats give the same message, `event` and fields, numbers as numbers.
    #[test]
    fn plain_and_json_lines_read_the_same() {
        let plain = formatted(false, emit);
        let json = formatted(true, emit);
        assert_eq!(plain.len(), 5, "{plain:#?}");
        assert_eq!(json.len(), 5, "{json:#?}");
        for (p, j) in plain.iter().zip(&json) {
            let (p, j) = (parse_line(p).unwrap(), parse_line(j).unwrap());
            for key in [
                "message",
                "event",
                "level",
                "fencing_token",
                "mono_ns",
                "lease",
            ] {
                assert_eq!(p[key], j[key], "{key}: plain {p} json {j}");
            }
            for key in [
                "identity",
                "holder",
                "pod",
                "error",
                "reason",
                "transitions",
            ] {
                assert_eq!(p[key], j[key], "{key}: plain {p} json {j}");
            }
        }
        let run = LogLine::new(parse_line(&plain[0]).unwrap());
        assert!(run.is(log_event::WORK_RUN), "{}", run.json);
        assert_eq!(run.message(), "k8sensus is running sample task.");
        assert_eq!(run.json["fencing_token"], 3);
        assert_eq!(run.mono_ns(), Some(1_911_911_018_689));
        let acquired = LogLine::new(parse_line(&plain[1]).unwrap());
        assert_eq!(acquired.field("lease"), Some("ns/k8sensus-lease"));
        assert_eq!(acquired.field("identity"), Some("pod-a"));
        // A `key=value` inside the message is not a field.
        let labelled = parse_line(&plain[3]).unwrap();
        assert_eq!(
            labelled["message"],
            "labelled pod p1 k8sensus.io/role=leader"
        );
        assert_eq!(labelled["pod"], "p1");
        assert_eq!(labelled["event"], Value::Null);
        // A bare value with spaces stays whole; a quoted one loses its escapes.
        let stopped = parse_line(&plain[4]).unwrap();
        assert_eq!(stopped["error"], "connection refused (os error 111)");
        assert_eq!(stopped["reason"], "it is now held by \"x\"");
        assert_eq!(stopped["event"], log_event::STOPPED_LEADING);
    }

    /// Fields of the spans in scope (plain format: `name{k=v}:` before the message) count.
    #[test]
    fn span_fields_count_in_plain_lines() {
        let lines = formatted(false, || {
            let span = tracing::info_span!("election", lease = "ns/l", identity = "pod-a");
            let _in = span.enter();
            info!(
                event = log_event::CAMPAIGNING,
                "attempting to acquire leader lease ns/l..."
            );
        });
        let line = parse_line(&lines[0]).unwrap();
        assert_eq!(line["lease"], "ns/l", "{}", lines[0]);
        assert_eq!(line["identity"], "pod-a");
        assert_eq!(
            line["message"],
            "attempting to acquire leader lease ns/l..."
        );
        assert_eq!(line["event"], log_event::CAMPAIGNING);
    }

    /// JSON whose fields sit under `fields` (no `flatten_event`) reads the same.
    #[test]
    fn nested_json_fields_are_lifted() {
        let line = parse_line(
            r#"{"level":"INFO","fields":{"message":"sample task stopped","event":"work_stopped","mono_ns":5}}"#,
        )
        .unwrap();
        assert_eq!(line["event"], "work_stopped");
        assert_eq!(line["mono_ns"], 5);
        assert_eq!(line["message"], "sample task stopped");
    }

    /// The fields of the spans a JSON line was logged in count as its fields (the elector's
    /// span carries `lease` and `identity`); the line's own fields win.
    #[test]
    fn json_span_fields_are_lifted() {
        let line = parse_line(
            r#"{"level":"INFO","message":"x","event":"acquired","lease":"own","spans":[{"lease":"ns/l","identity":"pod-a","name":"election"}]}"#,
        )
        .unwrap();
        assert_eq!(line["identity"], "pod-a");
        assert_eq!(line["lease"], "own");
        assert!(line.get("name").is_none());
    }

    /// What is not a log line of k8sensus's is not read as one.
    #[test]
    fn other_lines_are_not_log_lines() {
        for text in [
            "",
            "thread 'main' panicked at src/main.rs:1:1:",
            "holder       pod-a",
            "[controlplane] stopped",
            "{not json",
        ] {
            assert_eq!(parse_line(text), None, "{text:?}");
        }
        assert_eq!(
            parse_line(r#"{"message":"x","event":"work_run"}"#),
            Some(json!({"message": "x", "event": "work_run"}))
        );
    }
}

mod metrics_text {
    use std::time::Duration;

    use k8sensus::elector::{ElectionHooks, ElectionStatus, ErrorKind, Verb};

    use crate::support::metrics::Metrics;

    /// What k8sensus serves on /metrics parses, and reads back the values put in.
    #[test]
    fn reads_what_k8sensus_serves() {
        let served = k8sensus::metrics::Metrics::new("my-lease");
        served.renewed(Duration::from_millis(3));
        served.renewed(Duration::from_millis(4));
        served.api_error(Verb::Update, ErrorKind::Timeout);
        served.api_error(Verb::Get, ErrorKind::Timeout);
        let text = served.render(&ElectionStatus {
            leading: true,
            transitions: 7,
            ..Default::default()
        });
        let metrics = Metrics::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        let lease = [("name", "my-lease")];
        assert_eq!(
            metrics.get("leader_election_master_status", &lease),
            Some(1.0)
        );
        assert_eq!(metrics.get("k8sensus_fencing_token", &lease), Some(7.0));
        assert_eq!(
            metrics.get("k8sensus_renew_duration_seconds_count", &[]),
            Some(2.0)
        );
        assert_eq!(
            metrics.get(
                "k8sensus_api_errors_total",
                &[("kind", "timeout"), ("verb", "update")]
            ),
            Some(1.0)
        );
        assert_eq!(metrics.sum("k8sensus_api_errors_total"), 2.0);
        assert_eq!(metrics.get("leader_election_master_status", &[]), None);
    }

    /// Labels with escapes and `+Inf`, an optional timestamp.
    #[test]
    fn reads_labels_and_special_values() {
        let metrics = Metrics::parse(
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nm{a=\"x \\\"y\\\"\",b=\"1,2\"} +Inf\nt 5 1700000000\n# EOF\n",
        )
        .unwrap();
        assert_eq!(metrics.get("h_bucket", &[("le", "+Inf")]), Some(3.0));
        assert_eq!(
            metrics.get("m", &[("b", "1,2"), ("a", "x \"y\"")]),
            Some(f64::INFINITY)
        );
        assert_eq!(metrics.get("t", &[]), Some(5.0));
    }

    /// What a scraper would refuse is refused, naming the line.
    #[test]
    fn refuses_a_bad_exposition() {
        for (text, why) in [
            ("a 1\n", "# EOF"),
            ("a-b 1\n# EOF\n", "a-b 1"),
            ("a{b=\"c\" 1\n# EOF\n", "a{b"),
            ("a{b=c} 1\n# EOF\n", "a{b=c}"),
            ("a one\n# EOF\n", "a one"),
            ("a 1 2 3\n# EOF\n", "a 1 2 3"),
        ] {
            let err = Metrics::parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}

mod overlap_checker {
    use k8sensus::log_event;
    use serde_json::json;

    use crate::support::log::LogLine;
    use crate::support::overlap::{self, Term};

    /// A line with `event`, a fencing token and a `mono_ns`, worded unlike the binary's.
    fn line(event: &str, token: i64, mono_ns: u64) -> LogLine {
        LogLine::new(json!({
            "message": format!("any wording ({event})"),
            "event": event,
            "fencing_token": token,
            "mono_ns": mono_ns,
        }))
    }

    fn run_line(token: i64, mono_ns: u64) -> LogLine {
        line(log_event::WORK_RUN, token, mono_ns)
    }

    fn start_line(token: i64, mono_ns: u64) -> LogLine {
        line(log_event::WORK_STARTED, token, mono_ns)
    }

    fn stop_line(token: i64, mono_ns: u64, ended_mono_ns: Option<u64>) -> LogLine {
        let mut stop = line(log_event::WORK_STOPPED, token, mono_ns);
        if let Some(ended) = ended_mono_ns {
            stop.json["ended_mono_ns"] = json!(ended);
        }
        stop
    }

    /// The checker reads `event`, not wording: the binary's own sentences without an `event`
    /// are not work, and other sentences with one are.
    #[test]
    fn checker_keys_on_event_not_wording() {
        let worded = |message: &str, mono_ns: u64| {
            LogLine::new(json!({"message": message, "fencing_token": 1, "mono_ns": mono_ns}))
        };
        let unmarked = [
            worded(overlap::START, 0),
            worded(overlap::RUN, 100),
            worded(overlap::STOP, 200),
        ];
        assert!(overlap::terms_in_logs("a", &unmarked).is_empty());
        let reworded = [start_line(1, 0), run_line(1, 100), stop_line(1, 200, None)];
        let terms = overlap::terms_in_logs("a", &reworded);
        assert_eq!(terms.len(), 1, "{terms:?}");
        assert_eq!(
            (terms[0].first_ns, terms[0].last_ns, terms[0].runs),
            (0, 200, 1)
        );
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

    #[test]
    fn checker_reads_terms_from_logs_and_compares_one_replicas_terms_too() {
        // Two terms of one replica (a new start line opens the second, even with the same
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

    /// Terms run from the line that starts the work to the line that ends it: an overlap
    /// shorter than a task period at either edge, invisible between first and last runs, is
    /// found.
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

    /// A frozen leader logs its stop only after it resumes; its term ends at `ended_mono_ns`,
    /// its deadline. But a run after that deadline still counts, and is found.
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

    /// A killed process logs no stop line: its term ends at its last line. A run with no
    /// start line opens a term of its own.
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
}

/// The chaos suite's statistics, and the fault proxy.
mod chaos_stats_and_proxy {
    use std::time::{Duration, Instant};

    use crate::support::proxy::Proxy;
    use crate::support::stats::{Summary, percentile, round3};

    /// Percentiles interpolate linearly between the closest ranks (numpy's default), in
    /// whatever order the values come.
    #[test]
    fn percentiles_interpolate_between_closest_ranks() {
        let values: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(percentile(&values, 90.0), Some(18.1));
        assert_eq!(percentile(&values, 50.0), Some(10.5));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 90.0), Some(3.7));
        assert_eq!(percentile(&[3.0], 90.0), Some(3.0));
        assert_eq!(percentile(&[], 90.0), None);
    }

    /// A summary counts the trials that gave a figure and those that failed.
    #[test]
    fn summaries_count_failed_trials() {
        let s = Summary::of(&[2.0, 1.0, 3.0], 1);
        assert_eq!(
            (s.p50, s.max, s.min, s.mean, s.trials, s.failed_trials),
            (Some(2.0), Some(3.0), Some(1.0), Some(2.0), 3, 1)
        );
        let none = Summary::of(&[], 2);
        assert_eq!(
            (none.p50, none.mean, none.trials, none.failed_trials),
            (None, None, 0, 2)
        );
    }

    #[test]
    fn durations_are_rounded_to_the_millisecond() {
        assert_eq!(round3(3.845_499), 3.845);
        assert_eq!(round3(3.845_5), 3.846);
        assert_eq!(round3(-0.000_4), -0.0);
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
}

/// What the chaos suite and the benchmark ask of the one Lease watcher.
mod lease_watch_queries {
    use std::time::{Duration, Instant};

    use crate::support::lease_watch::{EventKind, LeaseEvent, LeaseWatcher};

    fn ev(at: Instant, kind: EventKind, holder: &str, acquire: f64, renew: f64) -> LeaseEvent {
        LeaseEvent {
            t: renew,
            at,
            kind,
            namespace: "ns".into(),
            resource_version: None,
            holder: holder.into(),
            acquire: Some(acquire),
            renew: Some(renew),
            lease_duration_seconds: Some(4),
            lease_transitions: Some(0),
        }
    }

    /// The takeover as a standby sees it runs from the old holder's last change to the
    /// first event naming another holder; a deleted Lease names no one.
    #[test]
    fn takeover_after_last_change_and_new_holder() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let w = LeaseWatcher::replay(vec![
            ev(at(0), EventKind::Listed, "a", 1.0, 1.0),
            ev(at(500), EventKind::Modified, "a", 1.0, 1.5),
            ev(at(700), EventKind::Deleted, "a", 1.0, 1.5),
            ev(at(4700), EventKind::Added, "b", 5.7, 5.7),
        ]);
        let (delay, who) = w.takeover_after_last_change("ns", "a").unwrap();
        assert_eq!(who, "b");
        assert!((delay - 4.2).abs() < 1e-6, "{delay}");
        assert_eq!(
            w.new_holder_since("ns", 1, "a").map(|e| e.holder),
            Some("b".into())
        );
        assert!(w.new_holder_since("ns", 4, "a").is_none());
        assert_eq!(w.count("ns"), 4);
        assert_eq!(w.since("ns", 3).len(), 1);
        assert!(w.latest("other").is_none());
    }

    /// A holder has renewed once its renewTime is later than its acquireTime.
    #[test]
    fn renewed_needs_a_later_renew_time() {
        let now = Instant::now();
        assert!(!ev(now, EventKind::Modified, "a", 1.0, 1.0).renewed());
        assert!(ev(now, EventKind::Modified, "a", 1.0, 3.0).renewed());
    }
}

/// kube-apiserver's audit log, read request by request.
mod audit_log {
    use std::collections::BTreeMap;

    use crate::support::audit::{audit_counts, audit_totals, parse_time};

    fn line(id: &str, t: &str, verb: &str, resource: &str, code: Option<i64>) -> String {
        let mut e = serde_json::json!({
            "auditID": id, "verb": verb, "stage": "x",
            "user": {"username": "system:serviceaccount:n1:replica-0"},
            "requestReceivedTimestamp": t, "objectRef": {"resource": resource},
        });
        if let Some(code) = code {
            e["responseStatus"] = serde_json::json!({ "code": code });
        }
        e.to_string()
    }

    /// An audit event is counted once per auditID, with its response code once it has one,
    /// only within the window, Leases only unless asked for every resource.
    #[test]
    fn each_request_once_with_its_code_within_the_window() {
        let dir = std::env::temp_dir().join(format!("k8sensus-audit-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("audit.log");
        let text = [
            line("a", "1970-01-01T00:00:10.000000Z", "get", "leases", None),
            line(
                "a",
                "1970-01-01T00:00:10.000000Z",
                "get",
                "leases",
                Some(200),
            ),
            "garbage".into(),
            line(
                "b",
                "1970-01-01T00:00:11.500000Z",
                "create",
                "events",
                Some(201),
            ),
            line("c", "1970-01-01T00:00:50Z", "get", "leases", Some(200)),
        ]
        .join("\n");
        std::fs::write(&log, text).unwrap();
        let seen = audit_counts(&log, 0.0, 20.0, true);
        let mine = &seen["system:serviceaccount:n1:replica-0"];
        assert_eq!(mine.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(mine["a"].code, Some(200));
        let namespaces = BTreeMap::from([("n1".to_string(), "k8sensus".to_string())]);
        let totals = audit_totals(&log, &namespaces, 0.0, 20.0);
        assert_eq!(
            totals["k8sensus"],
            BTreeMap::from([
                ("events create 201".to_string(), 1),
                ("leases get 200".to_string(), 1)
            ])
        );
        assert_eq!(parse_time("1970-01-01T00:00:11.5Z"), Some(11.5));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// How `cargo test NAME` selects in the programs without libtest's harness.
mod libtest_filter {
    use crate::support::libtest::Libtest;

    fn lib(filter: Option<&str>, exact: bool, ignored: bool) -> Libtest {
        Libtest {
            filter: filter.map(str::to_string),
            exact,
            ignored,
            include_ignored: false,
            nocapture: false,
            quiet: false,
            test_threads: None,
        }
    }

    /// No filter runs everything; a filter runs the names that contain it (the whole name
    /// with `--exact`); `--ignored` runs nothing, as these programs have no ignored test.
    #[test]
    fn a_filter_selects_as_libtest_does() {
        assert!(lib(None, false, false).selects("kill9_leader"));
        assert!(lib(Some("kill9"), false, false).selects("kill9_leader"));
        assert!(!lib(Some("kill9"), false, false).selects("sigterm_leader"));
        assert!(!lib(Some("kill9"), true, false).selects("kill9_leader"));
        assert!(lib(Some("kill9_leader"), true, false).selects("kill9_leader"));
        assert!(!lib(None, false, true).selects("bench_local"));
    }
}

/// Where figures come from.
mod provenance_hashes {
    use crate::support::provenance::{build_inputs_sha256, sha256_file};

    /// The build inputs' hash changes with src/ or Cargo.toml, not with tests or documents,
    /// and is the same for the same inputs wherever they are.
    #[test]
    fn the_build_inputs_hash_follows_what_the_binary_is_built_from() {
        let base = std::env::temp_dir().join(format!("k8sensus-prov-test-{}", std::process::id()));
        let tree = |name: &str, main: &str| {
            let root = base.join(name);
            std::fs::create_dir_all(root.join("src/elector")).unwrap();
            std::fs::create_dir_all(root.join("tests")).unwrap();
            std::fs::write(root.join("Cargo.toml"), "[package]\n").unwrap();
            std::fs::write(root.join("src/main.rs"), main).unwrap();
            std::fs::write(root.join("src/elector/mod.rs"), "// elector\n").unwrap();
            root
        };
        let (a, b) = (tree("a", "fn main() {}\n"), tree("b", "fn main() {}\n"));
        assert_eq!(build_inputs_sha256(&a), build_inputs_sha256(&b));
        std::fs::write(b.join("tests/t.rs"), "// a test\n").unwrap();
        std::fs::write(b.join("README.md"), "# doc\n").unwrap();
        assert_eq!(build_inputs_sha256(&a), build_inputs_sha256(&b));
        std::fs::write(b.join("src/elector/mod.rs"), "// changed\n").unwrap();
        assert_ne!(build_inputs_sha256(&a), build_inputs_sha256(&b));
        std::fs::write(a.join("empty"), "").unwrap();
        assert_eq!(
            sha256_file(&a.join("empty")).as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}

/// CHAOS.md, from the chaos suite's results as types.
mod chaos_render {
    use std::collections::BTreeMap;

    use crate::render::render;
    use crate::results::{
        ClockSkew, FaultSummary, FrozenLeader, LoadAverage, Machine, Problem, Provenance, Results,
        Timings,
    };
    use crate::support::REPO;

    /// One fault's summary: its trials, overlaps and gaps.
    fn fault(name: &str, trials: usize, overlaps: usize, gaps_s: &[f64]) -> FaultSummary {
        FaultSummary {
            what: format!("what {name} does"),
            trials,
            overlaps,
            overlap_pairs: overlaps,
            failures: 0,
            handovers: gaps_s.len(),
            max_gap_s: gaps_s.last().copied(),
            p90_gap_s: gaps_s.last().copied(),
            median_gap_s: gaps_s.first().copied(),
            min_gap_s: gaps_s.first().copied(),
            gaps_s: gaps_s.to_vec(),
            reproduce: format!("cargo test --locked --test chaos -- --only {name} --seed 7"),
        }
    }

    /// Two trials of two faults, listed in the suite's order (not the file's sorted one):
    /// `lease_deleted`, whose second trial overlapped, then `kill9_leader`, with no handover.
    fn two_faults() -> Results {
        Results {
            command: "cargo test --locked --test chaos -- --trials 2".into(),
            seed: 7,
            fault_order: vec!["lease_deleted".into(), "kill9_leader".into()],
            trials_per_fault: 2,
            parallel: 3,
            timings: Timings {
                lease_duration_s: 4.0,
                renew_deadline_s: 3.0,
                retry_period_s: 0.5,
                task_period_s: 0.1,
            },
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:03:00Z".into(),
            duration_s: 180.0,
            load_average: LoadAverage {
                start: "0.5 0.5 0.5".into(),
                end: "1.0 1.0 1.0".into(),
            },
            produced_by: Provenance {
                commit: Some("0123456789abcdef".into()),
                commit_subject: Some("a commit".into()),
                working_tree_changes: Vec::new(),
                binary_sha256: None,
                source_changed_during_run: false,
                commit_at_end: None,
                machine: Machine {
                    cpus: Some(2),
                    cpu_model: None,
                    memory_gib: Some(16.0),
                    kernel: "6.1".into(),
                    rustc: None,
                    kubernetes: "v1.33".into(),
                },
            },
            faults: BTreeMap::from([
                ("kill9_leader".into(), fault("kill9_leader", 2, 0, &[])),
                (
                    "lease_deleted".into(),
                    fault("lease_deleted", 2, 1, &[-0.002, 0.412]),
                ),
            ]),
            frozen_leader: FrozenLeader {
                trials: 0,
                runs_after_sigstop: 0,
                trials_that_logged_term_over: 0,
                example: None,
            },
            clock_skew: ClockSkew {
                factor: 1.1,
                how: "FAKETIME".into(),
                library: None,
                measured_clock_rates: Vec::new(),
                skewed_standby_took_over: 0,
                takeover_after_last_change_s: Vec::new(),
                unskewed_takeover_after_last_change_s: Vec::new(),
            },
            problems: vec![Problem {
                fault: "lease_deleted".into(),
                trial: 1,
                seed: 99,
                overlaps: vec!["replica-a and replica-b overlap by 2 ms".into()],
                problems: Vec::new(),
                log_file: None,
            }],
            trials: Vec::new(),
        }
    }

    #[test]
    fn a_small_result_renders_its_rows_verdict_and_problems() {
        let md = render(&two_faults());
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(
            table,
            [
                "| `lease_deleted` | 2 | **1** | 0 | 2 | 0.412 s | 0.412 s | -0.002 s |",
                "| `kill9_leader` | 2 | 0 | 0 | 0 | – | – | – |",
            ]
        );
        for expected in [
            "2 trials of each. **1 of 4 trials found two leaders working at once.**\n",
            "- **Source:** commit `0123456789ab` \"a commit\", with a clean working tree,",
            "sha256 `unknown…`.",
            "- **Machine:** ?, 2 CPUs, 16.0 GiB, Linux 6.1, ?, Kubernetes v1.33;",
            "timings 4 s / 3 s / 0.5 s (lease duration / renew deadline / retry period) and the \
             sample task every 100 ms.",
            "- `lease_deleted`: what lease_deleted does.\n\
             - `kill9_leader`: what kill9_leader does.\n",
            "## What went wrong\n\n- `lease_deleted` trial 1 (seed 99):\n  \
             - replica-a and replica-b overlap by 2 ms\n",
            "**Why `lease_deleted` overlaps.**",
            "## A frozen leader\n\nNo SIGSTOP trial ran.\n",
            "## A standby whose clock runs fast\n\nNo clock-skew trial ran.\n",
            "```sh\ncargo test --locked --test chaos -- --only lease_deleted --seed 7\n\
             cargo test --locked --test chaos -- --only kill9_leader --seed 7\n```\n",
        ] {
            assert!(md.contains(expected), "CHAOS.md lacks {expected:?}:\n{md}");
        }
        assert!(md.ends_with("`apt-get install faketime` on Debian or Ubuntu.\n"));
    }

    /// The committed results file holds nothing the types do not (it reads back and writes
    /// back unchanged), and the committed CHAOS.md is what it renders to.
    #[test]
    fn the_committed_results_read_back_and_render_the_committed_chaos_md() {
        let read = |path: &str| {
            std::fs::read_to_string(format!("{REPO}/{path}"))
                .unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let text = read("chaos/results.json");
        let results = Results::from_json(&text).expect("chaos/results.json reads as Results");
        assert!(
            results.to_json() == text,
            "chaos/results.json does not write back unchanged: a key the types do not have?"
        );
        assert!(
            render(&results) == read("CHAOS.md"),
            "CHAOS.md is not what chaos/results.json renders to: run \
             `cargo test --test chaos -- --render-only chaos/results.json`"
        );
    }
}

mod cluster_part {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use serde_json::Value;

    use crate::support::REPO;
    use crate::support::cluster::{PodLogs, Tailer, Work, cri_time};
    use crate::support::overlap::{Term, find_overlaps};
    use crate::support::wait_until;

    use super::cluster_results::{Figures, RolloutTrial, Trial};

    /// A kubelet log folder: `<ns>_<pod>_<uid>/k8sensus/<restart>.log` under `root`.
    fn log_file(root: &std::path::Path, ns: &str, pod: &str, restart: u32) -> std::path::PathBuf {
        let dir = root.join(format!("{ns}_{pod}_uid")).join("k8sensus");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(format!("{restart}.log"))
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("k8sensus-harness-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The tailer reads complete CRI lines only, joins partial ones, and tells the work lines
    /// apart by their `event` (either format), each line with its namespace, pod, restart and
    /// CRI time.
    #[test]
    fn the_tailer_reads_whole_cri_lines_and_marks_work() {
        let root = scratch("tailer");
        let f = log_file(&root, "k8sensus", "pod-a", 0);
        std::fs::write(
            &f,
            "2025-01-01T00:00:00Z stdout F {\"event\": \"work_started\", \"mono_ns\": 5}\n\
             2025-01-01T00:00:01Z stdout P {\"event\": \"work_r\n\
             2025-01-01T00:00:01Z stdout F un\", \"mono_ns\": 9}\n\
             2026-11-30T11:50:00.123Z stdout F 2026-11-30T11:50:00.123Z  INFO election{lease=k8sensus/k8sensus-lease identity=pod-a}: sample task stopped fencing_token=2 mono_ns=12 event=\"work_stopped\"\n\
             2026-11-30T11:50:00.2Z stdout F sample task stopped\n\
             2025-01-01T00:00:02Z stdout F {\"event\": \"work_st",
        )
        .unwrap();
        let mut tailer = Tailer::new(root.clone());
        let (lines, error) = tailer.poll();
        assert!(error.is_none());
        let work: Vec<Option<Work>> = lines.iter().map(|l| l.work()).collect();
        assert_eq!(
            work,
            [Some(Work::Start), Some(Work::Run), Some(Work::Stop), None],
            "{lines:#?}"
        );
        assert_eq!(lines[1].mono_ns(), Some(9));
        assert_eq!(
            lines[2].line.as_ref().unwrap().field("identity"),
            Some("pod-a")
        );
        assert_eq!(
            (
                lines[0].namespace.as_str(),
                lines[0].pod.as_str(),
                lines[0].restart
            ),
            ("k8sensus", "pod-a", 0)
        );
        assert_eq!(lines[3].text, "sample task stopped");
        assert_eq!(lines[0].cri_time, cri_time("2025-01-01T00:00:00Z"));
        // The unfinished last line waits for its newline.
        assert!(tailer.poll().0.is_empty());
        assert_eq!(cri_time("1970-01-01T00:00:01.5Z"), Some(1.5));
        assert_eq!(cri_time("garbage"), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The queries the trials ask answer from the lines of the right namespace, pod and
    /// restart; the lines are saved per pod.
    #[test]
    fn pod_logs_answer_the_trials_queries() {
        let root = scratch("pod-logs");
        let line = |event: &str, mono: u64| {
            format!(
                "2025-01-01T00:00:00Z stdout F {{\"event\": \"{event}\", \"mono_ns\": {mono}}}\n"
            )
        };
        let a0 = line("work_started", 5) + &line("work_run", 9) + &line("work_stopped", 20);
        std::fs::write(log_file(&root, "k8sensus", "pod-a", 0), a0).unwrap();
        std::fs::write(log_file(&root, "k8sensus", "pod-a", 1), line("other", 30)).unwrap();
        std::fs::write(
            log_file(&root, "k8sensus", "pod-b", 0),
            line("work_started", 25),
        )
        .unwrap();
        std::fs::write(
            log_file(&root, "client-go", "pod-c", 0),
            line("work_run", 7),
        )
        .unwrap();
        let logs = PodLogs::tail(root.clone());
        wait_until("the tailer to read 6 lines", Duration::from_secs(5), || {
            (logs.with_lines(|l| l.len()) == 6).then_some(())
        });
        let first = |after, pod| logs.first_work_after("k8sensus", after, pod).map(|l| l.pod);
        assert_eq!(first(6, None).as_deref(), Some("pod-a"));
        assert_eq!(first(9, None).as_deref(), Some("pod-b"));
        assert_eq!(first(0, Some("pod-b")).as_deref(), Some("pod-b"));
        assert_eq!(
            logs.first_work_after("client-go", 0, None).unwrap().pod,
            "pod-c"
        );
        // pod-a's restarted container has not worked; pod-b has started and not stopped.
        assert!(!logs.working("k8sensus", "pod-a"));
        assert!(logs.working("k8sensus", "pod-b"));
        assert_eq!(
            logs.first_line("k8sensus", "pod-a", 1).unwrap().mono_ns(),
            Some(30)
        );
        assert_eq!(
            logs.stopped_after("k8sensus", "pod-a", 10)
                .unwrap()
                .mono_ns(),
            Some(20)
        );
        assert!(logs.stopped_after("k8sensus", "pod-a", 21).is_none());
        let terms = logs.terms("k8sensus");
        let spans: Vec<(&str, u64, u64)> = terms
            .iter()
            .map(|t| (t.replica.as_str(), t.first_ns, t.last_ns))
            .collect();
        assert_eq!(spans, [("pod-a", 5, 20), ("pod-b", 25, 25)]);
        let saved = root.join("saved");
        logs.save(&saved).unwrap();
        let text = std::fs::read_to_string(saved.join("k8sensus_pod-a.log")).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(
            text.ends_with("[1] {\"event\": \"other\", \"mono_ns\": 30}\n"),
            "{text}"
        );
        drop(logs);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The committed results' cluster section, as the types read it.
    fn stored() -> Value {
        let text = std::fs::read_to_string(format!("{REPO}/bench/results.json")).unwrap();
        let results: Value = serde_json::from_str(&text).unwrap();
        results["cluster"].clone()
    }

    /// Each stored rollout's overlaps and gaps follow again from its stored terms.
    #[test]
    fn stored_rollouts_follow_from_their_terms() {
        let cluster = stored();
        for k in ["k8sensus", "client_go"] {
            let rollouts: Vec<Trial<RolloutTrial>> =
                serde_json::from_value(cluster[k]["raw"]["rollout"].clone()).unwrap();
            for t in rollouts.iter().filter_map(Trial::succeeded) {
                let terms: Vec<Term> = t
                    .terms
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Term {
                        ordinal: i + 1,
                        runs: r.runs,
                        ..Term::new(&r.pod, r.token.unwrap_or(-1), r.first_ns, r.last_ns)
                    })
                    .collect();
                assert_eq!(
                    find_overlaps(&terms).len(),
                    t.overlaps,
                    "{k} rollout {}",
                    t.trial
                );
                let gaps: Vec<f64> = terms
                    .windows(2)
                    .map(|w| (w[1].first_ns as f64 - w[0].last_ns as f64) / 1e9)
                    .collect();
                assert_eq!(gaps.len(), t.gaps_s.len());
                for (a, b) in gaps.iter().zip(&t.gaps_s) {
                    assert!(
                        (a - b).abs() < 1e-9,
                        "{k} rollout {}: {gaps:?} {:?}",
                        t.trial,
                        t.gaps_s
                    );
                }
            }
        }
    }

    /// Two JSON values equal but for the last digits of a float.
    fn assert_close(a: &Value, b: &Value, at: &str) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let kx: BTreeSet<&String> = x.keys().collect();
                let ky: BTreeSet<&String> = y.keys().collect();
                assert_eq!(kx, ky, "{at}: keys differ");
                for k in kx {
                    assert_close(&x[k], &y[k], &format!("{at}.{k}"));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}: lengths differ");
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    assert_close(p, q, &format!("{at}[{i}]"));
                }
            }
            (Value::Number(x), Value::Number(y)) => {
                let (p, q) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((p - q).abs() <= 1e-9 * p.abs().max(1.0), "{at}: {p} != {q}");
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }

    /// The stored figures of each implementation follow again from its stored trials: the
    /// records read into the types and write back with the same keys and values, and the
    /// summaries computed from them are those stored.
    #[test]
    fn stored_figures_follow_from_the_raw_trials() {
        let cluster = stored();
        for k in ["k8sensus", "client_go"] {
            let stored = &cluster[k];
            let read: Figures = serde_json::from_value(stored.clone())
                .unwrap_or_else(|e| panic!("{k}'s figures do not read: {e}"));
            let again = Figures::of(&read.namespace, read.raw.clone(), read.apply.clone(), &[]);
            let mut again = serde_json::to_value(&again).unwrap();
            // The whole run's terms are not stored.
            for key in ["overlaps_whole_run", "terms_whole_run"] {
                again[key] = stored[key].clone();
            }
            assert_close(&again, stored, k);
        }
    }
}
