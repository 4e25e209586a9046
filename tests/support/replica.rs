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

/// An elector under measurement: `k8sensus`, or any binary that takes the same flags (the
/// client-go reference, bench/client-go-ref).
#[derive(Clone, Debug)]
pub struct Implementation {
    /// Its name in identities and results: `k8sensus`, `client-go`.
    pub key: String,
    pub bin: std::path::PathBuf,
    /// Flags after the election's (k8sensus: JSON logs, probes on a free port).
    pub extra_args: Vec<String>,
    /// Environment variables added to the replica's.
    pub env: Vec<(String, String)>,
}

/// A duration as the electors' flags take it: whole seconds as `15s`, else milliseconds.
pub fn duration_flag(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl Implementation {
    /// The command line of a replica on `namespace`'s Lease with `timings`.
    pub fn argv(&self, namespace: &str, timings: Timings) -> Vec<String> {
        let mut argv = vec![
            self.bin.display().to_string(),
            format!("--lease-name={LEASE}"),
            format!("--lease-namespace={namespace}"),
            format!("--lease-duration={}", duration_flag(timings.lease_duration)),
            format!("--renew-deadline={}", duration_flag(timings.renew_deadline)),
            format!("--retry-period={}", duration_flag(timings.retry_period)),
        ];
        argv.extend(self.extra_args.iter().cloned());
        argv
    }
}

/// How a replica's process ended, as the results record it: why (`kill -9`, `sigterm`,
/// `stop`, ...) and its exit code (a signal `s` as `-s`, as Python writes it).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProcessExit {
    pub how: String,
    pub code: Option<i32>,
}

/// One replica of an [`Implementation`] as a process of its own, its output appended to a
/// log file of its own across restarts (`<log_dir>/<namespace>-<identity>.log`). Its identity
/// (`POD_NAME`) is `<key>-<slot>`, the same after a restart. Started under `setpriv
/// --pdeathsig KILL` from the lasting spawner thread ([`super::process::spawn_from_lasting_thread`]),
/// so it dies with this process; dropping it kills it too.
pub struct LoggedReplica {
    pub implementation: Implementation,
    pub namespace: String,
    pub slot: usize,
    pub identity: String,
    pub kubeconfig: std::path::PathBuf,
    pub timings: Timings,
    pub log_file: std::path::PathBuf,
    child: Option<Child>,
    /// When the current process was spawned, seconds since the epoch.
    pub started: f64,
    /// Every exit so far, in order.
    pub exits: Vec<ProcessExit>,
}

impl LoggedReplica {
    pub fn new(
        implementation: &Implementation,
        namespace: &str,
        slot: usize,
        kubeconfig: &Path,
        timings: Timings,
        log_dir: &Path,
    ) -> Self {
        let identity = format!("{}-{slot}", implementation.key);
        LoggedReplica {
            log_file: log_dir.join(format!("{namespace}-{identity}.log")),
            implementation: implementation.clone(),
            namespace: namespace.to_string(),
            slot,
            identity,
            kubeconfig: kubeconfig.to_path_buf(),
            timings,
            child: None,
            started: 0.0,
            exits: Vec::new(),
        }
    }

    pub fn argv(&self) -> Vec<String> {
        self.implementation.argv(&self.namespace, self.timings)
    }

    /// Starts (or restarts) the process, a header line in the log first; returns when it was
    /// spawned, seconds since the epoch.
    pub fn start(&mut self) -> Result<f64, String> {
        use std::io::Write;
        let argv = self.argv();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(|e| format!("cannot open {}: {e}", self.log_file.display()))?;
        let now = k8s_openapi::jiff::Timestamp::now().strftime("%H:%M:%S");
        let _ = writeln!(log, "\n==== {now} start: {}", shell_join(&argv));
        let _ = log.flush();
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", self.log_file.display()))?;
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"])
            .args(&argv)
            .current_dir("/")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("POD_NAME", &self.identity)
            .envs(self.implementation.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err));
        let started = super::lease_watch::epoch_now();
        let child = super::process::spawn_from_lasting_thread(cmd)
            .map_err(|e| format!("cannot start {} under setpriv (util-linux): {e}", argv[0]))?;
        self.started = started;
        self.child = Some(child);
        Ok(started)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether its process is running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `signal` to the process straight (no `kill` program between), and returns when
    /// it was sent, seconds since the epoch.
    pub fn signal(&self, signal: rustix::process::Signal) -> Result<f64, String> {
        let pid = self
            .pid()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
            .ok_or_else(|| format!("{} has no process", self.identity))?;
        let t = super::lease_watch::epoch_now();
        rustix::process::kill_process(pid, signal)
            .map_err(|e| format!("kill -{signal:?} {}: {e}", self.identity))?;
        Ok(t)
    }

    /// Waits for the process to end (at most `limit`); its exit code (`-signal` if a signal
    /// ended it), or `None` if it still runs.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let status = wait_exit(child, limit)?;
        Some(exit_code(status))
    }

    /// The exit code of the last process, once it has ended.
    pub fn exit_code(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        child.try_wait().ok().flatten().map(exit_code)
    }

    /// Records the exit of a process that has ended, with why.
    pub fn reap(&mut self, how: &str) {
        if let Some(code) = self.exit_code() {
            self.exits.push(ProcessExit {
                how: how.to_string(),
                code: Some(code),
            });
        }
    }

    /// SIGKILL and wait, if it runs (not recorded as an exit: the run is ending).
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; the exit recorded as
    /// `stop`.
    pub fn stop(&mut self, grace: Duration) {
        if !self.alive() {
            return;
        }
        let _ = self.signal(rustix::process::Signal::TERM);
        if self.wait(grace).is_none() {
            self.kill();
        }
        self.reap("stop");
    }

    /// Its resident memory (VmRSS) in MiB, from /proc; `None` if it does not run.
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for LoggedReplica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An exit status as a number: the code, or `-signal` when a signal ended the process.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(-1)
}

/// `argv` as a shell would read it back: each word quoted when it needs to be.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
