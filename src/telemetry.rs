//! Logging: plain lines for people, JSON for collectors; the level from RUST_LOG.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Logs go to stderr. RUST_LOG picks the level (default
/// `default_level`: `info` for the elector, `warn` for `k8sensus status`). kube's own log lines
/// are off unless RUST_LOG names kube: they report failed requests that the elector retries
/// and already logs with their context. The HTTP trace (every request, see client.rs) is at
/// DEBUG under `tower_http`: `RUST_LOG=info,tower_http=debug` turns it on.
pub fn init(format: LogFormat, default_level: &str) {
    let mut spec = std::env::var("RUST_LOG").unwrap_or_default();
    if spec.trim().is_empty() {
        spec = default_level.into();
    }
    if !spec.contains("kube") {
        spec.push_str(",kube=off,kube_client=off");
    }
    let filter = EnvFilter::builder().parse_lossy(spec);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        // Its fallback for a failed write is eprintln!, which panics on a closed stderr.
        .log_internal_errors(false)
        .with_target(false);
    match format {
        LogFormat::Plain => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// Cancelled when a log line could not be written because nobody reads stderr any more (the
/// reader of a pipe exited: `k8sensus ... 2>&1 | grep -m1 "new leader"`).
///
/// The program's choice for a closed log stream: it starts the same graceful shutdown as
/// SIGTERM (the leader's work is stopped, the Lease released, exit status 0), as any Unix
/// tool stops when the reader of its output goes away. The alternative, writing on into the
/// void, would leave a leader nobody can see running in a pipeline that never ends. Logging
/// itself never panics: lines that cannot be written are dropped.
pub fn output_closed() -> CancellationToken {
    OUTPUT_CLOSED.get_or_init(CancellationToken::new).clone()
}

static OUTPUT_CLOSED: OnceLock<CancellationToken> = OnceLock::new();

/// Whether `e` says the reader of our output has gone; if so, [`output_closed`] is cancelled.
pub fn note_write_error(e: &std::io::Error) -> bool {
    let closed = e.kind() == std::io::ErrorKind::BrokenPipe;
    if closed {
        output_closed().cancel();
    }
    closed
}

/// stderr for log lines: a write to a closed stream is dropped and reported through
/// [`output_closed`], never an error or a panic.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::io::stderr().write(buf) {
            Err(e) if note_write_error(&e) => Ok(buf.len()),
            other => other,
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match std::io::stderr().lock().write_all(buf) {
            Err(e) if note_write_error(&e) => Ok(()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stderr().flush() {
            Err(e) if note_write_error(&e) => Ok(()),
            other => other,
        }
    }
}

/// The host's monotonic clock (CLOCK_MONOTONIC) in nanoseconds, as every process on the
/// machine sees it. Log lines about leader work carry it as `mono_ns`, so that a checker can
/// put several replicas' work on one timeline with no wall-clock adjustments in the way.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}
