//! The manifests against the real API server: they validate, they deploy into any namespace
//! with `-f` or `-k`, they pass Pod Security "restricted" (and a pod that breaks it does not),
//! they grant what the binary needs and nothing more, and without them the binary says what to
//! do. (admission-policy.yaml has its own test binary, tests/admission_policy.rs: it is
//! cluster-wide, and would judge every pod of the tests that share this control plane.)

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};

/// Both manifests pass the API server's own validation (`kubectl apply --dry-run=server`),
/// applied with `-n` to a namespace they do not name.
#[tokio::test]
async fn manifests_pass_server_side_dry_run() {
    let ns = TestNamespace::bare("dryrun");
    for file in ["rbac.yaml", "deployment.yaml"] {
        let path = Path::new(REPO).join(file);
        let (ok, out, err) = ns.cp.kubectl(&[
            "apply",
            "--dry-run=server",
            "-n",
            &ns.name,
            "-f",
            path.to_str().unwrap(),
        ]);
        assert!(ok, "{file} failed the server dry-run: {err}");
        assert!(out.contains("(server dry run)"), "{file}: {out}");
    }
}

/// The Deployment's pod template as a Pod named `name`, the way the Deployment controller
/// would create it (the test control plane runs no controllers, so nothing else creates pods).
pub fn pod_from_template(ns: &str, name: &str) -> Value {
    let cp = control_plane();
    let out = cp.kubectl_ok(&["get", "deployment", "k8sensus", "-n", ns, "-o", "json"]);
    let deployment: Value = serde_json::from_str(&out).unwrap();
    let template = &deployment["spec"]["template"];
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": template["metadata"]["labels"] },
        "spec": template["spec"],
    })
}

/// Creates `pod` in `ns` as admin: (success, stdout, stderr).
fn create_pod(ns: &str, pod: &Value) -> (bool, String, String) {
    let cp = control_plane();
    cp.kubectl_as(
        &cp.kubeconfig,
        &["create", "-n", ns, "-f", "-"],
        Some(&pod.to_string()),
    )
}

/// Pod Security admission's verdict on `pod` in a restricted namespace: the pod template is
/// admitted without a warning; the same pod without its seccomp profile is refused.
fn assert_restricted_admits_the_template_only(ns: &str) {
    let pod = pod_from_template(ns, "from-the-template");
    let (ok, _, err) = create_pod(ns, &pod);
    assert!(
        ok,
        "the pod template is refused in a restricted namespace: {err}"
    );
    assert!(!err.contains("Warning"), "warnings creating the pod: {err}");

    // The negative control: it proves Pod Security is enforced in this namespace at all.
    let mut bare = pod_from_template(ns, "without-seccomp");
    bare["spec"]["securityContext"]
        .as_object_mut()
        .unwrap()
        .remove("seccompProfile")
        .expect("the template sets a seccomp profile");
    let (ok, _, err) = create_pod(ns, &bare);
    assert!(!ok, "a pod without a seccomp profile was admitted");
    assert!(
        err.contains("violates PodSecurity \"restricted:latest\"")
            && err.contains("seccompProfile"),
        "refused for the wrong reason: {err}"
    );
}

/// `kubectl apply -k` deploys everything into the one namespace the kustomization names: the
/// namespace itself, labelled restricted, the RBAC objects and the Deployment, Service and
/// PodDisruptionBudget; with no Pod Security warning. The namespace is changed the way a user
/// deploying elsewhere would do it: in the one line of kustomization.yaml that names it.
#[tokio::test]
async fn kustomization_deploys_into_one_restricted_namespace() {
    let cp = control_plane();

    // As shipped: one namespace, k8sensus, on every object and as the Namespace's name.
    let rendered = cp.kubectl_ok(&["kustomize", REPO]);
    let namespaces: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("namespace: "))
        .collect();
    assert!(
        namespaces.len() >= 6 && namespaces.iter().all(|n| *n == "k8sensus"),
        "every object in namespace k8sensus: {namespaces:?}"
    );
    let namespace_object = rendered
        .split("\n---\n")
        .find(|doc| doc.contains("\nkind: Namespace\n"))
        .expect("the kustomization creates its namespace");
    assert!(
        namespace_object.lines().any(|l| l == "  name: k8sensus"),
        "{namespace_object}"
    );

    // Deploying elsewhere changes one line: a copy of the files with that line changed.
    let name = format!("kustomize-{}", random_suffix());
    let copy = cp.dir.join(&name);
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["namespace.yaml", "rbac.yaml", "deployment.yaml"] {
        std::fs::copy(Path::new(REPO).join(file), copy.join(file)).unwrap();
    }
    let kustomization =
        std::fs::read_to_string(Path::new(REPO).join("kustomization.yaml")).unwrap();
    assert_eq!(
        kustomization.matches("\nnamespace: k8sensus\n").count(),
        1,
        "kustomization.yaml names its namespace in one line"
    );
    std::fs::write(
        copy.join("kustomization.yaml"),
        kustomization.replace("\nnamespace: k8sensus\n", &format!("\nnamespace: {name}\n")),
    )
    .unwrap();
    let (ok, out, err) = cp.kubectl(&["apply", "-k", copy.to_str().unwrap()]);
    assert!(ok, "kubectl apply -k failed: {err}");
    assert!(
        !err.contains("Warning"),
        "warnings from kubectl apply -k: {err}"
    );
    eprintln!("{out}");

    let labels = cp.kubectl_ok(&[
        "get",
        "namespace",
        &name,
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    let labels: Value = serde_json::from_str(&labels).unwrap();
    for mode in ["enforce", "audit", "warn"] {
        assert_eq!(
            labels[format!("pod-security.kubernetes.io/{mode}")],
            "restricted",
            "{labels}"
        );
    }
    let objects = cp.kubectl_ok(&[
        "get",
        "serviceaccount/k8sensus",
        "role/k8sensus-leader-election",
        "rolebinding/k8sensus-leader-election",
        "deployment/k8sensus",
        "service/k8sensus-leader",
        "poddisruptionbudget/k8sensus",
        "-n",
        &name,
        "-o",
        "name",
    ]);
    assert_eq!(objects.lines().count(), 6, "{objects}");
    let (shipped_namespace_exists, _, _) = cp.kubectl(&["get", "namespace", "k8sensus"]);
    assert!(
        !shipped_namespace_exists,
        "the overlay's namespace replaces k8sensus"
    );

    // The RoleBinding reaches the ServiceAccount in this namespace.
    let (_, can, err) = cp.kubectl(&[
        "auth",
        "can-i",
        "update",
        "leases.coordination.k8s.io/k8sensus-lease",
        "-n",
        &name,
        &format!("--as=system:serviceaccount:{name}:k8sensus"),
    ]);
    assert_eq!(can.trim(), "yes", "{err}");

    assert_restricted_admits_the_template_only(&name);
    let _ = cp.kubectl(&["delete", "namespace", &name, "--wait=false"]);
}

/// `kubectl apply -n NAMESPACE -f rbac.yaml -f deployment.yaml`, the form the walkthrough used
/// before kustomize, still works, into a namespace labelled restricted, without warnings.
#[tokio::test]
async fn apply_f_works_in_any_namespace() {
    let ns = TestNamespace::bare("apply-f");
    for mode in ["enforce", "audit", "warn"] {
        ns.cp.kubectl_ok(&[
            "label",
            "namespace",
            &ns.name,
            &format!("pod-security.kubernetes.io/{mode}=restricted"),
        ]);
    }
    let file = |f: &str| Path::new(REPO).join(f).to_str().unwrap().to_string();
    let (ok, _, err) = ns.cp.kubectl(&[
        "apply",
        "-n",
        &ns.name,
        "-f",
        &file("rbac.yaml"),
        "-f",
        &file("deployment.yaml"),
    ]);
    assert!(ok, "kubectl apply -f failed: {err}");
    assert!(
        !err.contains("Warning"),
        "warnings from kubectl apply -f: {err}"
    );
    let (_, can, err) = ns.cp.kubectl(&[
        "auth",
        "can-i",
        "watch",
        "leases.coordination.k8s.io/k8sensus-lease",
        "-n",
        &ns.name,
        &format!("--as=system:serviceaccount:{}:k8sensus", ns.name),
    ]);
    assert_eq!(can.trim(), "yes", "{err}");
    assert_restricted_admits_the_template_only(&ns.name);
}

/// After rbac.yaml is applied, the ServiceAccount may get, create, update and watch its Lease,
/// create Events and patch pods (for the leader label), and nothing else: not delete the
/// Lease, not touch another Lease's name, not read or list pods, not read secrets, not read
/// Leases in another namespace. Asked with the ServiceAccount's own token.
#[tokio::test]
async fn rbac_grants_exactly_what_the_elector_needs() {
    let ns = TestNamespace::new("rbac");
    let other = TestNamespace::bare("rbac-other");
    let can = |args: &[&str]| -> bool {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        let (ok, out, err) = ns.cp.kubectl_as(&ns.sa_kubeconfig, &full, None);
        assert!(
            out.trim() == "yes" || out.trim() == "no",
            "can-i {args:?}: {out} {err}"
        );
        ok
    };
    let lease = format!("leases.coordination.k8s.io/{LEASE}");
    let n = ["-n", ns.name.as_str()];
    for verb in ["get", "update", "watch"] {
        assert!(can(&[verb, &lease, n[0], n[1]]), "may {verb} its lease");
    }
    assert!(
        can(&["create", "leases.coordination.k8s.io", n[0], n[1]]),
        "may create leases"
    );

    assert!(
        !can(&["delete", &lease, n[0], n[1]]),
        "must not delete its lease"
    );
    assert!(
        !can(&["patch", &lease, n[0], n[1]]),
        "must not patch its lease"
    );
    assert!(
        !can(&["list", "leases.coordination.k8s.io", n[0], n[1]]),
        "must not list leases"
    );
    assert!(
        !can(&[
            "get",
            "leases.coordination.k8s.io/someone-elses",
            n[0],
            n[1]
        ]),
        "must not get another lease"
    );
    assert!(!can(&[
        "update",
        "leases.coordination.k8s.io/someone-elses",
        n[0],
        n[1]
    ]));
    assert!(!can(&["get", "pods", n[0], n[1]]), "must not read pods");
    assert!(
        !can(&["get", "secrets", n[0], n[1]]),
        "must not read secrets"
    );
    assert!(
        !can(&["get", &lease, "-n", &other.name]),
        "must not read leases in another namespace"
    );
    assert!(!can(&[
        "create",
        "leases.coordination.k8s.io",
        "-n",
        &other.name
    ]));
}

/// A ServiceAccount without the binding: the binary stops with a non-zero status and a
/// message that names the refused verb and says to apply rbac.yaml.
#[tokio::test]
async fn without_rbac_the_binary_says_apply_rbac_yaml() {
    let ns = TestNamespace::bare("norbac");
    ns.cp
        .kubectl_ok(&["create", "serviceaccount", "k8sensus", "-n", &ns.name]);
    let kubeconfig = ns.kubeconfig_for_service_account("k8sensus");
    let mut replica = Replica::spawn("lonely", &ns.name, &kubeconfig, Timings::SHORT, &[]);
    let status = replica
        .wait_exit(Duration::from_secs(20))
        .expect("the binary exits when forbidden");
    assert_eq!(status.code(), Some(1));
    let out = replica.raw_output();
    assert!(out.contains("forbidden"), "{out}");
    assert!(
        out.contains("get leases"),
        "the message names the refused verb: {out}"
    );
    assert!(out.contains("apply rbac.yaml"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}
