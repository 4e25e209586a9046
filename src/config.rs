//! The validated configuration, built from the raw command line in one place, so that every
//! rule relating flags to each other is checked before anything touches the network.

use std::time::Duration;

use std::net::SocketAddr;

use crate::cli::{LogFormat, RunArgs};
use crate::elector::{AfterLoss, ConfigError, ElectionConfig, TimingField, Timings};

/// Everything the program needs, checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub election: ElectionConfig,
    /// How often the leader runs the sample task.
    pub task_period: Duration,
    pub log_format: LogFormat,
    /// Where the identity came from, so the program can warn about a weak one.
    pub identity_source: IdentitySource,
    /// Where /healthz, /readyz and /metrics are served.
    pub probe_addr: SocketAddr,
    /// Whether the leader labels its own pod.
    pub label_leader_pod: bool,
    /// The name of this replica's pod, for `--label-leader-pod`: the identity when one was
    /// given, the bare host name otherwise (the identity then carries a random suffix).
    pub pod_name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// `--identity` or `POD_NAME`.
    Given,
    /// The host name with a random suffix, because neither was set. The suffix makes two
    /// local runs on one machine (two terminals on one laptop) two identities, not one.
    Hostname,
}

/// A bad flag: names the flag and the rule it broke. The program exits with status 2.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for {flag}: {message}")]
pub struct UsageError {
    pub flag: &'static str,
    pub message: String,
}

impl UsageError {
    fn new(flag: &'static str, message: impl Into<String>) -> Self {
        Self {
            flag,
            message: message.into(),
        }
    }
}

impl Config {
    /// Checks the command line. `hostname` is asked only when neither `--identity` nor
    /// `POD_NAME` is set.
    pub fn from_cli(
        cli: RunArgs,
        hostname: impl FnOnce() -> Option<String>,
    ) -> Result<Self, UsageError> {
        let lease_namespace = cli.lease.lease_namespace;
        let lease_name = cli
            .lease
            .lease_name
            .ok_or_else(|| UsageError::new("--lease-name", "is required (or set LEASE_NAME)"))?;
        check_dns1123_subdomain(&lease_name)
            .map_err(|m| UsageError::new("--lease-name", format!("{lease_name:?} {m}")))?;
        check_dns1123_label(&lease_namespace).map_err(|m| {
            UsageError::new("--lease-namespace", format!("{:?} {m}", lease_namespace))
        })?;

        let (identity, identity_source, pod_name) = match cli.identity {
            Some(id) if id.trim().is_empty() => {
                return Err(UsageError::new(
                    "--identity",
                    "the identity (--identity or POD_NAME) must not be empty",
                ));
            }
            Some(id) => (id.clone(), IdentitySource::Given, id),
            None => match hostname().filter(|h| !h.trim().is_empty()) {
                Some(host) => (
                    format!("{host}-{}", random_suffix()),
                    IdentitySource::Hostname,
                    host,
                ),
                None => {
                    return Err(UsageError::new(
                        "--identity",
                        "no identity: set --identity or POD_NAME (the host name is not available either)",
                    ));
                }
            },
        };

        let timings = Timings {
            lease_duration: cli.lease_duration,
            renew_deadline: cli.renew_deadline,
            retry_period: cli.retry_period,
        };
        if let Err(e) = timings.validate() {
            let flag = match e.field() {
                Some(TimingField::RenewDeadline) => "--renew-deadline",
                Some(TimingField::RetryPeriod) => "--retry-period",
                _ => "--lease-duration",
            };
            let mut message = e.to_string();
            if !matches!(
                e,
                ConfigError::NotPositive { .. } | ConfigError::LeaseDurationNotWholeSeconds { .. }
            ) {
                message.push_str(" (these three are set with --lease-duration, --renew-deadline and --retry-period)");
            }
            return Err(UsageError::new(flag, message));
        }
        if cli.task_period.is_zero() {
            return Err(UsageError::new("--task-period", "must be greater than 0"));
        }

        let mut election =
            ElectionConfig::new(lease_name, lease_namespace, identity).with_timings(timings);
        election.after_loss = if cli.exit_on_lost {
            AfterLoss::Return
        } else {
            AfterLoss::Rejoin
        };
        Ok(Self {
            election,
            task_period: cli.task_period,
            log_format: cli.log_format,
            identity_source,
            probe_addr: cli.probe_addr,
            label_leader_pod: cli.label_leader_pod,
            pod_name,
        })
    }
}

/// Five random lowercase letters and digits, as Kubernetes suffixes generated names.
fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Kubernetes' rule for object names such as a Lease's: at most 253 characters, lowercase
/// letters, digits, '-' and '.', each dot-separated part starting and ending alphanumeric.
pub fn check_dns1123_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 253 {
        return Err("must be at most 253 characters (a DNS-1123 subdomain)".into());
    }
    for part in name.split('.') {
        check_label_chars(part)
            .map_err(|m| format!("{m} (a DNS-1123 subdomain, e.g. my-lease)"))?;
    }
    Ok(())
}

/// Kubernetes' rule for namespaces: a DNS-1123 label, at most 63 characters of lowercase
/// letters, digits and '-', starting and ending alphanumeric.
pub fn check_dns1123_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 63 {
        return Err("must be at most 63 characters (a DNS-1123 label)".into());
    }
    check_label_chars(name).map_err(|m| format!("{m} (a DNS-1123 label, e.g. my-namespace)"))
}

fn check_label_chars(part: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if part.is_empty() {
        return Err("must not contain empty parts between dots".into());
    }
    if let Some(bad) = part.chars().find(|&c| !(alnum(c) || c == '-')) {
        return Err(format!(
            "must contain only lowercase letters, digits, '-' and '.', not {bad:?}"
        ));
    }
    if !part.starts_with(alnum) || !part.ends_with(alnum) {
        return Err("must start and end with a lowercase letter or digit".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(args: &[&str]) -> RunArgs {
        let mut argv = vec!["k8sensus"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses").run
    }

    fn config(args: &[&str]) -> Result<Config, UsageError> {
        Config::from_cli(parse(args), || Some("host-1".into()))
    }

    /// The defaults are the walkthrough's: 15 s / 10 s / 2 s and a 10 s task.
    #[test]
    fn defaults() {
        let c = config(&["--lease-name", "k8sensus-lease", "--identity", "pod-a"]).unwrap();
        assert_eq!(c.election.timings.lease_duration, Duration::from_secs(15));
        assert_eq!(c.election.timings.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.election.timings.retry_period, Duration::from_secs(2));
        assert_eq!(c.election.request_timeout, Duration::from_secs(5));
        assert_eq!(c.task_period, Duration::from_secs(10));
        assert_eq!(c.election.after_loss, AfterLoss::Rejoin);
        assert_eq!(c.identity_source, IdentitySource::Given);
    }

    /// Without --identity or POD_NAME the host name with a random suffix is used and reported as
    /// such (the pod name for the label stays the bare host name); with
    /// neither, it is an error naming --identity.
    #[test]
    fn identity_falls_back_to_the_host_name() {
        let c = config(&["--lease-name", "l"]).unwrap();
        let suffix = c.election.identity.strip_prefix("host-1-").unwrap();
        assert_eq!(suffix.len(), 5, "{}", c.election.identity);
        assert_eq!(c.identity_source, IdentitySource::Hostname);
        assert_eq!(c.pod_name, "host-1");
        // Two runs on one machine get two identities.
        let again = config(&["--lease-name", "l"]).unwrap();
        assert_ne!(again.election.identity, c.election.identity);
        let given = config(&["--lease-name", "l", "--identity", "pod-a"]).unwrap();
        assert_eq!(
            (given.election.identity.as_str(), given.pod_name.as_str()),
            ("pod-a", "pod-a")
        );
        let e = Config::from_cli(parse(&["--lease-name", "l"]), || None).unwrap_err();
        assert_eq!(e.flag, "--identity");
        let e = config(&["--lease-name", "l", "--identity", " "]).unwrap_err();
        assert_eq!(e.flag, "--identity");
    }

    /// Lease names and namespaces follow Kubernetes' naming rules.
    #[test]
    fn names_are_checked() {
        for good in ["a", "k8sensus-lease", "a.b-c.d", "0x"] {
            assert_eq!(check_dns1123_subdomain(good), Ok(()), "{good}");
        }
        for bad in ["", "A", "-a", "a-", "a..b", "a_b", "a/b", &"a".repeat(254)] {
            assert!(check_dns1123_subdomain(bad).is_err(), "{bad}");
        }
        for bad in ["", "a.b", "Default", &"a".repeat(64)] {
            assert!(check_dns1123_label(bad).is_err(), "{bad}");
        }
        let e = config(&["--lease-name", "Bad_Name", "--identity", "x"]).unwrap_err();
        assert_eq!(e.flag, "--lease-name");
        let e = config(&[
            "--lease-name",
            "l",
            "--lease-namespace",
            "a.b",
            "--identity",
            "x",
        ])
        .unwrap_err();
        assert_eq!(e.flag, "--lease-namespace");
    }

    /// Each timing rule is reported against the flag a person would change.
    #[test]
    fn timing_errors_name_the_flag() {
        let base = ["--lease-name", "l", "--identity", "x"];
        let case = |extra: &[&str]| {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            config(&args).unwrap_err()
        };
        assert_eq!(case(&["--lease-duration", "0s"]).flag, "--lease-duration");
        assert_eq!(case(&["--retry-period", "0s"]).flag, "--retry-period");
        assert_eq!(case(&["--renew-deadline", "15s"]).flag, "--lease-duration");
        assert_eq!(case(&["--renew-deadline", "2s"]).flag, "--renew-deadline");
        let unsafe_ = case(&["--lease-duration", "11s"]);
        assert_eq!(unsafe_.flag, "--lease-duration");
        assert!(unsafe_.message.contains("unsafe"), "{}", unsafe_.message);
        assert_eq!(case(&["--task-period", "0s"]).flag, "--task-period");
    }
}
