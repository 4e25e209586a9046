//! The binary's command line: every kind of bad input exits with status 2 and a message that
//! names the flag, without a panic and before any network call.
//!
//! "Before any network call" is checked for real: each run gets a kubeconfig pointing at a
//! local TCP listener, and the test fails if anything connects to it. A control case with
//! valid flags shows that the same setup does see the connection.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_k8sensus");

/// Flags that pass every check (probes on a free loopback port), for tests about what
/// happens after the flags.
const VALID_ARGS: [&str; 6] = [
    "--lease-name",
    "l",
    "--identity",
    "a",
    "--probe-addr",
    "127.0.0.1:0",
];

/// A loopback listener standing in for "the network", and a kubeconfig that points at it.
struct Tripwire {
    listener: TcpListener,
    kubeconfig: PathBuf,
}

impl Tripwire {
    fn new(tag: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let kubeconfig = std::env::temp_dir().join(format!(
            "k8sensus-cli-{tag}-{}.kubeconfig",
            std::process::id()
        ));
        let mut f = std::fs::File::create(&kubeconfig).unwrap();
        write!(
            f,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
        )
        .unwrap();
        Self {
            listener,
            kubeconfig,
        }
    }

    fn was_touched(&self) -> bool {
        self.listener.accept().is_ok()
    }

    /// Runs the binary with `args`, this kubeconfig, and a clean environment.
    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", "/nonexistent")
            .envs(envs.iter().copied())
            .stdin(Stdio::null());
        run_with_timeout(cmd, Duration::from_secs(20))
    }
}

impl Drop for Tripwire {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}

fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    run_with_timeout_child(child, timeout)
}

/// Runs with `args` added to a valid base and checks: exit 2, `flag` named, no panic, no
/// connection.
fn assert_usage_error(case: &str, args: &[&str], flag: &str) {
    let wire = Tripwire::new(case);
    let out = wire.run(args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{case}: expected exit 2; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(flag),
        "{case}: message should name {flag}; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{case}: panicked:\n{stderr}");
    assert!(
        !wire.was_touched(),
        "{case}: connected to the API server before rejecting the input"
    );
}

/// Every kind of bad input, each with the flag its message must name.
#[test]
fn bad_input_exits_2_naming_the_flag_without_touching_the_network() {
    let id = ["--identity", "pod-a"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["--lease-name", "k8sensus-lease", "--identity", "pod-a"];
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("missing lease name", id.to_vec(), "--lease-name"),
        (
            "uppercase lease name",
            vec!["--lease-name", "Bad_Name", "--identity", "a"],
            "--lease-name",
        ),
        (
            "lease name too long",
            vec![
                "--lease-name",
                Box::leak("a".repeat(254).into_boxed_str()),
                "--identity",
                "a",
            ],
            "--lease-name",
        ),
        (
            "namespace with a dot",
            with(&["--lease-namespace", "a.b"]),
            "--lease-namespace",
        ),
        (
            "empty identity",
            vec!["--lease-name", "l", "--identity", ""],
            "--identity",
        ),
        (
            "zero lease duration",
            with(&["--lease-duration", "0s"]),
            "--lease-duration",
        ),
        (
            "fractional lease duration",
            with(&["--lease-duration", "15s 500ms"]),
            "--lease-duration",
        ),
        (
            "lease duration not above renew deadline",
            with(&["--renew-deadline", "15s"]),
            "--renew-deadline",
        ),
        (
            "renew deadline within 1.2 retry periods",
            with(&["--renew-deadline", "2s"]),
            "--renew-deadline",
        ),
        (
            "unsafe margin 11/10/2",
            with(&["--lease-duration", "11s"]),
            "--lease-duration",
        ),
        (
            "zero retry period",
            with(&["--retry-period", "0s"]),
            "--retry-period",
        ),
        (
            "duration without unit",
            with(&["--retry-period", "2"]),
            "--retry-period",
        ),
        (
            "duration garbage",
            with(&["--lease-duration", "soon"]),
            "--lease-duration",
        ),
        (
            "zero task period",
            with(&["--task-period", "0s"]),
            "--task-period",
        ),
        (
            "unknown log format",
            with(&["--log-format", "xml"]),
            "--log-format",
        ),
        (
            "unknown flag",
            with(&["--leader-duration", "15s"]),
            "--leader-duration",
        ),
    ];
    for (case, args, flag) in cases {
        assert_usage_error(case, &args, flag);
    }
}

/// An empty POD_NAME is refused like an empty --identity.
#[test]
fn empty_pod_name_is_refused() {
    let wire = Tripwire::new("empty-pod-name");
    let out = wire.run(&["--lease-name", "l"], &[("POD_NAME", "")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--identity"));
    assert!(!wire.was_touched());
}

/// The control case: with valid flags the binary does contact the API server in the
/// kubeconfig. Without it, the tripwire above could never fire.
#[test]
fn valid_input_does_reach_the_api_server() {
    let wire = Tripwire::new("valid");
    let mut child = Command::new(BIN)
        .args([
            "--lease-name",
            "k8sensus-lease",
            "--identity",
            "pod-a",
            "--probe-addr",
            "127.0.0.1:0",
        ])
        .env_clear()
        .env("KUBECONFIG", &wire.kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut touched = false;
    while start.elapsed() < Duration::from_secs(15) && !touched {
        touched = wire.was_touched();
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        touched,
        "k8sensus never connected to the API server in its kubeconfig"
    );
}

/// With neither in-cluster config nor a kubeconfig, one error names both and says what to do:
/// the unquoted path, KUBERNETES_SERVICE_HOST for the in-cluster attempt, and both the path
/// `make control-plane` prints and kind.
#[test]
fn no_cluster_config_is_one_clear_error() {
    let mut cmd = Command::new(BIN);
    cmd.args(VALID_ARGS)
        .env_clear()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent");
    let out = run_with_timeout(cmd, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in-cluster"), "{stderr}");
    assert!(stderr.contains("kubeconfig"), "{stderr}");
    assert!(stderr.contains("KUBECONFIG"), "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/kubeconfig:"),
        "{stderr}"
    );
    assert!(!stderr.contains("\"/nonexistent"), "{stderr}");
    assert!(!stderr.contains("'\"/nonexistent"), "{stderr}");
    assert!(stderr.contains("KUBERNETES_SERVICE_HOST"), "{stderr}");
    assert!(stderr.contains("make control-plane"), "{stderr}");
    assert!(stderr.contains("admin.kubeconfig"), "{stderr}");
    assert!(stderr.contains("kind create cluster"), "{stderr}");
}

/// A kubeconfig that asks for a proxy k8sensus cannot use (it speaks HTTP CONNECT to http://
/// proxies only; see src/client.rs) is refused with a message that names where the proxy came
/// from and what to change, before any connection. So is such a proxy from HTTPS_PROXY.
#[test]
fn an_unsupported_proxy_is_a_clear_error() {
    let wire = Tripwire::new("proxy");
    let text = std::fs::read_to_string(&wire.kubeconfig).unwrap();
    let text = text.replace(
        "    insecure-skip-tls-verify: true\n",
        "    insecure-skip-tls-verify: true\n    proxy-url: socks5://127.0.0.1:9\n",
    );
    assert!(
        text.contains("proxy-url"),
        "the test kubeconfig changed shape"
    );
    std::fs::write(&wire.kubeconfig, text).unwrap();
    let out = wire.run(&VALID_ARGS, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("proxy-url"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !wire.was_touched(),
        "k8sensus connected despite the proxy-url"
    );

    let wire = Tripwire::new("env-proxy");
    let out = wire.run(&VALID_ARGS, &[("HTTPS_PROXY", "socks5://127.0.0.1:9")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("HTTPS_PROXY in the environment"),
        "{stderr}"
    );
    assert!(stderr.contains("NO_PROXY"), "{stderr}");
    assert!(
        !wire.was_touched(),
        "k8sensus connected despite HTTPS_PROXY"
    );
}

/// `--help` documents every flag with the walkthrough's defaults.
#[test]
fn help_lists_every_flag_with_defaults() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--lease-name",
        "--lease-namespace",
        "--identity",
        "--lease-duration",
        "--renew-deadline",
        "--retry-period",
        "--task-period",
        "--exit-on-lost",
        "--log-format",
        "LEASE_NAME",
        "POD_NAMESPACE",
        "POD_NAME",
        "[default: 15s]",
        "[default: 10s]",
        "[default: 2s]",
        "[default: default]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

/// Waits for a spawned child, killing it and failing after `timeout`.
fn run_with_timeout_child(mut child: std::process::Child, timeout: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "k8sensus did not exit within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
