//! rbac.yaml and deployment.yaml against the real API server: they validate, they grant what
//! the binary needs and nothing more, and without them the binary says what to do.

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

/// Both manifests pass the API server's own validation (`kubectl apply --dry-run=server`),
/// in a namespace other than the one written in them.
#[tokio::test]
async fn manifests_pass_server_side_dry_run() {
    let ns = TestNamespace::bare("dryrun");
    for file in ["rbac.yaml", "deployment.yaml"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let text = text.replace("namespace: default", &format!("namespace: {}", ns.name));
        let (ok, out, err) = ns.cp.kubectl_as(
            &ns.cp.kubeconfig,
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&text),
        );
        assert!(ok, "{file} failed the server dry-run: {err}");
        assert!(out.contains("(server dry run)"), "{file}: {out}");
    }
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
