//! How the e2e tests start the `k8sensus` binary itself, and `k8sensus status` on a test
//! Lease: shared by network.rs and visibility.rs.

use std::process::{Command, Stdio};

use crate::support::{BIN, LEASE};

/// `k8sensus` with a clean environment plus `envs`, killed with the test.
pub fn k8sensus(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "--", BIN])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// `k8sensus status`, with `flags`, on the test Lease in `namespace`: [`k8sensus`] with
/// `envs`.
pub fn status(flags: &[&str], namespace: &str, envs: &[(&str, &str)]) -> Command {
    let mut args = vec!["status"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--lease-name", LEASE, "--lease-namespace", namespace]);
    k8sensus(&args, envs)
}
