//! The part of a Lease that leader election reads and writes, and nothing else.
//!
//! A Lease can arrive in any shape: written by another program, edited by hand, created with
//! no spec at all. Reading it never fails; odd values are kept as they are and interpreted by
//! the rules in [`super::rules`].

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

/// The election fields of `Lease.spec`.
///
/// `strategy` and `preferredHolder` (Coordinated Leader Election) are deliberately absent: we
/// do not own them, so [`LeaseRecord::write_to`] leaves them as they were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `holderIdentity`; empty when nobody holds the Lease (missing is read as empty).
    pub holder: String,
    /// `leaseDurationSeconds` exactly as written, which may be missing, zero or negative.
    pub lease_duration_seconds: Option<i32>,
    /// `acquireTime`: when the current holder took the Lease.
    pub acquire_time: Option<Timestamp>,
    /// `renewTime`: when the holder last renewed. Informational only: it comes from another
    /// machine's clock, so the rules never compare it with ours.
    pub renew_time: Option<Timestamp>,
    /// `leaseTransitions`: how many times the Lease changed hands (missing is read as 0).
    /// It only grows, which makes it the leader's fencing token.
    pub transitions: i32,
}

impl LeaseRecord {
    /// Reads the election fields from a Lease. Never fails: a Lease without a spec reads as
    /// free, and a missing count as 0.
    pub fn from_lease(lease: &Lease) -> Self {
        let Some(spec) = &lease.spec else {
            return Self::default();
        };
        Self {
            holder: spec.holder_identity.clone().unwrap_or_default(),
            lease_duration_seconds: spec.lease_duration_seconds,
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }

    /// The holder, or `None` when the Lease is free.
    pub fn holder(&self) -> Option<&str> {
        (!self.holder.is_empty()).then_some(self.holder.as_str())
    }

    /// Writes the election fields into a Lease, creating the spec if there is none, and leaves
    /// every other field (metadata, `strategy`, `preferredHolder`) untouched.
    pub fn write_to(&self, lease: &mut Lease) {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.holder.clone());
        spec.lease_duration_seconds = self.lease_duration_seconds;
        spec.acquire_time = self.acquire_time.map(MicroTime);
        spec.renew_time = self.renew_time.map(MicroTime);
        spec.lease_transitions = Some(self.transitions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    /// A Lease with no spec reads as free, with no duration and no transitions.
    #[test]
    fn missing_spec_reads_as_free() {
        let lease = Lease::default();
        let record = LeaseRecord::from_lease(&lease);
        assert_eq!(record, LeaseRecord::default());
        assert_eq!(record.holder(), None);
    }

    /// An empty holder is the same as no holder.
    #[test]
    fn empty_holder_is_free() {
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(String::new()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(LeaseRecord::from_lease(&lease).holder(), None);
    }

    /// Writing our record keeps the fields we do not own: labels, annotations, strategy and
    /// preferredHolder.
    #[test]
    fn write_keeps_fields_we_do_not_own() {
        let mut lease = Lease {
            metadata: ObjectMeta {
                name: Some("l".into()),
                labels: Some([("team".to_string(), "a".to_string())].into()),
                annotations: Some([("note".to_string(), "keep".to_string())].into()),
                resource_version: Some("42".into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some("old".into()),
                strategy: Some("OldestEmulationVersion".into()),
                preferred_holder: Some("someone".into()),
                lease_transitions: Some(7),
                ..Default::default()
            }),
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let record = LeaseRecord {
            holder: "me".into(),
            lease_duration_seconds: Some(15),
            acquire_time: Some(now),
            renew_time: Some(now),
            transitions: 8,
        };
        record.write_to(&mut lease);
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"));
        assert_eq!(spec.preferred_holder.as_deref(), Some("someone"));
        assert_eq!(lease.metadata.labels.as_ref().unwrap()["team"], "a");
        assert_eq!(lease.metadata.annotations.as_ref().unwrap()["note"], "keep");
        assert_eq!(lease.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(LeaseRecord::from_lease(&lease), record);
    }
}
