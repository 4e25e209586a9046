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
        std::fs::write(&path, token_kubeconfig(self.cp, sa, token, &self.name)).unwrap();
        path
    }
}

/// A kubeconfig that authenticates to `cp` as `user` with `token`, `namespace` its default.
pub fn token_kubeconfig(cp: &ControlPlane, user: &str, token: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: {user}\n  user:\n    token: {}\ncontexts:\n- name: {user}\n  context:\n    cluster: local\n    user: {user}\n    namespace: {namespace}\ncurrent-context: {user}\n",
        cp.server,
        cp.ca_file.display(),
        token.trim(),
    )
}

/// The ServiceAccount of replica `slot` in a namespace made by [`setup_namespaces`].
pub fn replica_service_account(slot: usize) -> String {
    format!("replica-{slot}")
}

/// How long the replicas' tokens are valid: longer than any run of the benchmark.
const REPLICA_TOKEN_SECONDS: i64 = 4 * 3600;

/// Namespaces for replicas whose every request must be told apart (the benchmark's): for
/// each `(namespace, replicas)`, the namespace, rbac.yaml applied in it, one ServiceAccount
/// per replica ([`replica_service_account`]) bound to rbac.yaml's Role, and a kubeconfig per
/// replica holding a token of its ServiceAccount (TokenRequest, valid 4 h), written to
/// `dir`. The audit log then names the replica behind each request. Two `kubectl apply` for
/// all the objects; the tokens through `admin`. Returns `{(namespace, slot): kubeconfig}`.
pub async fn setup_namespaces(
    cp: &ControlPlane,
    admin: &kube::Client,
    dir: &Path,
    namespaces: &[(String, usize)],
) -> Result<std::collections::HashMap<(String, usize), PathBuf>, String> {
    apply(
        cp,
        namespaces
            .iter()
            .map(|(ns, _)| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))
            .collect::<Vec<_>>()
            .join("---\n"),
    )?;
    let docs: Vec<String> = namespaces
        .iter()
        .flat_map(|(ns, replicas)| replica_accounts(ns, *replicas))
        .collect();
    apply(cp, docs.join("\n"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut kubeconfigs = std::collections::HashMap::new();
    for (ns, replicas) in namespaces {
        for slot in 0..*replicas {
            let path = replica_kubeconfig(cp, admin, dir, ns, slot).await?;
            kubeconfigs.insert((ns.clone(), slot), path);
        }
    }
    Ok(kubeconfigs)
}

/// `kubectl apply` of `docs` as the admin.
fn apply(cp: &ControlPlane, docs: String) -> Result<(), String> {
    let (ok, _, err) = cp.kubectl_as(&cp.kubeconfig, &["apply", "-f", "-"], Some(&docs));
    if ok {
        Ok(())
    } else {
        Err(format!("kubectl apply of the namespaces' objects: {err}"))
    }
}

/// The objects of namespace `ns` for `replicas` replicas: rbac.yaml, one ServiceAccount per
/// replica, and a RoleBinding of them all to rbac.yaml's Role.
fn replica_accounts(ns: &str, replicas: usize) -> Vec<String> {
    let mut docs = vec![rbac_yaml_for(ns)];
    let mut subjects = String::new();
    for slot in 0..replicas {
        let sa = replica_service_account(slot);
        docs.push(format!(
            "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {sa}\n  namespace: {ns}\n"
        ));
        subjects.push_str(&format!(
            "  - kind: ServiceAccount\n    name: {sa}\n    namespace: {ns}\n"
        ));
    }
    docs.push(format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: bench-replicas\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: k8sensus-leader-election\nsubjects:\n{subjects}"
    ));
    docs
}

/// Replica `slot`'s kubeconfig in `dir`, readable by its owner alone, with a token of its
/// ServiceAccount in `ns` minted through `admin` (TokenRequest).
async fn replica_kubeconfig(
    cp: &ControlPlane,
    admin: &kube::Client,
    dir: &Path,
    ns: &str,
    slot: usize,
) -> Result<PathBuf, String> {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use std::os::unix::fs::PermissionsExt;
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(admin.clone(), ns);
    let sa = replica_service_account(slot);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(REPLICA_TOKEN_SECONDS),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(&sa, &Default::default(), &request)
        .await
        .map_err(|e| format!("TokenRequest for {ns}/{sa}: {e}"))?
        .status
        .map(|s| s.token)
        .ok_or_else(|| format!("TokenRequest for {ns}/{sa}: no token in the answer"))?;
    let path = dir.join(format!("{ns}-{sa}.kubeconfig"));
    std::fs::write(&path, token_kubeconfig(cp, &sa, &token, ns))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    Ok(path)
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
