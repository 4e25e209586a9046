//! The harness's one HTTP client, for a replica's probe server (/healthz, /readyz,
//! /metrics): plain HTTP/1.0 over TCP, so that nothing between the test and the server
//! (connection reuse, redirects, proxies from the environment) hides what the server did.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// `GET path` from `addr` (`host:port`): the status code and the body, or `None` when
/// nothing answers (the listener is gone) or the answer is not HTTP.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// Polls /readyz (and /healthz) of a replica that was just told to shut down, until it stops
/// answering or `limit` passes. Returns how often /readyz said 503 "shutting down", and
/// whether /healthz, whenever it still answered, said 200.
pub fn readiness_during_shutdown(addr: &str, limit: Duration) -> (usize, bool) {
    let start = Instant::now();
    let (mut unready, mut healthy) = (0, true);
    while start.elapsed() < limit {
        match http_get(addr, "/readyz") {
            Some((503, body)) => {
                assert!(body.contains("shutting down"), "{body}");
                unready += 1;
                // No answer at all means the process has just exited: only an answer
                // other than 200 counts against liveness.
                healthy &= http_get(addr, "/healthz").is_none_or(|(c, _)| c == 200);
            }
            Some(_) => {}
            None => break, // the listener is gone: the process is exiting
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (unready, healthy)
}
