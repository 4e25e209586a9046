//! Kubernetes Events on the Lease, like client-go's event recorder: reason `LeaderElection`,
//! `"<identity> became leader"` and `"<identity> stopped leading"`. They show in
//! `kubectl describe lease` and `kubectl get events`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::warn;

/// Writes Events about one Lease.
#[derive(Clone)]
pub struct EventRecorder {
    events: Api<Event>,
    lease_name: String,
    namespace: String,
    identity: String,
    timeout: Duration,
}

impl EventRecorder {
    pub fn new(
        client: Client,
        namespace: &str,
        lease_name: &str,
        identity: &str,
        timeout: Duration,
    ) -> Self {
        Self {
            events: Api::namespaced(client, namespace),
            lease_name: lease_name.to_string(),
            namespace: namespace.to_string(),
            identity: identity.to_string(),
            timeout,
        }
    }

    /// Records `"<identity> <what>"` on the Lease (`lease_uid` lets `kubectl describe lease`
    /// find it). Failures are logged, never fatal: an Event is for people, not for the election.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped, the Event is simply not written (or written once).
    pub async fn record(&self, what: &str, lease_uid: Option<String>) {
        let now = Time(Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", self.lease_name)),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("coordination.k8s.io/v1".into()),
                kind: Some("Lease".into()),
                name: Some(self.lease_name.clone()),
                namespace: Some(self.namespace.clone()),
                uid: lease_uid,
                ..ObjectReference::default()
            },
            reason: Some("LeaderElection".into()),
            message: Some(format!("{} {what}", self.identity)),
            type_: Some("Normal".into()),
            source: Some(EventSource {
                component: Some("k8sensus".into()),
                host: None,
            }),
            reporting_component: Some("k8sensus".into()),
            reporting_instance: Some(self.identity.clone()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Event::default()
        };
        let sent = tokio::time::timeout(
            self.timeout,
            self.events.create(&PostParams::default(), &event),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(status))) if status.code == 403 => warn!(
                "could not record the event \"{} {what}\": forbidden (rbac.yaml allows creating events)",
                self.identity
            ),
            Ok(Err(e)) => {
                warn!(error = %e, "could not record the event \"{} {what}\"", self.identity)
            }
            Err(_) => warn!(
                "could not record the event \"{} {what}\": timed out",
                self.identity
            ),
        }
    }
}
