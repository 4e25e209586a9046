//! A real control plane (etcd + kube-apiserver) per test binary, started on first use, and
//! the two ways the tests talk to it: kubectl and a kube client. A program that needs more
//! (the benchmark runs several at once, each with an audit log) starts its own with
//! [`ControlPlane::start_with`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::REPO;
use super::metrics::Metrics;
use super::runner::{Runner, RunnerOptions};

/// One etcd + kube-apiserver for this test binary.
pub struct ControlPlane {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub server: String,
    pub ca_file: PathBuf,
    runner: Runner,
}

static CONTROL_PLANE: OnceLock<ControlPlane> = OnceLock::new();

/// The control plane of this test binary, started on first use. Every test in the binary
/// shares it; each works in namespaces of its own ([`super::TestNamespace`]).
pub fn control_plane() -> &'static ControlPlane {
    CONTROL_PLANE.get_or_init(ControlPlane::start)
}

/// What [`ControlPlane::start_with`] lets a caller choose.
#[derive(Clone, Debug, Default)]
pub struct ControlPlaneOptions {
    /// A bin dir for `K8SENSUS_CONTROL_PLANE_BIN` (one whose kube-apiserver writes an audit
    /// log, say: [`super::audit::audit_bin_dir`]); controlplane.py's own build if `None`.
    pub bin_dir: Option<PathBuf>,
    /// A file for the runner's messages; the terminal if `None`.
    pub log: Option<PathBuf>,
}

/// The directory of the control plane's binaries, as `hack/control-plane/controlplane.py
/// build` left them in its per-machine cache (or `K8SENSUS_CONTROL_PLANE_BIN`), found with
/// controlplane.py's own cache key. It does not build them (that takes several minutes
/// once): if they are missing, the error says how to get them.
pub fn control_plane_bin() -> Result<PathBuf, String> {
    const FIND: &str = "import os, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); \
        import controlplane as c; o = os.environ.get('K8SENSUS_CONTROL_PLANE_BIN'); \
        d = Path(o) if o else c.cache_root() / c.cache_key() / 'bin'; \
        print(d.resolve() if c.bin_dir_complete(d) else '')";
    let script_dir = Path::new(REPO).join("hack/control-plane");
    let out = Command::new("python3")
        .args(["-c", FIND])
        .arg(&script_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3 ({e}): it is needed to run the control plane"))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(format!(
            "cannot ask {} for the binaries' directory: {}",
            script_dir.join("controlplane.py").display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if dir.is_empty() {
        return Err(
            "the control plane's binaries (etcd, kube-apiserver, kubectl, ...) are not \
                    built on this machine: run `make control-plane-bin` (once; it needs go and \
                    the Go module proxy, and takes several minutes)"
                .into(),
        );
    }
    Ok(PathBuf::from(dir))
}

impl ControlPlane {
    /// A control plane of the caller's own in `dir` (which must not exist yet, or is
    /// replaced), independent of [`control_plane`]'s: several can run at once, each on free
    /// ports. It runs until [`ControlPlane::stop`], or until this process exits.
    pub fn start_with(dir: &Path, options: &ControlPlaneOptions) -> Self {
        let script = Path::new(REPO).join("hack/control-plane/controlplane.py");
        let mut runner_options = RunnerOptions {
            stderr_to: options.log.clone(),
            ..RunnerOptions::default()
        };
        if let Some(bin) = &options.bin_dir {
            runner_options.env.push((
                "K8SENSUS_CONTROL_PLANE_BIN".into(),
                bin.display().to_string(),
            ));
        }
        let runner = Runner::start_with(
            &script,
            dir,
            "It needs the control plane's binaries (`make control-plane-bin`), python3 and openssl",
            &runner_options,
        );
        Self::from_runner(dir, runner)
    }

    fn from_runner(dir: &Path, runner: Runner) -> Self {
        ControlPlane {
            kubeconfig: runner.path("kubeconfig"),
            kubectl: runner.path("kubectl"),
            server: runner.text("server"),
            ca_file: runner.path("ca_file"),
            dir: dir.to_path_buf(),
            runner,
        }
    }

    /// An entry of the runner's `state.json` (`kubernetes_version`, say), if it is text.
    pub fn state_text(&self, key: &str) -> Option<String> {
        self.runner.state[key].as_str().map(str::to_string)
    }

    /// Closes the runner's lifeline without waiting; [`ControlPlane::stop`] waits.
    pub fn let_go(&self) {
        self.runner.let_go();
    }

    /// Stops etcd and kube-apiserver and waits (up to 60 s) for the runner to finish.
    pub fn stop(&self) {
        self.runner.stop(std::time::Duration::from_secs(60));
    }

    /// kube-apiserver's own `process_cpu_seconds_total`, from its /metrics (as the admin).
    pub async fn apiserver_cpu_seconds(&self, admin: &Client) -> Result<f64, String> {
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| format!("GET /metrics: {e}"))?;
        let text = admin
            .request_text(request)
            .await
            .map_err(|e| format!("GET /metrics from kube-apiserver: {e}"))?;
        Metrics::parse_prometheus(&text)?
            .get("process_cpu_seconds_total", &[])
            .ok_or_else(|| "kube-apiserver's /metrics has no process_cpu_seconds_total".into())
    }

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
        eprintln!(
            "[support] starting the control plane in {} (the first build on a machine takes several minutes)",
            dir.display()
        );
        let runner = Runner::start(
            &script,
            &dir,
            "It needs go, python3 and openssl, and the Go module proxy for the first build; run `make control-plane` to retry by hand",
        );
        eprintln!("[support] control plane ready at {}", runner.text("server"));
        Self::from_runner(&dir, runner)
    }

    /// Sends one command to the runner (`kill-apiserver`, `start-apiserver`, ...) and returns
    /// its `OK ...` answer; panics on `ERR`.
    pub fn command(&self, command: &str) -> String {
        self.runner.command(command)
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

/// A kube client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("load kubeconfig");
    Client::try_from(config).expect("build client")
}
