//! Namespaces and ServiceAccounts: each test works in fresh namespaces of its own, with
//! rbac.yaml applied, so that tests sharing one control plane stay independent.

use std::path::{Path, PathBuf};

use super::REPO;
use super::control_plane::{ControlPlane, control_plane};

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
        let mut ns = Self::bare(prefix);
        let rbac = rbac_yaml_for(&ns.name);
        let (ok, _, err) = ns
            .cp
            .kubectl_as(&ns.cp.kubeconfig, &["apply", "-f", "-"], Some(&rbac));
        assert!(ok, "applying rbac.yaml to {} failed: {err}", ns.name);
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

    /// The ServiceAccount kubeconfig (`sa_kubeconfig`) with its server replaced by `server`
    /// (a fault proxy's URL, say), written beside it under a name made of `tag`.
    pub fn kubeconfig_via(&self, tag: &str, server: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.sa_kubeconfig).unwrap();
        let path = self
            .sa_kubeconfig
            .with_file_name(format!("{tag}-{}.kubeconfig", random_suffix()));
        std::fs::write(&path, text.replace(&self.cp.server, server)).unwrap();
        path
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

/// Six random lowercase letters, for names that must not collide.
pub fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..6)
        .map(|_| (b'a' + rng.random_range(0..26)) as char)
        .collect()
}
