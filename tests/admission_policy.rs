//! admission-policy.yaml on the real API server: with it, the k8sensus ServiceAccount may put
//! the leader label on its own pod and take it off any pod, and may change nothing else.
//!
//! Its own test binary, so its own control plane: the policy is cluster-wide, and would deny
//! the leader label to the replicas of tests/e2e (their tokens are bound to no pod).
//!
//! "Its own pod" comes from the token: a pod's ServiceAccount token is bound to the pod, and
//! the API server adds the pod's name to the caller's identity. There is no kubelet here, so
//! the test makes such a token itself, with `kubectl create token --bound-object-kind Pod`,
//! for a Pod object created directly from the Deployment's pod template.

mod support;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::*;

/// A namespace with rbac.yaml and deployment.yaml applied, the policy applied cluster-wide, and
/// two pods made from the pod template: `leader` (which the token is bound to) and `other`.
struct Setup {
    ns: TestNamespace,
    /// A token of the k8sensus ServiceAccount bound to the pod `leader`.
    bound: std::path::PathBuf,
}

async fn setup(prefix: &str) -> Setup {
    let ns = TestNamespace::new(prefix);
    let cp = ns.cp;
    let file = |f: &str| Path::new(REPO).join(f).to_str().unwrap().to_string();
    cp.kubectl_ok(&["apply", "-n", &ns.name, "-f", &file("deployment.yaml")]);
    // Once per test binary: the policy is cluster-wide, and two tests applying it at the same
    // moment race (both see it missing, both create it, one gets AlreadyExists).
    static POLICY: std::sync::Once = std::sync::Once::new();
    POLICY.call_once(|| {
        cp.kubectl_ok(&["apply", "-f", &file("admission-policy.yaml")]);
    });
    let deployment: Value = serde_json::from_str(&cp.kubectl_ok(&[
        "get",
        "deployment",
        "k8sensus",
        "-n",
        &ns.name,
        "-o",
        "json",
    ]))
    .unwrap();
    let template = &deployment["spec"]["template"];
    for name in ["leader", "other"] {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name, "labels": template["metadata"]["labels"] },
            "spec": template["spec"],
        });
        let (ok, _, err) = cp.kubectl_as(
            &cp.kubeconfig,
            &["create", "-n", &ns.name, "-f", "-"],
            Some(&pod.to_string()),
        );
        assert!(ok, "creating pod {name}: {err}");
    }
    let uid = cp.kubectl_ok(&[
        "get",
        "pod",
        "leader",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let token = cp.kubectl_ok(&[
        "create",
        "token",
        "k8sensus",
        "-n",
        &ns.name,
        "--duration=1h",
        "--bound-object-kind=Pod",
        "--bound-object-name=leader",
        &format!("--bound-object-uid={uid}"),
    ]);
    let bound = ns.kubeconfig_with_token("k8sensus-bound-to-leader", "k8sensus", token.trim());
    let setup = Setup { ns, bound };
    setup.wait_for_policy().await;
    setup
}

impl Setup {
    /// A JSON merge patch of pod `pod`, as k8sensus sends it, with the bound token: Ok, or the
    /// error. (Not `kubectl patch`: it reads the pod first, which the account may not do.)
    async fn patch(&self, pod: &str, patch: Value) -> Result<(), String> {
        self.patch_with(&self.bound, pod, &Patch::Merge(patch))
            .await
    }

    async fn patch_with(
        &self,
        kubeconfig: &Path,
        pod: &str,
        patch: &Patch<Value>,
    ) -> Result<(), String> {
        let pods: Api<Pod> = Api::namespaced(client_for(kubeconfig).await, &self.ns.name);
        pods.patch(pod, &PatchParams::default(), patch)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn label(&self, pod: &str, key: &str) -> String {
        self.ns.cp.kubectl_ok(&[
            "get",
            "pod",
            pod,
            "-n",
            &self.ns.name,
            "-o",
            &format!("jsonpath={{.metadata.labels.{}}}", key.replace('.', "\\.")),
        ])
    }

    /// The API server loads a new policy within a moment; wait until it judges requests.
    async fn wait_for_policy(&self) {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Err(e) = self.patch("other", role(Some("leader"))).await {
                assert!(is_denied(&e), "unexpected error: {e}");
                return;
            }
            // Admitted before the policy was in force: undo, and try again.
            self.ns.cp.kubectl_ok(&[
                "label",
                "pod",
                "other",
                "k8sensus.io/role-",
                "-n",
                &self.ns.name,
            ]);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("admission-policy.yaml was not in force within 20 s");
    }
}

/// A merge patch that sets (or, with `None`, removes) the leader label, as k8sensus sends it.
fn role(value: Option<&str>) -> Value {
    json!({ "metadata": { "labels": { "k8sensus.io/role": value } } })
}

fn is_denied(err: &str) -> bool {
    err.contains("ValidatingAdmissionPolicy 'k8sensus-leader-label-only'") && err.contains("denied")
}

fn assert_denied(result: Result<(), String>, why: &str, what: &str) {
    match result {
        Ok(()) => panic!("admitted, but must be denied: {what}"),
        Err(e) => assert!(
            is_denied(&e) && e.contains(why),
            "{what}: denied for another reason: {e}"
        ),
    }
}

/// Everything the policy must deny, each tried with the token bound to `leader`.
#[tokio::test]
async fn the_policy_denies_every_other_pod_change() {
    let s = setup("vap-deny").await;
    // A strategic merge patch changes one container's image and keeps the rest, which the
    // API server's own pod validation allows; only the policy stands in the way.
    let image = Patch::Strategic(
        json!({ "spec": { "containers": [ { "name": "k8sensus", "image": "evil:1" } ] } }),
    );
    let spec = "may not change a pod's spec";
    assert_denied(
        s.patch_with(&s.bound, "other", &image).await,
        spec,
        "another pod's image",
    );
    assert_denied(
        s.patch_with(&s.bound, "leader", &image).await,
        spec,
        "its own pod's image",
    );
    let labels = "may change no pod label other than k8sensus.io/role";
    assert_denied(
        s.patch(
            "other",
            json!({ "metadata": { "labels": { "app.kubernetes.io/name": "evil" } } }),
        )
        .await,
        labels,
        "another pod's existing label",
    );
    assert_denied(
        s.patch(
            "other",
            json!({ "metadata": { "labels": { "new": "label" } } }),
        )
        .await,
        labels,
        "a new label on another pod",
    );
    assert_denied(
        s.patch(
            "leader",
            json!({ "metadata": { "labels": { "new": "label" } } }),
        )
        .await,
        labels,
        "a new label on its own pod",
    );
    assert_denied(
        s.patch(
            "other",
            json!({ "metadata": { "annotations": { "some": "annotation" } } }),
        )
        .await,
        "may not change pod annotations",
        "an annotation on another pod",
    );
    let leader_label = "may set k8sensus.io/role=leader only on its own pod";
    assert_denied(
        s.patch("other", role(Some("leader"))).await,
        leader_label,
        "the leader label on another pod",
    );
    assert_denied(
        s.patch("leader", role(Some("boss"))).await,
        leader_label,
        "another value of the label on its own pod",
    );
    // A token not bound to any pod has no pod of its own.
    assert_denied(
        s.patch_with(
            &s.ns.sa_kubeconfig,
            "leader",
            &Patch::Merge(role(Some("leader"))),
        )
        .await,
        leader_label,
        "the leader label with an unbound token",
    );
    assert_eq!(s.label("other", "k8sensus.io/role"), "");
    assert_eq!(s.label("leader", "k8sensus.io/role"), "");
    assert_eq!(s.label("other", "app.kubernetes.io/name"), "k8sensus");

    // The admin, and so the Deployment controller and the kubelet, are not judged.
    s.ns.cp.kubectl_ok(&[
        "label",
        "pod",
        "other",
        "by-the-admin=yes",
        "-n",
        &s.ns.name,
    ]);
}

/// What the policy must allow: the label on its own pod, set and removed, and removed from
/// another pod (a new leader clearing a crashed one's label). Then the real binary, with the
/// token bound to its pod, labels itself and unlabels itself on SIGTERM.
#[tokio::test]
async fn the_policy_allows_the_leaders_own_label_changes() {
    let s = setup("vap-allow").await;
    s.patch("leader", role(Some("leader")))
        .await
        .expect("set the label on its own pod");
    assert_eq!(s.label("leader", "k8sensus.io/role"), "leader");
    s.patch("leader", role(None))
        .await
        .expect("remove the label from its own pod");
    assert_eq!(s.label("leader", "k8sensus.io/role"), "");

    // A crashed leader's label, put there by the admin here, is removed by its successor.
    s.ns.cp.kubectl_ok(&[
        "label",
        "pod",
        "other",
        "k8sensus.io/role=leader",
        "-n",
        &s.ns.name,
    ]);
    s.patch("other", role(None))
        .await
        .expect("remove the label from another pod");
    assert_eq!(s.label("other", "k8sensus.io/role"), "");

    // The real thing: k8sensus as the pod `leader`, with its pod-bound token.
    let mut replica = Replica::spawn(
        "leader",
        &s.ns.name,
        &s.bound,
        Timings::SHORT,
        &["--label-leader-pod"],
    );
    let labelled = wait_for(Duration::from_secs(20), || async {
        (s.label("leader", "k8sensus.io/role") == "leader").then_some(())
    })
    .await;
    assert!(
        labelled.is_some(),
        "k8sensus did not label its own pod:\n{}",
        replica.raw_output()
    );
    replica.signal("TERM");
    let status = replica
        .wait_exit(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert_eq!(s.label("leader", "k8sensus.io/role"), "");
    let out = replica.raw_output();
    assert!(!out.contains("could not"), "{out}");
    assert_no_panics(&[replica]);
}
