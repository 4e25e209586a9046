//! Prometheus metrics: who leads, the fencing token, renew latency, API errors.
//!
//! Names follow client-go where it has one (`leader_election_master_status`,
//! `leader_election_slowpath_total`), so existing dashboards and alerts work unchanged.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::elector::{ElectionHooks, ElectionStatus, ErrorKind, Verb};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabels {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabels {
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    verb: &'static str,
    kind: &'static str,
}

/// The registry and every metric in it. Counters and the histogram are fed by the elector
/// (through [`ElectionHooks`]); the gauges are read from the election status at scrape time.
pub struct Metrics {
    registry: Registry,
    lease: LeaseLabels,
    master_status: Family<LeaseLabels, Gauge>,
    fencing_token: Family<LeaseLabels, Gauge>,
    transitions: Family<LeaseLabels, Gauge>,
    renew_seconds: Histogram,
    slow_path: Family<LeaseLabels, Counter>,
    api_requests: Family<VerbLabels, Counter>,
    api_errors: Family<ErrorLabels, Counter>,
    duplicate_identity: Family<LeaseLabels, Counter>,
}

impl Metrics {
    pub fn new(lease_name: &str) -> Self {
        let mut registry = Registry::default();
        let master_status = Family::<LeaseLabels, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "1 while this replica leads the lease, else 0 (client-go's name)",
            master_status.clone(),
        );
        let fencing_token = Family::<LeaseLabels, Gauge>::default();
        registry.register(
            "k8sensus_fencing_token",
            "leaseTransitions when this replica's current term began; -1 when not leading",
            fencing_token.clone(),
        );
        let transitions = Family::<LeaseLabels, Gauge>::default();
        registry.register(
            "k8sensus_lease_transitions",
            "leaseTransitions as this replica last saw it",
            transitions.clone(),
        );
        let renew_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "k8sensus_renew_duration_seconds",
            "how long each successful renewal took",
            renew_seconds.clone(),
        );
        let slow_path = Family::<LeaseLabels, Counter>::default();
        registry.register(
            "leader_election_slowpath",
            "renewals that conflicted on the fast path and had to read the lease (client-go's name)",
            slow_path.clone(),
        );
        let api_requests = Family::<VerbLabels, Counter>::default();
        registry.register(
            "k8sensus_api_requests",
            "Lease API calls sent, by verb, whatever their outcome (a watch counts when it is opened)",
            api_requests.clone(),
        );
        let api_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "k8sensus_api_errors",
            "failed Lease API calls, by verb and kind of failure",
            api_errors.clone(),
        );
        let duplicate_identity = Family::<LeaseLabels, Counter>::default();
        registry.register(
            "k8sensus_duplicate_identity",
            "renewals of the lease under this replica's identity by another process: two replicas share one identity",
            duplicate_identity.clone(),
        );
        Self {
            registry,
            lease: LeaseLabels {
                name: lease_name.to_string(),
            },
            master_status,
            fencing_token,
            transitions,
            renew_seconds,
            slow_path,
            api_requests,
            api_errors,
            duplicate_identity,
        }
    }

    /// The metrics in the text exposition format, with the gauges taken from `status`.
    pub fn render(&self, status: &ElectionStatus) -> String {
        self.master_status
            .get_or_create(&self.lease)
            .set(i64::from(status.leading));
        self.fencing_token
            .get_or_create(&self.lease)
            .set(if status.leading {
                i64::from(status.transitions)
            } else {
                -1
            });
        self.transitions
            .get_or_create(&self.lease)
            .set(i64::from(status.transitions));
        // Show the counter at 0 before the first slow path.
        let _ = self.slow_path.get_or_create(&self.lease);
        let _ = self.duplicate_identity.get_or_create(&self.lease);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl ElectionHooks for Metrics {
    fn renewed(&self, latency: Duration) {
        self.renew_seconds.observe(latency.as_secs_f64());
    }

    fn slow_path(&self) {
        self.slow_path.get_or_create(&self.lease).inc();
    }

    fn duplicate_identity(&self) {
        self.duplicate_identity.get_or_create(&self.lease).inc();
    }

    fn api_request(&self, verb: Verb) {
        self.api_requests
            .get_or_create(&VerbLabels {
                verb: verb.as_str(),
            })
            .inc();
    }

    fn api_error(&self, verb: Verb, kind: ErrorKind) {
        self.api_errors
            .get_or_create(&ErrorLabels {
                verb: verb.as_str(),
                kind: kind.as_str(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition names client-go's gauge and our counters, with the right values.
    #[test]
    fn renders_the_leader_gauge_and_counters() {
        let metrics = Metrics::new("my-lease");
        metrics.renewed(Duration::from_millis(3));
        metrics.api_request(Verb::Update);
        metrics.api_request(Verb::Update);
        metrics.api_error(Verb::Update, ErrorKind::Timeout);
        metrics.duplicate_identity();
        let status = ElectionStatus {
            leading: true,
            transitions: 7,
            ..Default::default()
        };
        let text = metrics.render(&status);
        assert!(
            text.contains("leader_election_master_status{name=\"my-lease\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("k8sensus_fencing_token{name=\"my-lease\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("k8sensus_api_errors_total{verb=\"update\",kind=\"timeout\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("k8sensus_api_requests_total{verb=\"update\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("k8sensus_duplicate_identity_total{name=\"my-lease\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("k8sensus_renew_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
        let text = metrics.render(&ElectionStatus::default());
        assert!(
            text.contains("leader_election_master_status{name=\"my-lease\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("k8sensus_fencing_token{name=\"my-lease\"} -1"),
            "{text}"
        );
    }
}
