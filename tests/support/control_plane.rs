//! A real control plane (etcd + kube-apiserver) per test binary, started on first use, and
//! the two ways the tests talk to it: kubectl and a kube client.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::REPO;
use super::runner::Runner;

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
        ControlPlane {
            kubeconfig: runner.path("kubeconfig"),
            kubectl: runner.path("kubectl"),
            server: runner.text("server"),
            ca_file: runner.path("ca_file"),
            dir,
            runner,
        }
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
