//! The command line, exactly as typed: flags, environment variables and defaults.
//! Rules that relate one flag to another live in [`crate::config`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kubernetes Lease leader election, written to be read.
///
/// Run several replicas with the same --lease-name: exactly one becomes the leader and runs a
/// sample task every --task-period; when it stops or dies, another takes over.
#[derive(Debug, Parser)]
#[command(
    name = "k8sensus",
    version,
    about,
    long_about = None,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the Lease: holder, time since the last renewal, time until expiry, transitions.
    Status(StatusArgs),
}

/// The Lease both commands work on.
#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// Name of the coordination.k8s.io/v1 Lease that all replicas compete for.
    #[arg(long, env = "LEASE_NAME", value_name = "NAME", required = true)]
    pub lease_name: Option<String>,

    /// Namespace of the Lease. In a pod, set POD_NAMESPACE from the downward API.
    #[arg(
        long,
        env = "POD_NAMESPACE",
        value_name = "NAMESPACE",
        default_value = "default"
    )]
    pub lease_namespace: String,
}

/// `k8sensus status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub lease: LeaseArgs,

    /// Keep watching: a line per change, with the leaderless gap at each handover.
    #[arg(long)]
    pub watch: bool,
}

/// Running an elector replica (the default, without a subcommand).
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub lease: LeaseArgs,

    /// This replica's identity, written to the Lease's holderIdentity; must be unique per
    /// replica. Defaults to POD_NAME, then to the host name (with a warning).
    #[arg(long, env = "POD_NAME", value_name = "ID")]
    pub identity: Option<String>,

    /// How long standbys wait, after they last saw the Lease renewed, before taking it over.
    /// Whole seconds.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// How long the leader keeps leading without a successful renewal. Must be less than the
    /// lease duration minus the retry period.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,

    /// How often the leader renews, and how often standbys re-read the Lease (with up to
    /// 120% jitter).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,

    /// How often the leader runs the sample task.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub task_period: Duration,

    /// Exit with status 1 after losing leadership, instead of campaigning again.
    #[arg(long)]
    pub exit_on_lost: bool,

    /// Address for /healthz, /readyz and /metrics. ":8080" means every interface, IPv6 and
    /// IPv4 (IPv4 only on a host without IPv6); use 127.0.0.1:0 for any free local port (the
    /// chosen port is logged).
    #[arg(long, value_name = "ADDR", default_value = ":8080", value_parser = parse_addr)]
    pub probe_addr: SocketAddr,

    /// Label this replica's pod k8sensus.io/role=leader while it leads (POD_NAME must be the
    /// pod's name, in the Lease's namespace).
    #[arg(long)]
    pub label_leader_pod: bool,

    /// Log format on stderr. The level is set with RUST_LOG (default: info).
    #[arg(long, env = "LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Plain,
    /// One JSON object per event, for log collectors.
    Json,
}

/// Parses "127.0.0.1:8080", "[::1]:8080", or ":8080": every interface, as in Go, which is
/// `[::]` bound dual-stack (see `probes::bind`).
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("[::]{text}")
    } else {
        text.to_string()
    };
    full.parse()
        .map_err(|_| format!("{text:?} is not HOST:PORT (for example :8080 or 127.0.0.1:0)"))
}

/// Parses "15s", "1500ms", "2m". A bare number is refused: is "2" seconds or milliseconds?
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| match e {
        // humantime's own hint suggests "5sec"; the spelling used everywhere else is "5s".
        humantime::DurationError::UnknownUnit { unit, value, .. } if unit.is_empty() => {
            format!("time unit needed, for example {value}s or {value}ms")
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The clap definition is consistent (no duplicate flags, defaults parse).
    #[test]
    fn definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// ":8080" is every interface, IPv6 and IPv4, as in Go; a missing port is an error.
    #[test]
    fn probe_addresses() {
        assert_eq!(parse_addr(":8080").unwrap().to_string(), "[::]:8080");
        assert_eq!(
            parse_addr("127.0.0.1:0").unwrap().to_string(),
            "127.0.0.1:0"
        );
        assert!(parse_addr("localhost").is_err());
    }

    /// Durations need a unit.
    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        let hint = parse_duration("5").unwrap_err();
        assert!(hint.contains("for example 5s or 5ms"), "{hint}");
        assert!(!hint.contains("sec"), "{hint}");
        assert!(parse_duration("-1s").is_err());
    }
}
