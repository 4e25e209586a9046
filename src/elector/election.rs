//! The elector's public face: [`LeaderElector`] and the loop that alternates between the
//! two states of a replica. As a *candidate* (`candidate`, `standby`) it reads, watches and
//! claims the Lease; as the *leader* of a term (`term`) it renews the Lease and runs the
//! work. Every decision is taken by a rule in [`super::rules`]; these files only do the I/O
//! and the waiting.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span};

use super::api::{ApiError, LeaseApi};
use super::config::{AfterLoss, ConfigError, ElectionConfig};
use super::hooks::{ElectionHooks, NoHooks};
use super::knowledge::Memory;
use super::leadership::Leadership;
use super::status::{ElectionStatus, StatusBoard};
use super::term::AfterTerm;

/// Set on a Lease created with delayed work: the wall-clock time its work starts, so that
/// `k8sensus status` can show it. Informational only; no decision reads it.
pub const WORK_STARTS_AT_ANNOTATION: &str = "k8sensus.io/work-starts-at";

/// Runs Lease leader election for one identity.
pub struct LeaderElector {
    pub(super) config: ElectionConfig,
    pub(super) leases: LeaseApi,
    pub(super) status: StatusBoard,
    pub(super) hooks: Arc<dyn ElectionHooks>,
    pub(super) memory: Mutex<Memory>,
}

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    #[error("invalid election settings: {0}")]
    Config(#[from] ConfigError),
    /// The API server refused us in a way retrying cannot fix (RBAC, credentials, a bad name).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// We lost leadership and the settings say to return ([`AfterLoss::Return`]).
    #[error("lost leadership of lease {lease}")]
    LeadershipLost { lease: String },
    /// The leader's work returned or panicked on its own while we were still leading. We gave
    /// the Lease up so that another replica can do the work.
    #[error("the leader's work ended while still leading ({detail}); the lease was given up")]
    WorkEnded { detail: String },
    /// The work did not stop when its term ended, even when aborted. It may still be running,
    /// so this process must not campaign again: exit, and let the process end take the work
    /// with it.
    #[error(
        "the leader's work did not stop within {} after its term of lease {lease} ended, even when aborted; it may still be running, so this process will not campaign again (the work must return soon after Leadership::ended() and must not detach tasks)",
        humantime::format_duration(*.grace)
    )]
    WorkWouldNotStop { lease: String, grace: Duration },
    /// The Lease asks for coordinated leader election (`spec.strategy`, KEP-4355): the
    /// kube-apiserver picks the holder, and a replica that campaigns would fight it.
    #[error(
        "lease {lease} has spec.strategy {strategy:?}: it is managed by coordinated leader election (the kube-apiserver chooses its holder), which k8sensus does not take part in; use another lease name, or remove spec.strategy"
    )]
    CoordinatedElection { lease: String, strategy: String },
    /// The API server accepted us before, then refused us (401 or 403) for longer than
    /// [`super::rules::refusal_bound`]: rights revoked or credentials expired, not a restart.
    #[error(
        "the API server has refused every request for {} after accepting earlier ones: {error}",
        humantime::format_duration(Duration::from_secs(.after.as_secs()))
    )]
    StillRefused { after: Duration, error: ApiError },
}

impl LeaderElector {
    /// An elector for `config`, using `client` for the Lease API. Checks the settings first.
    pub fn new(client: Client, config: ElectionConfig) -> Result<Self, ConfigError> {
        Self::with_hooks(client, config, Arc::new(NoHooks))
    }

    /// Like [`LeaderElector::new`], reporting requests, renewals and API errors to `hooks`.
    pub fn with_hooks(
        client: Client,
        config: ElectionConfig,
        hooks: Arc<dyn ElectionHooks>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let leases = LeaseApi::new(
            client,
            &config.namespace,
            &config.lease_name,
            config.request_timeout,
            hooks.clone(),
        );
        Ok(Self {
            config,
            leases,
            status: StatusBoard::new(),
            hooks,
            memory: Mutex::default(),
        })
    }

    /// The settings this elector runs with.
    pub fn config(&self) -> &ElectionConfig {
        &self.config
    }

    /// A live view of the election: who leads, whether we do, the transition count.
    pub fn status(&self) -> watch::Receiver<ElectionStatus> {
        self.status.subscribe()
    }

    /// Campaigns for the Lease and runs `work` during each term of leadership, until
    /// `shutdown` is cancelled.
    ///
    /// For each term, `work` is called with a [`Leadership`] and its future is spawned. When
    /// the term ends, the work is told (through [`Leadership::ended`]) and awaited *before*
    /// anything else happens; only then, on shutdown, is the Lease released. So two replicas'
    /// work never overlaps because of a release.
    ///
    /// After leadership is lost, the elector campaigns again ([`AfterLoss::Rejoin`]) or
    /// returns an error ([`AfterLoss::Return`]). It returns `Ok(())` after a shutdown.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use k8sensus::elector::{ElectionConfig, LeaderElector};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = kube::Client::try_default().await?;
    /// let config = ElectionConfig::new("my-lease", "my-namespace", "pod-a");
    /// let elector = LeaderElector::new(client, config)?;
    ///
    /// // Cancel this (on SIGTERM, say) to stop the work and then release the Lease.
    /// let shutdown = CancellationToken::new();
    /// elector
    ///     .run(shutdown.clone(), |term| async move {
    ///         if !term.started().await {
    ///             return; // the term ended before its work was allowed to start
    ///         }
    ///         println!("leading with fencing token {}", term.fencing_token());
    ///         term.ended().await; // real work selects on this; see `Leadership`
    ///     })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ElectionError::Api`]: the API server refused a request in a way retrying cannot
    ///   fix ([`ApiError::is_fatal`]): a 403 (RBAC) or 401 (credentials) before any request
    ///   had succeeded, or a request it rejects as invalid, such as a bad Lease name.
    ///   Network errors, timeouts and 5xx answers are retried, never returned.
    /// - [`ElectionError::LeadershipLost`]: a term ended without a shutdown (the renew
    ///   deadline passed, or someone else took the Lease) and the settings say
    ///   [`AfterLoss::Return`].
    /// - [`ElectionError::WorkEnded`]: `work` returned or panicked while still leading; the
    ///   Lease was given up so that another replica can do the work.
    /// - [`ElectionError::WorkWouldNotStop`]: the work did not stop after its term ended, even
    ///   when aborted; it may still run, so the elector will not campaign again.
    /// - [`ElectionError::CoordinatedElection`]: the Lease sets `spec.strategy`, so the
    ///   kube-apiserver chooses its holder and no replica may campaign for it.
    /// - [`ElectionError::StillRefused`]: the API server accepted us before, then refused
    ///   every request (401 or 403) for longer than [`super::rules::refusal_bound`]: revoked rights
    ///   or expired credentials.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: to stop, cancel `shutdown` and await this future. Dropping it instead
    /// (losing a `select!`, aborting its task) stops the renewals but neither the work nor
    /// the Lease: the work runs on its own task and is told its term ended only when the
    /// renew deadline passes (through [`Leadership::ended`]; work that ignores it runs on),
    /// and the Lease is not released, so the standbys wait out the lease duration.
    pub async fn run<W, F>(
        &self,
        shutdown: CancellationToken,
        mut work: W,
    ) -> Result<(), ElectionError>
    where
        W: FnMut(Leadership) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let span = info_span!("election", lease = %self.config.lease_ref(), identity = %self.config.identity);
        async move {
            loop {
                let Some(won) = self.campaign(&shutdown).await? else {
                    return Ok(());
                };
                match self.lead(won, &shutdown, &mut work).await? {
                    AfterTerm::Shutdown => return Ok(()),
                    AfterTerm::Lost if self.config.after_loss == AfterLoss::Return => {
                        return Err(ElectionError::LeadershipLost {
                            lease: self.config.lease_ref(),
                        });
                    }
                    AfterTerm::Lost => info!("back to being a candidate"),
                }
            }
        }
        .instrument(span)
        .await
    }
}
