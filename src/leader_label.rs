//! The optional leader label (`--label-leader-pod`): the leader puts
//! `k8sensus.io/role=leader` on its own pod and takes it off when it stops leading, so that
//! `kubectl get pods -L k8sensus.io/role` shows who leads and a Service selecting the label
//! sends traffic to the leader only.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

/// The label's key and the value the leader's pod carries.
pub const LABEL: &str = "k8sensus.io/role";
pub const LEADER: &str = "leader";

/// Sets and clears the label on pods in one namespace.
#[derive(Clone)]
pub struct LeaderLabel {
    pods: Api<Pod>,
    timeout: Duration,
}

impl LeaderLabel {
    pub fn new(client: Client, namespace: &str, timeout: Duration) -> Self {
        Self {
            pods: Api::namespaced(client, namespace),
            timeout,
        }
    }

    /// Labels `pod` as the leader (`true`) or removes the label (`false`), with a JSON merge
    /// patch that touches nothing else. Failures are logged and otherwise ignored: the label
    /// is a convenience for people and Services, the Lease is the truth.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the patch either reaches the API server or not; it sets an absolute
    /// value, so a later call corrects either outcome.
    pub async fn set(&self, pod: &str, leader: bool) {
        let value = if leader { json!(LEADER) } else { json!(null) };
        let patch = Patch::Merge(json!({ "metadata": { "labels": { LABEL: value } } }));
        let result = tokio::time::timeout(
            self.timeout,
            self.pods.patch(pod, &PatchParams::default(), &patch),
        )
        .await;
        let action = if leader { "label" } else { "unlabel" };
        match result {
            Ok(Ok(_)) if leader => info!(pod, "labelled pod {pod} {LABEL}={LEADER}"),
            Ok(Ok(_)) => info!(pod, "removed {LABEL} from pod {pod}"),
            Ok(Err(kube::Error::Api(status))) if status.code == 404 && !leader => {}
            Ok(Err(e)) => {
                warn!(pod, error = %e, "could not {action} pod {pod} (is POD_NAME the pod's name, and does rbac.yaml allow patching pods?)")
            }
            Err(_) => warn!(pod, "could not {action} pod {pod}: timed out"),
        }
    }
}
