//! The Lease calls the elector makes (get, create, update, watch), each with a timeout, and
//! the API server's answers sorted into what the election loop needs to tell apart.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};

use super::hooks::ElectionHooks;

/// The Lease API for one named Lease.
///
/// Every call is bounded by a timeout. kube's client speaks HTTP/1.1, so a request we give up
/// on takes its connection with it and the next call dials afresh: a hung connection cannot
/// wedge the elector (the trap of kubernetes#70819).
#[derive(Clone)]
pub(crate) struct LeaseApi {
    api: Api<Lease>,
    name: String,
    namespace: String,
    timeout: Duration,
    /// Whether any call has succeeded yet: see [`classify`] for why a refusal means something
    /// different before and after.
    accepted_once: Arc<AtomicBool>,
    hooks: Arc<dyn ElectionHooks>,
}

/// What went wrong with one call. [`ApiError::is_fatal`] tells whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 409: the write carried a resourceVersion that is no longer current (or the Lease was
    /// created by someone else first). Someone else wrote first; it is not an error.
    #[error("{verb} of lease {lease} lost a race: another replica wrote it first (409 Conflict)")]
    Conflict { verb: Verb, lease: String },
    /// 404 on update: the Lease was deleted.
    #[error("lease {lease} no longer exists")]
    NotFound { lease: String },
    /// 403: RBAC does not allow this call. `retriable` when it is most likely the API server
    /// starting up rather than a missing permission.
    #[error(
        "forbidden: the API server does not allow this identity to {verb} leases in namespace {namespace:?}: {message}"
    )]
    Forbidden {
        verb: Verb,
        namespace: String,
        message: String,
        retriable: bool,
    },
    /// 401: the credentials were not accepted. `retriable` as for `Forbidden`.
    #[error(
        "unauthorized: the API server rejected our credentials when we tried to {verb} lease {lease}: {message}"
    )]
    Unauthorized {
        verb: Verb,
        lease: String,
        message: String,
        retriable: bool,
    },
    /// Any other 4xx: our request is wrong (an invalid name, a missing namespace) and retrying
    /// the same request cannot help.
    #[error("the API server rejected {verb} of lease {lease} ({code} {reason}): {message}")]
    Rejected {
        verb: Verb,
        lease: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// No answer in time.
    #[error("{verb} of lease {lease} timed out after {}", humantime::format_duration(*.after))]
    Timeout {
        verb: Verb,
        lease: String,
        after: Duration,
    },
    /// Connection refused, 5xx, 429, a broken response: worth retrying.
    #[error("{verb} of lease {lease} failed: {source}")]
    Transient {
        verb: Verb,
        lease: String,
        #[source]
        source: kube::Error,
    },
}

/// The API verb of a call, as RBAC names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Create,
    Update,
    Watch,
}

impl Verb {
    /// The verb as RBAC and the audit log name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Watch => "watch",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ApiError {
    /// Fatal errors cannot be fixed by retrying: the configuration or RBAC must change.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ApiError::Forbidden {
                retriable: false,
                ..
            } | ApiError::Unauthorized {
                retriable: false,
                ..
            } | ApiError::Rejected { .. }
        )
    }
}

impl LeaseApi {
    pub(crate) fn new(
        client: Client,
        namespace: &str,
        name: &str,
        timeout: Duration,
        hooks: Arc<dyn ElectionHooks>,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
            timeout,
            accepted_once: Arc::new(AtomicBool::new(false)),
            hooks,
        }
    }

    /// `namespace/name`, for messages.
    fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// GET the Lease; `None` if it does not exist.
    pub(crate) async fn get(&self) -> Result<Option<Lease>, ApiError> {
        self.call(Verb::Get, self.timeout, self.api.get_opt(&self.name))
            .await
    }

    /// POST a new Lease. Losing the race to create it is a [`ApiError::Conflict`].
    pub(crate) async fn create(&self, lease: &Lease) -> Result<Lease, ApiError> {
        self.call(
            Verb::Create,
            self.timeout,
            self.api.create(&PostParams::default(), lease),
        )
        .await
    }

    /// POST a new Lease, within `budget` at most (a leader recreating its deleted Lease must
    /// not run past its renew deadline).
    pub(crate) async fn create_within(
        &self,
        lease: &Lease,
        budget: Duration,
    ) -> Result<Lease, ApiError> {
        self.call(
            Verb::Create,
            self.timeout.min(budget),
            self.api.create(&PostParams::default(), lease),
        )
        .await
    }

    /// PUT the Lease. The object carries the resourceVersion it was read with, so the API
    /// server applies the write only if nobody else wrote in between (otherwise: 409).
    /// `budget` can shorten the timeout, so that a renewal never runs past the renew deadline.
    pub(crate) async fn replace(&self, lease: &Lease, budget: Duration) -> Result<Lease, ApiError> {
        debug_assert!(lease.metadata.resource_version.is_some());
        self.call(
            Verb::Update,
            self.timeout.min(budget),
            self.api.replace(&self.name, &PostParams::default(), lease),
        )
        .await
    }

    /// Opens a watch on this one Lease (a field selector on its name, which RBAC can limit
    /// with resourceNames), starting after `resource_version`. The server ends the watch after
    /// `server_timeout`; opening it is bounded by the request timeout. Each event is the whole
    /// Lease as it is after the change.
    pub(crate) async fn watch(
        &self,
        resource_version: &str,
        server_timeout: Duration,
    ) -> Result<impl Stream<Item = kube::Result<WatchEvent<Lease>>> + use<>, ApiError> {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={}", self.name))
            .timeout(server_timeout.as_secs().clamp(1, u32::MAX as u64) as u32);
        self.call(
            Verb::Watch,
            self.timeout,
            self.api.watch(&params, resource_version),
        )
        .await
    }

    async fn call<T>(
        &self,
        verb: Verb,
        timeout: Duration,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, ApiError> {
        self.hooks.api_request(verb);
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(value)) => {
                self.accepted_once.store(true, Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(error)) => Err(self.report(self.classify(verb, error))),
            Err(_) => Err(self.report(ApiError::Timeout {
                verb,
                lease: self.lease_ref(),
                after: timeout,
            })),
        }
    }

    fn report(&self, error: ApiError) -> ApiError {
        let (verb, kind) = error.kind();
        self.hooks.api_error(verb, kind);
        error
    }

    /// Sorts a kube error into the cases the election loop treats differently.
    fn classify(&self, verb: Verb, error: kube::Error) -> ApiError {
        let accepted_once = self.accepted_once.load(Ordering::Relaxed);
        classify(verb, &self.namespace, &self.name, accepted_once, error)
    }
}

/// Sorts a kube error. A 401 or 403 before any call has ever succeeded is a configuration
/// problem (RBAC not applied, wrong credentials): fatal, with a message that says so. After
/// the API server has accepted us once, the same answer most likely means it is restarting:
/// until its caches are synced it refuses requests ("not yet ready to handle request"), so
/// those are retried, loudly, like a connection failure.
pub(crate) fn classify(
    verb: Verb,
    namespace: &str,
    name: &str,
    accepted_once: bool,
    error: kube::Error,
) -> ApiError {
    let lease = format!("{namespace}/{name}");
    let kube::Error::Api(status) = &error else {
        return ApiError::Transient {
            verb,
            lease,
            source: error,
        };
    };
    match status.code {
        409 => ApiError::Conflict { verb, lease },
        404 if verb == Verb::Update => ApiError::NotFound { lease },
        403 => ApiError::Forbidden {
            verb,
            namespace: namespace.to_string(),
            message: status.message.clone(),
            retriable: accepted_once || status.message.contains("not yet ready to handle request"),
        },
        401 => ApiError::Unauthorized {
            verb,
            lease,
            message: status.message.clone(),
            retriable: accepted_once,
        },
        // 408 and 429 are the server asking us to come back later.
        408 | 429 => ApiError::Transient {
            verb,
            lease,
            source: error,
        },
        code @ 400..=499 => ApiError::Rejected {
            verb,
            lease,
            code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        _ => ApiError::Transient {
            verb,
            lease,
            source: error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            Status::failure("message from the server", reason)
                .with_code(code)
                .boxed(),
        )
    }

    /// A 409 on a write is a lost race, not a failure: the loop reads again and stands by.
    #[test]
    fn a_conflict_on_write_is_a_lost_race() {
        let e = classify(Verb::Update, "ns", "l", false, api_error(409, "Conflict"));
        assert!(matches!(
            e,
            ApiError::Conflict {
                verb: Verb::Update,
                ..
            }
        ));
        assert!(!e.is_fatal());
        let e = classify(
            Verb::Create,
            "ns",
            "l",
            false,
            api_error(409, "AlreadyExists"),
        );
        assert!(matches!(
            e,
            ApiError::Conflict {
                verb: Verb::Create,
                ..
            }
        ));
    }

    /// A 403 is fatal and its message names the verb, the resource and the namespace.
    #[test]
    fn forbidden_is_fatal_and_names_the_verb() {
        let e = classify(
            Verb::Create,
            "team-a",
            "l",
            false,
            api_error(403, "Forbidden"),
        );
        assert!(e.is_fatal());
        let text = e.to_string();
        assert!(
            text.contains("create leases in namespace \"team-a\""),
            "{text}"
        );
    }

    /// A refusal after the API server has accepted us once, or one that says the server is
    /// not ready yet, is retried: that is an API server restarting, not missing RBAC.
    #[test]
    fn refusals_after_success_or_during_startup_are_retried() {
        assert!(!classify(Verb::Update, "ns", "l", true, api_error(403, "Forbidden")).is_fatal());
        assert!(!classify(Verb::Get, "ns", "l", true, api_error(401, "Unauthorized")).is_fatal());
        assert!(classify(Verb::Get, "ns", "l", false, api_error(401, "Unauthorized")).is_fatal());
        let not_ready = kube::Error::Api(
            Status::failure(
                "leases.coordination.k8s.io \"l\" is forbidden: not yet ready to handle request",
                "Forbidden",
            )
            .with_code(403)
            .boxed(),
        );
        assert!(!classify(Verb::Create, "ns", "l", false, not_ready).is_fatal());
    }

    /// Server-side trouble and rate limiting are retried; a bad request is not.
    #[test]
    fn transient_versus_rejected() {
        for code in [500, 503, 504, 429] {
            assert!(
                !classify(Verb::Get, "ns", "l", false, api_error(code, "x")).is_fatal(),
                "{code}"
            );
        }
        assert!(classify(Verb::Create, "ns", "l", false, api_error(422, "Invalid")).is_fatal());
        assert!(classify(Verb::Create, "ns", "l", false, api_error(404, "NotFound")).is_fatal());
        assert!(matches!(
            classify(Verb::Update, "ns", "l", false, api_error(404, "NotFound")),
            ApiError::NotFound { .. }
        ));
    }
}
