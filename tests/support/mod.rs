//! Test support: a real control plane (etcd + kube-apiserver) per test binary, fresh
//! namespaces with rbac.yaml applied, kubeconfigs for ServiceAccounts, and `k8sensus` replicas
//! as real processes with their logs captured.
//!
//! Nothing outlives the test run:
//! - the control plane runner (`hack/control-plane/controlplane.py run --lifeline-stdin`) tears
//!   everything down when its stdin closes, which happens when this process exits, however it
//!   exits;
//! - each replica runs under `setpriv --pdeathsig KILL`, so it dies with the test thread that
//!   started it, and is also killed when its [`Replica`] is dropped (including on panic).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod cluster;
pub mod overlap;
pub mod proxy;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_k8sensus");
pub const LEASE: &str = "k8sensus-lease";
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The three election timings, as flags.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Timings {
    /// Short timings that keep the suite fast: 4 s / 3 s / 0.5 s (margin LD-RD-RP = 0.5 s).
    pub const SHORT: Timings = Timings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
    };
    /// The walkthrough's timings: 15 s / 10 s / 2 s.
    pub const REAL: Timings = Timings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };

    /// The generous bound for a takeover after a crash: LD + 2·RP·1.2 + 3 s.
    pub fn crash_failover_bound(&self) -> Duration {
        self.lease_duration + self.retry_period.mul_f64(2.0 * 1.2) + Duration::from_secs(3)
    }

    fn flags(&self) -> Vec<String> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        vec![
            format!("--lease-duration={}", ms(self.lease_duration)),
            format!("--renew-deadline={}", ms(self.renew_deadline)),
            format!("--retry-period={}", ms(self.retry_period)),
        ]
    }
}

// -------------------------------------------------------------------------------------------
// The control plane
// -------------------------------------------------------------------------------------------

/// One etcd + kube-apiserver for this test binary.
pub struct ControlPlane {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub server: String,
    pub ca_file: PathBuf,
    control: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _runner: Child,
}

static CONTROL_PLANE: OnceLock<ControlPlane> = OnceLock::new();

/// The control plane of this test binary, started on first use.
pub fn control_plane() -> &'static ControlPlane {
    CONTROL_PLANE.get_or_init(ControlPlane::start)
}

impl ControlPlane {
    fn start() -> Self {
        let script = Path::new(REPO).join("hack/control-plane/controlplane.py");
        let test_name = std::env::args()
            .next()
            .and_then(|a| {
                Path::new(&a)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "test".into());
        let dir =
            std::env::temp_dir().join(format!("k8sensus-cp-{test_name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "[support] starting the control plane in {} (the first build on a machine takes several minutes)",
            dir.display()
        );
        let mut runner = Command::new("python3")
            .arg(&script)
            .args(["run", "--lifeline-stdin", "--dir"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Progress and errors go straight to the terminal, not through the test harness.
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the control plane ({}): {e}. It needs python3; run `make control-plane` to check the setup", script.display())
            });
        let stdin = runner.stdin.take().unwrap();
        let mut stdout = BufReader::new(runner.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap_or(0);
            if n == 0 {
                let status = runner.wait().ok();
                panic!(
                    "the control plane did not start (runner exited: {status:?}); its error is printed above. \
                     It needs go, python3 and openssl, and the Go module proxy for the first build; run `make control-plane` to retry by hand"
                );
            }
            if let Some(path) = line.trim().strip_prefix("READY ") {
                assert_eq!(Path::new(path), dir.join("admin.kubeconfig"));
                break;
            }
        }
        let state: Value =
            serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
        let text = |k: &str| {
            state[k]
                .as_str()
                .unwrap_or_else(|| panic!("state.json lacks {k}"))
                .to_string()
        };
        eprintln!("[support] control plane ready at {}", text("server"));
        ControlPlane {
            kubeconfig: PathBuf::from(text("kubeconfig")),
            kubectl: PathBuf::from(text("kubectl")),
            server: text("server"),
            ca_file: PathBuf::from(text("ca_file")),
            dir,
            control: Mutex::new((stdin, stdout)),
            _runner: runner,
        }
    }

    /// Sends one command over the runner's stdin (`stop-apiserver`, `start-apiserver`, ...)
    /// and returns its `OK ...` answer; panics on `ERR`.
    pub fn command(&self, command: &str) -> String {
        let mut guard = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let (stdin, stdout) = &mut *guard;
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        assert!(
            answer.starts_with("OK"),
            "control plane answered {command:?} with {answer:?}"
        );
        answer.trim().to_string()
    }

    /// A client with the admin certificate (system:masters: RBAC does not apply).
    pub async fn admin_client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// Runs the built kubectl as admin; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        self.kubectl_as(&self.kubeconfig, args, None)
    }

    /// Runs kubectl with a given kubeconfig, optionally feeding `stdin`.
    pub fn kubectl_as(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        run_kubectl(&self.kubectl, kubeconfig, args, stdin)
    }

    /// Like [`Self::kubectl`], but panics with kubectl's stderr on failure.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed: {err}");
        out
    }
}

/// Runs `kubectl` with `kubeconfig`, optionally feeding `stdin`; returns (success, stdout,
/// stderr). Shared by the control plane and the cluster fixtures.
pub fn run_kubectl(
    kubectl: &Path,
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut child = Command::new(kubectl)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("load kubeconfig");
    Client::try_from(config).expect("build client")
}

// -------------------------------------------------------------------------------------------
// Namespaces and ServiceAccounts
// -------------------------------------------------------------------------------------------

/// A fresh namespace with rbac.yaml applied and a kubeconfig for its `k8sensus`
/// ServiceAccount. Namespaces are never reused: without a controller-manager a deleted one
/// stays Terminating.
pub struct TestNamespace {
    pub name: String,
    pub cp: &'static ControlPlane,
    /// Kubeconfig holding a token of the rbac.yaml ServiceAccount: exactly its rights.
    pub sa_kubeconfig: PathBuf,
}

impl TestNamespace {
    pub fn new(prefix: &str) -> Self {
        let ns = Self::bare(prefix);
        let rbac = rbac_yaml_for(&ns.name);
        let (ok, _, err) = ns
            .cp
            .kubectl_as(&ns.cp.kubeconfig, &["apply", "-f", "-"], Some(&rbac));
        assert!(ok, "applying rbac.yaml to {} failed: {err}", ns.name);
        let mut ns = ns;
        ns.sa_kubeconfig = ns.kubeconfig_for_service_account("k8sensus");
        ns
    }

    /// A fresh namespace with nothing in it.
    pub fn bare(prefix: &str) -> Self {
        let cp = control_plane();
        let name = format!("{prefix}-{}", random_suffix());
        cp.kubectl_ok(&["create", "namespace", &name]);
        Self {
            name,
            cp,
            sa_kubeconfig: PathBuf::new(),
        }
    }

    /// Mints a token for ServiceAccount `sa` with the TokenRequest API (`kubectl create
    /// token`) and writes a kubeconfig that uses it.
    pub fn kubeconfig_for_service_account(&self, sa: &str) -> PathBuf {
        let token = self
            .cp
            .kubectl_ok(&["create", "token", sa, "-n", &self.name, "--duration=2h"]);
        self.kubeconfig_with_token(sa, sa, &token)
    }

    /// Writes a kubeconfig named after `file_tag` that authenticates as ServiceAccount `sa`
    /// with `token`, with this namespace as its default.
    pub fn kubeconfig_with_token(&self, file_tag: &str, sa: &str, token: &str) -> PathBuf {
        let path = self
            .cp
            .dir
            .join(format!("{}-{file_tag}.kubeconfig", self.name));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: {sa}\n  user:\n    token: {}\ncontexts:\n- name: {sa}\n  context:\n    cluster: local\n    user: {sa}\n    namespace: {}\ncurrent-context: {sa}\n",
            self.cp.server,
            self.cp.ca_file.display(),
            token.trim(),
            self.name
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub async fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.cp.admin_client().await, &self.name)
    }

    /// The Lease as the admin sees it, if it exists.
    pub async fn lease(&self) -> Option<Lease> {
        self.leases().await.get_opt(LEASE).await.expect("get lease")
    }

    /// The Lease's holderIdentity, if any (empty counts as none).
    pub async fn holder(&self) -> Option<String> {
        self.lease()
            .await
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }

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

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = self
            .cp
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// rbac.yaml with `namespace` written into every object. The file names no namespace (it
/// goes where it is applied); this makes the text safe to apply without `-n` too.
pub fn rbac_yaml_for(namespace: &str) -> String {
    let text = std::fs::read_to_string(Path::new(REPO).join("rbac.yaml")).expect("read rbac.yaml");
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("namespace:")),
        "rbac.yaml should name no namespace, so that `kubectl apply -n` works"
    );
    text.replace(
        "\nmetadata:\n",
        &format!("\nmetadata:\n  namespace: {namespace}\n"),
    )
}

pub fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..6)
        .map(|_| (b'a' + rng.random_range(0..26)) as char)
        .collect()
}

// -------------------------------------------------------------------------------------------
// Replicas
// -------------------------------------------------------------------------------------------

/// One log line of a replica: when the test received it, and the parsed JSON.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Instant,
    pub json: Value,
}

impl LogLine {
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
}

/// What [`Replica::spawn_with`] lets a caller choose; the defaults are [`Replica::spawn`]'s.
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// `--task-period` (default `1s`).
    pub task_period: String,
    /// Environment variables added to the replica's otherwise cleared environment.
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

/// A `k8sensus` process, with its JSON logs collected as they arrive.
pub struct Replica {
    pub name: String,
    child: Child,
    logs: Arc<Mutex<Vec<LogLine>>>,
    raw: Arc<Mutex<Vec<String>>>,
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
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Self::spawn_command(name, cmd, options.echo)
    }

    /// Any program whose JSON log lines go to stderr (the client-go reference, for one),
    /// collected like a replica's. `cmd` should run under `setpriv --pdeathsig KILL`.
    pub fn spawn_command(name: &str, mut cmd: Command, echo: bool) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("spawn a replica under setpriv (util-linux)");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (logs2, raw2, tag) = (logs.clone(), raw.clone(), name.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if echo {
                    eprintln!("[{tag}] {line}");
                }
                let at = Instant::now();
                raw2.lock().unwrap().push(line.clone());
                if let Ok(json) = serde_json::from_str::<Value>(&line) {
                    logs2.lock().unwrap().push(LogLine { at, json });
                }
            }
        });
        Self {
            name: name.to_string(),
            child,
            logs,
            raw,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lock().unwrap().clone()
    }

    /// Every line of stderr, JSON or not (a panic message would not be JSON).
    pub fn raw_output(&self) -> String {
        self.raw.lock().unwrap().join("\n")
    }

    /// Lines whose message contains `text`.
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
            .find_map(|l| l.json["probe_addr"].as_str().map(str::to_string))
    }

    /// Whether the replica's own logs say it leads right now: its last "successfully acquired"
    /// is later than its last "stopped leading".
    pub fn says_leading(&self) -> bool {
        let mut leading = false;
        for line in self.logs() {
            let m = line.message();
            if m.starts_with("successfully acquired lease") {
                leading = true;
            } else if m == "stopped leading" {
                leading = false;
            }
        }
        leading
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

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_some() {
            return self.exit;
        }
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exit = Some(status);
                std::thread::sleep(Duration::from_millis(100)); // let the log reader drain
                return self.exit;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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

// -------------------------------------------------------------------------------------------
// Waiting and asserting
// -------------------------------------------------------------------------------------------

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the Lease names one of `replicas` and that replica's work has started, and
/// returns its index. (The first leader of a namespace creates the Lease, and its work starts
/// a lease duration after it found the Lease missing.)
pub async fn wait_for_leader(ns: &TestNamespace, replicas: &[Replica], timeout: Duration) -> usize {
    let names: HashMap<String, usize> = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    let found = wait_for(timeout, || async {
        let i = ns.holder().await.and_then(|h| names.get(&h).copied())?;
        let working = replicas[i]
            .logs()
            .iter()
            .rev()
            .find(|l| l.json["event"] == "work_started" || l.json["event"] == "work_stopped")
            .is_some_and(|l| l.json["event"] == "work_started");
        working.then_some(i)
    })
    .await;
    match found {
        Some(i) => i,
        None => panic!(
            "no replica became leader within {timeout:?}; the Lease is {:?}",
            ns.lease().await.and_then(|l| l.spec)
        ),
    }
}

/// Sends SIGTERM to `replicas[leader]`, waits for it to exit 0 after releasing the Lease, and
/// returns who took over and how long after the release was logged.
pub async fn sigterm_and_time_takeover(
    ns: &TestNamespace,
    replicas: &mut [Replica],
    leader: usize,
) -> (String, Duration) {
    replicas[leader].signal("TERM");
    let status = replicas[leader]
        .wait_exit(Duration::from_secs(15))
        .expect("the leader exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    let released_at = replicas[leader]
        .lines_with("released lease")
        .first()
        .expect("the old leader released the lease")
        .at;
    let old = replicas[leader].name.clone();
    let new = wait_for(Duration::from_secs(10), || async {
        ns.holder().await.filter(|h| *h != old)
    })
    .await
    .expect("a standby takes over the released lease");
    (new, released_at.elapsed())
}

/// A plain HTTP/1.0 GET against a replica's probe address: (status code, body).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::Read;
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

/// `leader_election_master_status` for our Lease, read from a replica's /metrics.
pub fn master_status(addr: &str) -> Option<f64> {
    let (_, body) = http_get(addr, "/metrics")?;
    let prefix = format!("leader_election_master_status{{name=\"{LEASE}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))?
        .trim()
        .parse()
        .ok()
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

/// Waits until the Lease names one of `replicas` other than `old` and returns its index.
pub async fn wait_for_new_leader(
    ns: &TestNamespace,
    replicas: &[Replica],
    old: &str,
    timeout: Duration,
) -> Option<usize> {
    wait_for(timeout, || async {
        let holder = ns.holder().await.filter(|h| h != old)?;
        replicas.iter().position(|r| r.name == holder)
    })
    .await
}

/// Waits until a replica's `leader_election_master_status` reads `value`.
pub async fn wait_for_master_status(addr: &str, value: f64, timeout: Duration) -> bool {
    wait_for(timeout, || async {
        (master_status(addr) == Some(value)).then_some(())
    })
    .await
    .is_some()
}

/// The sum of a replica's `k8sensus_api_errors_total` counters.
pub fn api_errors(addr: &str) -> f64 {
    let Some((_, body)) = http_get(addr, "/metrics") else {
        return 0.0;
    };
    body.lines()
        .filter(|l| l.starts_with("k8sensus_api_errors_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Fails if any replica's output shows a panic.
pub fn assert_no_panics(replicas: &[Replica]) {
    for r in replicas {
        let out = r.raw_output();
        assert!(!out.contains("panicked"), "{} panicked:\n{out}", r.name);
    }
}
