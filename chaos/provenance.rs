//! What produced the results (`results::Provenance`), found out: the commit and binary under
//! test, whether the source changed while the trials ran (others may commit to this tree
//! meanwhile), and the machine.

use crate::REPO;
use crate::results::{Machine, Provenance};
use crate::stats::round3;
use crate::support::BIN;

/// The source tree at one moment.
pub struct SourceState {
    commit: Option<String>,
    subject: Option<String>,
    /// The files that differ from the commit.
    changed: Vec<String>,
    /// A hash of the uncommitted changes to what the binary is built from.
    binary_diff_hash: u64,
}

impl SourceState {
    pub fn now() -> Self {
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
        Self {
            commit: command_output("git", &["rev-parse", "HEAD"]),
            subject: command_output("git", &["log", "-1", "--format=%s"]),
            changed,
            binary_diff_hash: hasher.finish(),
        }
    }

    /// Whether what the binary is built from differs between `self` and `later`: a commit
    /// that only touched tests or documents does not count.
    fn binary_source_changed(&self, later: &SourceState) -> bool {
        let committed = match (&self.commit, &later.commit) {
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
        committed || self.binary_diff_hash != later.binary_diff_hash
    }
}

impl Provenance {
    /// The provenance of a run whose trials began with the source at `at_start`, as of now.
    pub fn since(at_start: SourceState) -> Self {
        let at_end = SourceState::now();
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
        Provenance {
            source_changed_during_run: at_start.binary_source_changed(&at_end),
            commit: at_start.commit,
            commit_subject: at_start.subject,
            working_tree_changes: at_start.changed,
            binary_sha256,
            commit_at_end: at_end.commit,
            machine: Machine {
                cpus: std::thread::available_parallelism().map(|n| n.get()).ok(),
                cpu_model,
                memory_gib: memory_kib.map(|k| round3(k / 1024.0 / 1024.0)),
                kernel: read_proc("/proc/sys/kernel/osrelease").trim().to_string(),
                rustc: command_output("rustc", &["--version"]),
                kubernetes: "v1.33.13 (kube-apiserver from hack/control-plane)".to_string(),
            },
        }
    }
}

/// /proc/loadavg's three load averages.
pub fn load_average() -> String {
    read_proc("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
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
