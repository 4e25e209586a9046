//! The harness, tested: the overlap checker must be able to fail, the fault proxy's modes
//! must do what they say, and the chaos suite's percentiles must be nearest-rank. They run
//! once, here, rather than in every test binary that includes the support modules.

mod support;

#[path = "../chaos/stats.rs"]
mod stats;

use std::time::{Duration, Instant};

use k8sensus::log_event;
use serde_json::json;
use stats::{percentile, round3};
use support::LogLine;
use support::overlap::{self, Term};
use support::proxy::Proxy;

// -------------------------------------------------------------------------------------------
// The checker, checked: it must be able to fail
// -------------------------------------------------------------------------------------------

// The lines of a term's work as src/sample_task.rs logs them: message, `event`, fencing token
// and `mono_ns`, and for the stop line the end of the term's authority.

fn start_line(token: i64, mono_ns: u64) -> LogLine {
    LogLine {
        at: Instant::now(),
        json: json!({"message": overlap::START, "event": log_event::WORK_STARTED, "fencing_token": token, "mono_ns": mono_ns}),
    }
}

fn run_line(token: i64, mono_ns: u64) -> LogLine {
    LogLine {
        at: Instant::now(),
        json: json!({"message": overlap::RUN, "event": log_event::WORK_RUN, "fencing_token": token, "mono_ns": mono_ns}),
    }
}

fn stop_line(token: i64, mono_ns: u64, ended_mono_ns: Option<u64>) -> LogLine {
    let mut json = json!({"message": overlap::STOP, "event": log_event::WORK_STOPPED, "fencing_token": token, "mono_ns": mono_ns});
    if let Some(ended) = ended_mono_ns {
        json["ended_mono_ns"] = json!(ended);
    }
    LogLine {
        at: Instant::now(),
        json,
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
