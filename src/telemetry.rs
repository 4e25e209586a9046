//! Logging: plain lines for people, JSON for collectors; the level from RUST_LOG.

use std::io::IsTerminal;

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
        .with_writer(std::io::stderr)
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

/// The host's monotonic clock (CLOCK_MONOTONIC) in nanoseconds, as every process on the
/// machine sees it. Log lines about leader work carry it as `mono_ns`, so that a checker can
/// put several replicas' work on one timeline with no wall-clock adjustments in the way.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}
