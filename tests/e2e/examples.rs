//! The library examples (examples/minimal.rs, examples/controller.rs) against the real API
//! server, with a token of the rbac.yaml ServiceAccount: each elects itself, runs its work,
//! and on Ctrl-C (SIGINT) stops the work, releases the Lease and exits 0.
//!
//! The examples are built by `cargo test --all-targets` (so by `make test`), next to this test
//! binary's directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;
use serde_json::Value;

/// A running example, with its standard output collected line by line.
struct Example {
    child: Child,
    out: Output,
}

impl Example {
    fn spawn(name: &str, ns: &TestNamespace, identity: &str) -> Self {
        // This binary is target/<profile>/deps/e2e-<hash>; examples are built into
        // target/<profile>/examples/.
        let exe = std::env::current_exe().unwrap();
        let path: PathBuf = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples")
            .join(name);
        assert!(
            path.exists(),
            "{} is not built: run `cargo test --all-targets` or `cargo build --examples`",
            path.display()
        );
        let mut child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&path)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &ns.sa_kubeconfig)
            .env("POD_NAME", identity)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the example under setpriv");
        let out = Output::follow(child.stdout.take().unwrap(), name, true);
        Self { child, out }
    }

    fn printed(&self, text: &str) -> bool {
        self.out.contains(text)
    }

    async fn wait_printed(&self, text: &str, timeout: Duration) {
        let found = wait_for(timeout, || async { self.printed(text).then_some(()) }).await;
        assert!(
            found.is_some(),
            "no line with {text:?} within {timeout:?}; printed: {:?}",
            self.out.lines()
        );
    }

    /// SIGINT (Ctrl-C), then the exit status, within 15 s.
    fn interrupt(&mut self) -> i32 {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -INT failed");
        let status = wait_exit(&mut self.child, Duration::from_secs(15))
            .expect("the example exits within 15 s of SIGINT");
        self.out.wait_closed(Duration::from_secs(2)); // its last lines
        status.code().unwrap_or(-1)
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn minimal_elects_itself_and_releases_on_ctrl_c() {
    let ns = TestNamespace::new("example-minimal");
    let mut example = Example::spawn("minimal", &ns, "one");
    example
        .wait_printed("leading (fencing token 0)", Duration::from_secs(30))
        .await;
    assert_eq!(ns.holder().await.as_deref(), Some("one"));
    assert_eq!(example.interrupt(), 0);
    assert!(example.printed("stopped leading"));
    assert_eq!(ns.holder().await, None, "the Lease is released");
}

#[tokio::test]
async fn controller_runs_while_leading_and_fences_its_writes() {
    let ns = TestNamespace::new("example-controller");
    let cp = ns.cp;
    let n = ["-n", ns.name.as_str()];
    // The extra rights the example's documentation asks for, and two ConfigMaps: `fresh`,
    // and `fenced`, which a later term (token 99) has already written.
    cp.kubectl_ok(&[
        "create",
        "role",
        "k8sensus-example",
        "--verb=get,list,watch,patch",
        "--resource=configmaps",
        n[0],
        n[1],
    ]);
    cp.kubectl_ok(&[
        "create",
        "rolebinding",
        "k8sensus-example",
        "--role=k8sensus-example",
        &format!("--serviceaccount={}:k8sensus", ns.name),
        n[0],
        n[1],
    ]);
    for cm in ["fresh", "fenced"] {
        cp.kubectl_ok(&["create", "configmap", cm, n[0], n[1]]);
        cp.kubectl_ok(&[
            "label",
            "configmap",
            cm,
            "k8sensus.io/example=controller",
            n[0],
            n[1],
        ]);
    }
    cp.kubectl_ok(&[
        "annotate",
        "configmap",
        "fenced",
        "k8sensus.io/fencing-token=99",
        n[0],
        n[1],
    ]);

    let mut example = Example::spawn("controller", &ns, "one");
    example
        .wait_printed("controller started", Duration::from_secs(30))
        .await;
    example
        .wait_printed(
            "reconciled fresh (fencing token 0)",
            Duration::from_secs(20),
        )
        .await;
    example
        .wait_printed(
            "a newer leader (fencing token 99) wrote here; ours is 0",
            Duration::from_secs(20),
        )
        .await;
    let get = |cm: &str| -> Value {
        serde_json::from_str(&cp.kubectl_ok(&["get", "configmap", cm, n[0], n[1], "-o", "json"]))
            .unwrap()
    };
    let fresh = get("fresh");
    assert_eq!(fresh["data"]["reconciled-by"], "one", "{fresh}");
    assert_eq!(
        fresh["metadata"]["annotations"]["k8sensus.io/fencing-token"], "0",
        "{fresh}"
    );
    let fenced = get("fenced");
    assert!(fenced["data"]["reconciled-by"].is_null(), "{fenced}");

    assert_eq!(example.interrupt(), 0);
    assert!(example.printed("controller stopped"));
    assert_eq!(ns.holder().await, None, "the Lease is released");
}
