//! `k8sensus` replicas as real processes, their logs collected as they arrive.
//!
//! Each replica runs under `setpriv --pdeathsig KILL`, so it dies with the test thread that
//! started it, and is also killed when its [`Replica`] is dropped (including on panic).

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use k8sensus::log_event;

use super::BIN;
use super::lease::{LEASE, Timings};
use super::log::LogLine;
use super::namespace::TestNamespace;
use super::process::{Output, wait_exit};

/// What [`Replica::spawn_with`] lets a caller choose; the defaults are [`Replica::spawn`]'s.
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// `--task-period` (default `1s`).
    pub task_period: String,
    /// Environment variables added to the replica's otherwise cleared environment (after
    /// the defaults, so `LOG_FORMAT=plain` here wins over the default JSON).
    pub env: Vec<(String, String)>,
    /// Copy each log line to the test's stderr, prefixed with the replica's name (default on).
    pub echo: bool,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            task_period: "1s".into(),
            env: Vec::new(),
            echo: true,
        }
    }
}

/// A `k8sensus` process (or any program that logs like one), its stderr collected.
pub struct Replica {
    pub name: String,
    child: Child,
    output: Output,
    exit: Option<ExitStatus>,
}

impl Replica {
    pub fn spawn(
        name: &str,
        namespace: &str,
        kubeconfig: &Path,
        timings: Timings,
        extra: &[&str],
    ) -> Self {
        Self::spawn_with(
            name,
            namespace,
            kubeconfig,
            timings,
            extra,
            &SpawnOptions::default(),
        )
    }

    /// Like [`Replica::spawn`], with the task period, extra environment variables and the
    /// echoing of its logs chosen by the caller.
    pub fn spawn_with(
        name: &str,
        namespace: &str,
        kubeconfig: &Path,
        timings: Timings,
        extra: &[&str],
        options: &SpawnOptions,
    ) -> Self {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", BIN])
            .arg(format!("--lease-name={LEASE}"))
            .arg(format!("--lease-namespace={namespace}"))
            .args(timings.flags())
            .arg(format!("--task-period={}", options.task_period))
            // Replicas share one host: each takes a free port for its probes.
            .arg("--probe-addr=127.0.0.1:0")
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(options.env.iter().map(|(k, v)| (k, v)));
        Self::spawn_command(name, cmd, options.echo)
    }

    /// Any program whose log lines go to stderr (the client-go reference, for one),
    /// collected like a replica's. `cmd` should run under `setpriv --pdeathsig KILL`.
    pub fn spawn_command(name: &str, mut cmd: Command, echo: bool) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("spawn a replica under setpriv (util-linux)");
        let output = Output::follow(child.stderr.take().unwrap(), name, echo);
        Self {
            name: name.to_string(),
            child,
            output,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log lines so far.
    pub fn logs(&self) -> Vec<LogLine> {
        self.output.logs()
    }

    /// Its lines whose `event` is `event` (a name from [`k8sensus::log_event`]).
    pub fn events(&self, event: &str) -> Vec<LogLine> {
        self.logs().into_iter().filter(|l| l.is(event)).collect()
    }

    /// Every line of stderr, log line or not (a panic message is not one).
    pub fn raw_output(&self) -> String {
        self.output.text()
    }

    /// Lines whose message contains `text`: for tests of the wording people read. What
    /// happened is in the `event` field: use [`Replica::events`] for that.
    pub fn lines_with(&self, text: &str) -> Vec<LogLine> {
        self.logs()
            .into_iter()
            .filter(|l| l.message().contains(text))
            .collect()
    }

    /// The address its /healthz, /readyz and /metrics are served on, once logged.
    pub fn probe_addr(&self) -> Option<String> {
        self.logs()
            .iter()
            .find_map(|l| l.field("probe_addr").map(str::to_string))
    }

    /// Whether the replica's own logs say it leads right now: its last `acquired` is later
    /// than its last `stopped_leading`.
    pub fn says_leading(&self) -> bool {
        self.logs()
            .iter()
            .rev()
            .find_map(|l| match l.event() {
                Some(log_event::ACQUIRED) => Some(true),
                Some(log_event::STOPPED_LEADING) => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{signal} {} failed", self.pid());
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        self.exit = self.child.wait().ok();
    }

    /// Waits up to `timeout` for the process to exit, then for its last lines to be read.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = wait_exit(&mut self.child, timeout);
            if self.exit.is_some() {
                self.output.wait_closed(Duration::from_secs(2));
            }
        }
        self.exit
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        self.exit.is_none() && self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl TestNamespace {
    /// Starts one replica per name, all with the same timings and extra flags.
    pub fn replicas(&self, names: &[&str], timings: Timings, extra: &[&str]) -> Vec<Replica> {
        names
            .iter()
            .map(|n| self.replica(n, timings, extra))
            .collect()
    }

    /// Starts a replica named `name` with the ServiceAccount's kubeconfig.
    pub fn replica(&self, name: &str, timings: Timings, extra: &[&str]) -> Replica {
        Replica::spawn(name, &self.name, &self.sa_kubeconfig, timings, extra)
    }
}

/// Fails if any replica's output shows a panic.
pub fn assert_no_panics(replicas: &[Replica]) {
    for r in replicas {
        let out = r.raw_output();
        assert!(!out.contains("panicked"), "{} panicked:\n{out}", r.name);
    }
}
