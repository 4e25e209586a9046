//! The election loop: campaign as a candidate, lead while renewals succeed, step down, and
//! campaign again. Every decision is taken by a rule in [`super::rules`]; this file only does
//! the I/O and the waiting.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::WatchEvent;
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::api::{ApiError, LeaseApi, Verb};
use super::config::{AfterLoss, ConfigError, ElectionConfig};
use super::leadership::Leadership;
use super::log_event;
use super::observer::{NoObserver, Observer};
use super::record::LeaseRecord;
use super::rules::{self, Missing, Observation, Verdict, Written};

/// Set on a Lease created with delayed work: the wall-clock time its work starts, so that
/// `k8sensus status` can show it. Informational only; no decision reads it.
pub const WORK_STARTS_AT_ANNOTATION: &str = "k8sensus.io/work-starts-at";

/// Runs Lease leader election for one identity.
pub struct LeaderElector {
    config: ElectionConfig,
    leases: LeaseApi,
    status: watch::Sender<ElectionStatus>,
    observer: Arc<dyn Observer>,
    memory: Mutex<Memory>,
}

/// What this process remembers across attempts and terms, beyond the observation.
#[derive(Debug, Default)]
struct Memory {
    /// The records this process wrote: only those are "ours".
    written: Written,
    /// The highest `leaseTransitions` seen on any Lease of this name: no token we write is
    /// ever below it.
    highest_seen: Option<i32>,
    /// When we first saw the Lease missing, until we see it exist again.
    missing_since: Option<Instant>,
    /// When we last logged a duplicate identity (the log says so once a minute at most).
    duplicate_logged_at: Option<Instant>,
    /// No work of any term of this process may start before this instant: the latest start
    /// of a delayed term so far. If that term ends before its work starts and we win again
    /// (our own record, found again), the reason for the wait still holds.
    work_not_before: Option<Instant>,
}

/// What the elector knows right now, for logs, probes and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElectionStatus {
    /// The holder we last saw (`None`: the Lease is free, or not read yet).
    pub leader: Option<String>,
    /// Whether this replica leads right now.
    pub leading: bool,
    /// `leaseTransitions` as last seen; while we lead, our fencing token.
    pub transitions: i32,
    /// When our last renewal succeeded (monotonic), while we lead.
    pub last_renewal: Option<Instant>,
    /// The Lease's uid, once seen (Events refer to the Lease by it).
    pub lease_uid: Option<String>,
    /// While we lead: who held the Lease before we took it, if anyone.
    pub previous_leader: Option<String>,
    /// While we lead a term that began by creating a missing Lease: when its work starts.
    pub work_starts_at: Option<Instant>,
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
    /// [`rules::refusal_bound`]: rights revoked or credentials expired, not a restart.
    #[error(
        "the API server has refused every request for {} after accepting earlier ones: {error}",
        humantime::format_duration(Duration::from_secs(.after.as_secs()))
    )]
    StillRefused { after: Duration, error: ApiError },
}

/// How a term of leadership ended.
enum StepDown {
    /// Shutdown was requested: stop the work, then release the Lease.
    Shutdown,
    /// No renewal succeeded within the renew deadline.
    DeadlinePassed,
    /// Someone else holds the Lease now, or it was deleted.
    Lost(String),
    /// The work finished or panicked on its own.
    WorkEnded(String),
    /// A renewal failed in a way retrying cannot fix.
    Fatal(ApiError),
}

/// What one candidate attempt found.
enum Attempt {
    /// We hold the Lease. `started` is when the winning write was sent: the term's deadline
    /// counts from there, because a standby may have started counting from that instant.
    Acquired {
        lease: Box<Lease>,
        started: Instant,
        previous: Option<String>,
        /// When the work may start (later than `started` after creating a missing Lease).
        work_from: Instant,
    },
    /// Someone else holds a live lease (this one) until `until` (our clock).
    Standby { lease: Box<Lease>, until: Instant },
    /// Our write lost to another replica's (409). The next read shows who won.
    LostRace,
    /// The Lease was deleted while another replica held it: its claim still runs until
    /// `until` (our clock), so we must not create the Lease before then.
    DeletedWhileHeld { until: Instant },
    /// The Lease uses coordinated leader election (`spec.strategy`): refuse to campaign.
    Strategy(String),
}

impl LeaderElector {
    /// An elector for `config`, using `client` for the Lease API. Checks the settings first.
    pub fn new(client: Client, config: ElectionConfig) -> Result<Self, ConfigError> {
        Self::with_observer(client, config, Arc::new(NoObserver))
    }

    /// Like [`LeaderElector::new`], reporting renewals and API errors to `observer`.
    pub fn with_observer(
        client: Client,
        config: ElectionConfig,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let leases = LeaseApi::new(
            client,
            &config.namespace,
            &config.lease_name,
            config.request_timeout,
            observer.clone(),
        );
        Ok(Self {
            config,
            leases,
            status: watch::Sender::new(ElectionStatus::default()),
            observer,
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
    ///   every request (401 or 403) for longer than [`rules::refusal_bound`]: revoked rights
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
        let mut observation: Option<Observation> = None;
        loop {
            let Some((lease, started, previous, work_from)) =
                self.campaign(&shutdown, &mut observation).await?
            else {
                return Ok(());
            };
            match self
                .lead(lease, started, previous, work_from, &shutdown, &mut work)
                .await?
            {
                StepDownOutcome::Shutdown => return Ok(()),
                StepDownOutcome::Lost if self.config.after_loss == AfterLoss::Return => {
                    return Err(ElectionError::LeadershipLost {
                        lease: self.config.lease_ref(),
                    });
                }
                StepDownOutcome::Lost => {
                    info!(lease = %self.config.lease_ref(), "back to being a candidate");
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Candidate
    // ---------------------------------------------------------------------------------------

    /// Tries to acquire the Lease until it succeeds (`Some`) or shutdown is requested (`None`).
    ///
    /// A candidate reads the Lease once, then *watches* it instead of polling: a release or a
    /// deletion is seen as it happens, and an expiry is acted on at the exact instant the rules
    /// allow. Every write still carries the resourceVersion of the object it was judged on, so
    /// correctness never depends on the watch; the watch only makes the candidate quick and
    /// cheap (one GET and one watch per resync period while nothing happens).
    async fn campaign(
        &self,
        shutdown: &CancellationToken,
        observation: &mut Option<Observation>,
    ) -> Result<Option<(Lease, Instant, Option<String>, Instant)>, ElectionError> {
        let lease_ref = self.config.lease_ref();
        info!(lease = %lease_ref, identity = %self.config.identity, event = log_event::CAMPAIGNING, "attempting to acquire leader lease {lease_ref}...");
        let mut failures = 0u32;
        let mut races_lost = 0u32;
        // Since when every call has been refused (401/403), and since when watching was.
        let mut refused_since: Option<Instant> = None;
        let mut watch_refused: Option<Instant> = None;
        // The Lease as we last saw it, if that view is fresh enough to act on without a GET:
        // `Some(None)` means we saw it deleted.
        let mut fresh: Option<Option<Lease>> = None;
        loop {
            if shutdown.is_cancelled() {
                return Ok(None);
            }
            // The attempt itself is not raced against shutdown: cancelling a write half-way
            // could leave us holding the Lease without knowing it. It is bounded by timeouts.
            let attempt = match fresh.take() {
                Some(current) => self.attempt(current, observation).await,
                None => match self.leases.get().await {
                    Ok(current) => self.attempt(current, observation).await,
                    Err(e) => Err(e),
                },
            };
            let wait = match attempt {
                Ok(Attempt::Acquired {
                    lease,
                    started,
                    previous,
                    work_from,
                }) => return Ok(Some((*lease, started, previous, work_from))),
                Ok(Attempt::Strategy(strategy)) => {
                    return Err(ElectionError::CoordinatedElection {
                        lease: lease_ref,
                        strategy,
                    });
                }
                Ok(Attempt::Standby { lease, until }) => {
                    failures = 0;
                    races_lost = 0;
                    refused_since = None;
                    match self
                        .stand_by(*lease, until, observation, shutdown, &mut watch_refused)
                        .await
                    {
                        Ok(Wake::Act(current)) => {
                            fresh = Some(current.map(|lease| *lease));
                            continue;
                        }
                        Ok(Wake::Resync) => continue,
                        Ok(Wake::Shutdown) => return Ok(None),
                        Err(e) => Err(e),
                    }
                }
                Ok(Attempt::DeletedWhileHeld { until }) => {
                    failures = 0;
                    refused_since = None;
                    Ok(until.saturating_duration_since(Instant::now()))
                }
                Ok(Attempt::LostRace) => {
                    // Someone else's write landed first. Read again at once to see who won;
                    // only if races keep being lost (a busy writer) slow down.
                    races_lost += 1;
                    refused_since = None;
                    debug!(lease = %lease_ref, races_lost, "another replica won the race for the lease");
                    if races_lost < 3 {
                        continue;
                    }
                    Ok(rules::jittered(self.config.retry_period, &mut rand::rng()))
                }
                Err(e) => Err(e),
            };
            let wait = match wait {
                Ok(wait) => wait,
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    failures += 1;
                    let refusal = matches!(
                        e,
                        ApiError::Forbidden { .. } | ApiError::Unauthorized { .. }
                    );
                    if !refusal {
                        refused_since = None;
                    } else if let Some(after) = rules::refused_too_long(
                        *refused_since.get_or_insert_with(Instant::now),
                        Instant::now(),
                        self.config.lease_duration,
                    ) {
                        return Err(ElectionError::StillRefused { after, error: e });
                    }
                    let wait = rules::backoff(
                        failures,
                        self.config.retry_period,
                        self.config.lease_duration,
                    );
                    let what = if matches!(
                        e,
                        ApiError::Forbidden { .. } | ApiError::Unauthorized { .. }
                    ) {
                        "the API server refused a request it accepted before (it may be restarting); retrying"
                    } else {
                        "could not reach the API server; retrying"
                    };
                    warn!(lease = %lease_ref, error = %e, failures, retry_in = %humantime::format_duration(wait), "{what}");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt, client-go's `tryAcquireOrRenew` without its read: judge the Lease as last
    /// seen (`None`: it does not exist) and, if the rules allow, write our claim with the
    /// resourceVersion of that very object.
    async fn attempt(
        &self,
        current: Option<Lease>,
        observation: &mut Option<Observation>,
    ) -> Result<Attempt, ApiError> {
        let Some(current) = current else {
            // A deleted Lease is not a released one: its last holder may still be working,
            // and will only find out at its next renewal. Honour the claim we last saw for its
            // full duration, exactly as if the Lease were still there and unrenewed.
            let now = Instant::now();
            let decision = {
                let mut memory = self.memory();
                memory.missing_since.get_or_insert(now);
                rules::on_missing(
                    observation.as_ref(),
                    &memory.written,
                    now,
                    self.config.lease_duration,
                )
            };
            if let Missing::Wait { holder, until } = decision {
                info!(lease = %self.config.lease_ref(), holder = %holder,
                    "the lease was deleted while {holder} held it; waiting until its claim would have run out before creating it");
                return Ok(Attempt::DeletedWhileHeld { until });
            }
            return self.create(observation).await;
        };
        if let Some(strategy) = rules::coordinated_strategy(&current) {
            return Ok(Attempt::Strategy(strategy.to_string()));
        }
        // A Lease seen again after it was missing. If it is free (someone recreated it empty),
        // taking it is like creating it: a leader we cannot see may still be working.
        let missing_since = self.memory().missing_since.take();
        let record = LeaseRecord::from_lease(&current);
        let now = Instant::now();
        self.observe(observation, &record, now);
        let seen = observation.as_ref().expect("observe sets it");
        match self.judge(seen, now) {
            Verdict::HeldBy { until, .. } => {
                return Ok(Attempt::Standby {
                    lease: Box::new(current),
                    until,
                });
            }
            Verdict::Expired {
                holder,
                same_identity,
            } => {
                if same_identity {
                    info!(lease = %self.config.lease_ref(), holder = %holder, transitions = record.transitions, event = log_event::TAKING_OVER,
                        "the lease names this replica's identity, {holder}, but this process did not write it (an earlier process with the same identity, such as a restarted container); it has not been renewed for its whole duration, so taking it over as a new term");
                } else {
                    info!(lease = %self.config.lease_ref(), holder = %holder, transitions = record.transitions, event = log_event::TAKING_OVER,
                        "lease held by {holder} has not been renewed for its whole duration; taking it over");
                }
            }
            Verdict::Free | Verdict::Ours => {}
        }
        let previous = record
            .holder()
            .filter(|holder| *holder != self.config.identity)
            .map(str::to_string);
        // Every term a candidate starts is a new term, with a new fencing token, even when the
        // record is our own (found again after our term ended).
        let next = self.claimed(current, true);
        let started = Instant::now();
        let work_from = match record.holder() {
            None => rules::work_starts_at(started, missing_since, self.config.lease_duration),
            Some(_) => started,
        };
        match self
            .leases
            .replace(&next, self.config.request_timeout)
            .await
        {
            Ok(lease) => {
                self.remember(observation, &lease);
                Ok(Attempt::Acquired {
                    lease: Box::new(lease),
                    started,
                    previous,
                    work_from,
                })
            }
            // Someone wrote between the version we judged and our write, or deleted the Lease.
            Err(ApiError::Conflict { .. } | ApiError::NotFound { .. }) => Ok(Attempt::LostRace),
            Err(e) => Err(e),
        }
    }

    /// Stands by while another replica holds the Lease: watches it until something lets us
    /// act, or until `until`, the instant its holder's claim runs out by our clock.
    ///
    /// Returns [`Wake::Act`] with the Lease to judge next (released, expired, or deleted),
    /// or [`Wake::Resync`] when the watch ended (the server closes it after the resync period,
    /// or it broke, or it went quiet for too long): the caller then reads the Lease again.
    ///
    /// If RBAC does not allow `watch` (`watch_refused` remembers since when), it polls instead:
    /// one GET every jittered retry period, warned about once, and the watch is tried again
    /// once per resync period.
    async fn stand_by(
        &self,
        lease: Lease,
        mut until: Instant,
        observation: &mut Option<Observation>,
        shutdown: &CancellationToken,
        watch_refused: &mut Option<Instant>,
    ) -> Result<Wake, ApiError> {
        let lease_ref = self.config.lease_ref();
        let resync = self
            .config
            .resync_period
            .mul_f64(0.8 + 0.4 * rand::rng().random::<f64>());
        let poll = || async {
            let next = Instant::now() + rules::jittered(self.config.retry_period, &mut rand::rng());
            tokio::select! {
                _ = shutdown.cancelled() => Wake::Shutdown,
                _ = sleep_until(until) => Wake::Act(Some(Box::new(lease.clone()))),
                _ = sleep_until(next) => Wake::Resync,
            }
        };
        if watch_refused.is_some_and(|at| at.elapsed() < resync) {
            return Ok(poll().await);
        }
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let events = match self.leases.watch(&version, resync).await {
            Ok(events) => events,
            Err(ApiError::Forbidden {
                verb: Verb::Watch, ..
            }) => {
                if watch_refused.is_none() {
                    warn!(lease = %lease_ref,
                        "this identity may not watch leases: grant watch on leases (see rbac.yaml) for instant takeover; falling back to polling every {:.1}s to {:.1}s",
                        self.config.retry_period.as_secs_f64(),
                        rules::jittered_max(self.config.retry_period).as_secs_f64());
                }
                *watch_refused = Some(Instant::now());
                return Ok(poll().await);
            }
            Err(e) => return Err(e),
        };
        *watch_refused = None;
        tokio::pin!(events);
        // A live holder renews every retry period, and the API server sends bookmarks besides,
        // so a watch that stays silent for longer than this is most likely a dead connection
        // (or a holder that stopped renewing, which the expiry timer handles anyway).
        let silence_bound =
            rules::watch_silence_bound(self.config.retry_period, self.config.lease_duration);
        let mut quiet_until = Instant::now() + silence_bound;
        // The server must end the watch after `resync`; if it has not a little later, the
        // connection is dead without having said so.
        let give_up = Instant::now() + resync + self.config.request_timeout;
        let mut latest = lease;
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return Ok(Wake::Shutdown),
                // The holder's claim ran out with no change seen. Act on the version we last
                // saw: if the watch missed a renewal, the write conflicts and we read again.
                _ = sleep_until(until) => return Ok(Wake::Act(Some(Box::new(latest)))),
                _ = sleep_until(give_up) => {
                    debug!(lease = %lease_ref, "the watch went quiet past its timeout; reading the lease again");
                    return Ok(Wake::Resync);
                }
                _ = sleep_until(quiet_until) => {
                    debug!(lease = %lease_ref, silence = %humantime::format_duration(silence_bound),
                        "no watch event or bookmark for too long; reading the lease again");
                    return Ok(Wake::Resync);
                }
                event = events.next() => event,
            };
            quiet_until = Instant::now() + silence_bound;
            match event {
                Some(Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease))) => {
                    let record = LeaseRecord::from_lease(&lease);
                    let now = Instant::now();
                    self.observe(observation, &record, now);
                    let seen = observation.as_ref().expect("observe sets it");
                    latest = lease;
                    match self.judge(seen, now) {
                        Verdict::HeldBy { until: later, .. } => until = later,
                        // Released (or, oddly, naming us): act on it now.
                        _ => return Ok(Wake::Act(Some(Box::new(latest)))),
                    }
                }
                Some(Ok(WatchEvent::Deleted(_))) => {
                    info!(lease = %lease_ref, "the lease was deleted");
                    return Ok(Wake::Act(None));
                }
                Some(Ok(WatchEvent::Bookmark(_))) => {}
                Some(Ok(WatchEvent::Error(status))) => {
                    // 410 Gone: our resourceVersion is too old to resume from. Either way,
                    // reading again is the cure.
                    debug!(lease = %lease_ref, code = status.code, reason = %status.reason, "watch ended with an error; reading the lease again");
                    return Ok(Wake::Resync);
                }
                Some(Err(e)) => {
                    debug!(lease = %lease_ref, error = %e, "watch broke; reading the lease again");
                    return Ok(Wake::Resync);
                }
                None => return Ok(Wake::Resync),
            }
        }
    }

    /// The Lease does not exist: create it with us as the holder. We may claim it at once, but
    /// the work waits until one lease duration after we first saw it missing
    /// ([`rules::work_starts_at`]): a leader we cannot see may still be working until then.
    async fn create(&self, observation: &mut Option<Observation>) -> Result<Attempt, ApiError> {
        let (highest_seen, missing_since) = {
            let memory = self.memory();
            (memory.highest_seen, memory.missing_since)
        };
        let record = rules::create(
            &self.config.identity,
            Timestamp::now(),
            self.config.lease_duration,
            highest_seen,
        );
        let started = Instant::now();
        let work_from = rules::work_starts_at(started, missing_since, self.config.lease_duration);
        let work_wall = Timestamp::now()
            .checked_add(work_from.saturating_duration_since(started))
            .unwrap_or_else(|_| Timestamp::now());
        let mut lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.lease_name.clone()),
                namespace: Some(self.config.namespace.clone()),
                annotations: (work_from > started).then(|| {
                    [(
                        WORK_STARTS_AT_ANNOTATION.to_string(),
                        rules::micros(work_wall).to_string(),
                    )]
                    .into()
                }),
                ..ObjectMeta::default()
            },
            spec: None,
        };
        record.write_to(&mut lease);
        self.memory().written.wrote(record.clone());
        match self.leases.create(&lease).await {
            Ok(lease) => {
                info!(lease = %self.config.lease_ref(), transitions = record.transitions, event = log_event::ACQUIRED, "created lease {}", self.config.lease_ref());
                self.remember(observation, &lease);
                Ok(Attempt::Acquired {
                    lease: Box::new(lease),
                    started,
                    previous: None,
                    work_from,
                })
            }
            Err(ApiError::Conflict { .. }) => Ok(Attempt::LostRace),
            Err(e) => Err(e),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Leader
    // ---------------------------------------------------------------------------------------

    /// One term: start the work, renew every retry period, and step down when a renewal shows
    /// someone else holds the Lease, when no renewal succeeded within the renew deadline, or on
    /// shutdown.
    async fn lead<W, F>(
        &self,
        lease: Lease,
        started: Instant,
        previous: Option<String>,
        work_from: Instant,
        shutdown: &CancellationToken,
        work: &mut W,
    ) -> Result<StepDownOutcome, ElectionError>
    where
        W: FnMut(Leadership) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let lease_ref = self.config.lease_ref();
        let record = LeaseRecord::from_lease(&lease);
        // A delayed start carries over to later terms of this process until it has passed.
        let work_from = {
            let mut memory = self.memory();
            let work_from = work_from.max(memory.work_not_before.unwrap_or(work_from));
            memory.work_not_before = Some(work_from);
            work_from
        };
        let term = Leadership::starting_at(
            record.transitions,
            started + self.config.renew_deadline,
            work_from,
        );
        info!(lease = %lease_ref, identity = %self.config.identity, transitions = record.transitions,
            event = log_event::ACQUIRED, "successfully acquired lease {lease_ref}");
        let delayed = work_from.saturating_duration_since(Instant::now());
        if !delayed.is_zero() {
            // Why the work waits (see rules::work_starts_at), in words for the log reader.
            info!(lease = %lease_ref, fencing_token = record.transitions, event = log_event::WORK_DELAYED, work_starts_in = %humantime::format_duration(round(delayed)),
                "this replica created the lease because it was missing, so it leads now, but its work waits {}: a missing lease can hide a leader that is still working (the lease was deleted, and its holder only finds out at its next renewal), and one lease duration after the lease was first seen missing any such leader has surely stopped; a brand-new deployment looks exactly the same, so its first leader waits too",
                humantime::format_duration(round(delayed)));
        }
        self.status.send_modify(|s| {
            s.leader = Some(self.config.identity.clone());
            s.leading = true;
            s.transitions = record.transitions;
            s.last_renewal = Some(started);
            s.lease_uid = lease.metadata.uid.clone();
            s.previous_leader = previous;
            s.work_starts_at = (!delayed.is_zero()).then_some(work_from);
        });

        let mut cached = lease;
        if shutdown.is_cancelled() {
            // Shutdown arrived while we were winning: give the Lease straight back.
            self.step_down_status();
            self.release(cached).await;
            return Ok(StepDownOutcome::Shutdown);
        }

        let mut work_task: JoinHandle<()> = tokio::spawn(work(term.clone()));
        let mut next_renewal = started + self.config.retry_period;
        let reason = loop {
            let renewal = async {
                sleep_until(next_renewal).await;
                let attempt_started = Instant::now();
                let budget = term.deadline().saturating_duration_since(attempt_started);
                (
                    attempt_started,
                    self.renew(&mut cached, budget, attempt_started < term.deadline())
                        .await,
                )
            };
            tokio::select! {
                // In this order: after a freeze several branches are ready at once, and the
                // deadline must be seen before a renewal could pretend the term never lapsed.
                biased;
                _ = shutdown.cancelled() => break StepDown::Shutdown,
                // Fires at the monotonic deadline even if a renewal is hanging.
                _ = term.ended() => break StepDown::DeadlinePassed,
                result = &mut work_task => break StepDown::WorkEnded(match result {
                    Ok(()) => "it returned".to_string(),
                    Err(e) if e.is_panic() => "it panicked".to_string(),
                    Err(e) => e.to_string(),
                }),
                (attempt_started, result) = renewal => match result {
                    // A term that reached its deadline is over, even if a renewal then lands
                    // (only possible after a freeze: a renewal's timeout ends at the
                    // deadline). Its work has been told it ended; a new term starts clean.
                    Ok(()) if term.is_over() => break StepDown::DeadlinePassed,
                    Ok(()) => {
                        self.observer.renewed(attempt_started.elapsed());
                        term.extend_to(attempt_started + self.config.renew_deadline);
                        self.status.send_modify(|s| s.last_renewal = Some(attempt_started));
                        next_renewal = attempt_started + self.config.retry_period;
                    }
                    Err(RenewError::Lost(why)) => break StepDown::Lost(why),
                    Err(RenewError::Api(e)) if e.is_fatal() => break StepDown::Fatal(e),
                    Err(RenewError::Api(e)) => {
                        let left = term.deadline().saturating_duration_since(Instant::now());
                        warn!(lease = %lease_ref, error = %e, deadline_in = %humantime::format_duration(round(left)),
                            "failed to renew lease; retrying until the renew deadline");
                        next_renewal = Instant::now() + self.config.retry_period;
                    }
                },
            }
        };

        // Whatever the reason, the work stops first, and is awaited, before anything else.
        term.end();
        self.step_down_status();
        match &reason {
            StepDown::Shutdown => {
                info!(lease = %lease_ref, "shutting down: stopping the leader's work before releasing the lease")
            }
            StepDown::DeadlinePassed => {
                warn!(lease = %lease_ref, renew_deadline = %humantime::format_duration(self.config.renew_deadline),
                "no successful renewal within the renew deadline: stopped leading")
            }
            StepDown::Lost(why) => warn!(lease = %lease_ref, "lost the lease: {why}"),
            StepDown::WorkEnded(why) => {
                error!(lease = %lease_ref, "the leader's work ended on its own ({why}); giving up the lease")
            }
            StepDown::Fatal(e) => error!(lease = %lease_ref, error = %e, "cannot renew the lease"),
        }
        let work_stopped = match reason {
            StepDown::WorkEnded(_) => true,
            _ => self.stop_work(work_task).await,
        };
        info!(lease = %lease_ref, identity = %self.config.identity, event = log_event::STOPPED_LEADING, "stopped leading");
        if !work_stopped {
            // The work may still be running. Campaigning again could start a second copy of it
            // here, or let another replica start one while this one runs: neither is allowed.
            // The Lease is not released; it expires.
            return Err(ElectionError::WorkWouldNotStop {
                lease: lease_ref,
                grace: self.config.renew_deadline,
            });
        }

        match reason {
            // A term whose work has not started yet does not release: a released Lease is
            // taken and worked at once, before the wait this term was serving is over. It
            // expires instead, a lease duration after its last renewal.
            StepDown::Shutdown if Instant::now() < term.starts_at() => {
                info!(lease = %lease_ref, "not releasing the lease: this term's work had not started yet, so a leader we cannot see may still be working; it will expire after its lease duration");
                Ok(StepDownOutcome::Shutdown)
            }
            StepDown::Shutdown => {
                self.release(cached).await;
                Ok(StepDownOutcome::Shutdown)
            }
            StepDown::WorkEnded(detail) => {
                self.release(cached).await;
                Err(ElectionError::WorkEnded { detail })
            }
            StepDown::DeadlinePassed | StepDown::Lost(_) => Ok(StepDownOutcome::Lost),
            StepDown::Fatal(e) => Err(e.into()),
        }
    }

    /// Renews on the fast path: a PUT of the object from our last successful write, with no
    /// read before it. If that conflicts, someone else wrote: read the Lease (the slow path)
    /// and renew only if it is still the record this process wrote. If the Lease was deleted
    /// and our term is live (`in_term`), recreate it: the term goes on.
    async fn renew(
        &self,
        cached: &mut Lease,
        budget: Duration,
        in_term: bool,
    ) -> Result<(), RenewError> {
        let next = self.claimed(cached.clone(), false);
        match self.leases.replace(&next, budget).await {
            Ok(lease) => {
                self.wrote(&lease);
                *cached = lease;
                return Ok(());
            }
            Err(ApiError::Conflict { .. }) => {}
            Err(ApiError::NotFound { .. }) => return self.recreate(cached, budget, in_term).await,
            Err(e) => return Err(RenewError::Api(e)),
        }
        debug!(lease = %self.config.lease_ref(), "fast-path renewal conflicted; reading the lease");
        self.observer.slow_path();
        let Some(current) = self.leases.get().await.map_err(RenewError::Api)? else {
            return self.recreate(cached, budget, in_term).await;
        };
        let record = LeaseRecord::from_lease(&current);
        self.see_transitions(&record);
        let ours = self.memory().written.ours(&record);
        if !ours {
            self.saw(&record, true);
            if record.holder == self.config.identity {
                // Someone else wrote a record with our name: two live processes share this
                // identity. We cannot tell which one the others believe leads: stop at once.
                self.duplicate_identity();
                return Err(RenewError::Lost(format!(
                    "another process with the same identity, {}, wrote the lease; every replica needs a unique identity",
                    self.config.identity
                )));
            }
            return Err(RenewError::Lost(match record.holder() {
                Some(holder) => format!("it is now held by {holder}"),
                None => "it was released by someone else".to_string(),
            }));
        }
        let next = self.claimed(current, false);
        let lease = self
            .leases
            .replace(&next, budget)
            .await
            .map_err(RenewError::Api)?;
        self.wrote(&lease);
        *cached = lease;
        Ok(())
    }

    /// The Lease was deleted while we lead. From inside our live term we recreate it at once,
    /// with our own record and fencing token: the work never stopped, and no other replica
    /// can have started meanwhile (standbys honour our last renewal for a lease duration;
    /// a replica that creates it first makes our create fail, and we step down). Outside the
    /// term (it has ended: only after a freeze), the term is lost.
    async fn recreate(
        &self,
        cached: &mut Lease,
        budget: Duration,
        in_term: bool,
    ) -> Result<(), RenewError> {
        if !in_term {
            return Err(RenewError::Lost("the lease was deleted".to_string()));
        }
        let ours = LeaseRecord::from_lease(cached);
        let highest_seen = self.memory().highest_seen;
        let record = rules::recreate(
            &ours,
            Timestamp::now(),
            self.config.lease_duration,
            highest_seen,
        );
        let mut lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.lease_name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: None,
        };
        record.write_to(&mut lease);
        self.memory().written.wrote(record.clone());
        match self.leases.create_within(&lease, budget).await {
            Ok(lease) => {
                info!(lease = %self.config.lease_ref(), transitions = record.transitions,
                    "the lease was deleted while this replica led; recreated it within the term, which goes on");
                self.wrote(&lease);
                self.status
                    .send_modify(|s| s.lease_uid = lease.metadata.uid.clone());
                *cached = lease;
                Ok(())
            }
            Err(ApiError::Conflict { .. }) => Err(RenewError::Lost(
                "the lease was deleted, and another replica created it first".to_string(),
            )),
            Err(e) => Err(RenewError::Api(e)),
        }
    }

    /// Waits for the work to stop after its term ended. A well-behaved work returns promptly;
    /// one that does not is aborted after a renew deadline. Returns false if it could not be
    /// stopped, in which case the Lease must not be released early: it will simply expire.
    async fn stop_work(&self, mut work_task: JoinHandle<()>) -> bool {
        let grace = self.config.renew_deadline;
        if tokio::time::timeout(grace, &mut work_task).await.is_ok() {
            return true;
        }
        error!(lease = %self.config.lease_ref(), grace = %humantime::format_duration(grace),
            "the leader's work did not stop after its term ended; aborting it");
        work_task.abort();
        tokio::time::timeout(Duration::from_secs(1), work_task)
            .await
            .is_ok()
    }

    /// Gives the Lease up after the work has stopped: holder `""` and a 1 s duration, written
    /// with the resourceVersion we hold, so that a standby may take it at once. On 409 it
    /// reads the Lease again and retries while the Lease still names us. Bounded by the renew
    /// deadline: if the API server cannot be reached, the Lease simply expires.
    async fn release(&self, mut lease: Lease) {
        let lease_ref = self.config.lease_ref();
        let give_up_at = Instant::now() + self.config.renew_deadline;
        info!(lease = %lease_ref, "releasing lease {lease_ref}");
        loop {
            let record = LeaseRecord::from_lease(&lease);
            // Only a record this process wrote is ours to give up. One that names us but that
            // we did not write belongs to another process with our identity: releasing it
            // would hand its live term to a standby.
            if record.holder != self.config.identity || !self.memory().written.ours(&record) {
                info!(lease = %lease_ref, "the lease no longer holds our record; nothing to release");
                return;
            }
            let mut next = lease.clone();
            rules::release(&record, Timestamp::now()).write_to(&mut next);
            let budget = give_up_at.saturating_duration_since(Instant::now());
            let error = match self.leases.replace(&next, budget).await {
                Ok(_) => {
                    info!(lease = %lease_ref, transitions = record.transitions, event = log_event::RELEASED, "released lease {lease_ref}");
                    self.status.send_modify(|s| s.leader = None);
                    return;
                }
                Err(ApiError::NotFound { .. }) => {
                    info!(lease = %lease_ref, "the lease was deleted; nothing to release");
                    return;
                }
                Err(e) => e,
            };
            if !matches!(error, ApiError::Conflict { .. }) {
                warn!(lease = %lease_ref, error = %error, "failed to release lease");
                let retry_at = (Instant::now() + self.config.retry_period).min(give_up_at);
                sleep_until(retry_at).await;
            }
            if Instant::now() >= give_up_at {
                warn!(lease = %lease_ref, "gave up releasing the lease; it will expire after its lease duration");
                return;
            }
            match self.leases.get().await {
                Ok(Some(fresh)) => lease = fresh,
                Ok(None) => return,
                Err(e) => {
                    warn!(lease = %lease_ref, error = %e, "failed to read the lease while releasing it")
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Bookkeeping
    // ---------------------------------------------------------------------------------------

    /// `lease` with our claim written in: a renewal inside our term, or a new term
    /// ([`rules::claim`] decides `acquireTime` and `leaseTransitions`). The resourceVersion
    /// it carries is the one it was read with, so the write is conditional on it. A new term
    /// also clears `preferredHolder` (as client-go does on takeover) and our work-start note.
    /// The record is remembered as ours before it is sent: if the answer is lost, the write
    /// may still have landed.
    fn claimed(&self, mut lease: Lease, new_term: bool) -> Lease {
        let record = LeaseRecord::from_lease(&lease);
        let mut memory = self.memory();
        let next = rules::claim(
            &record,
            &self.config.identity,
            Timestamp::now(),
            self.config.lease_duration,
            new_term,
            memory.highest_seen,
        );
        next.write_to(&mut lease);
        memory.written.wrote(next);
        if new_term {
            rules::clear_for_new_term(&mut lease, WORK_STARTS_AT_ANNOTATION);
        }
        lease
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict on what we observed, with the records this process wrote.
    fn judge(&self, seen: &Observation, now: Instant) -> Verdict {
        rules::judge(
            seen,
            &self.config.identity,
            &self.memory().written,
            now,
            self.config.lease_duration,
        )
    }

    /// Our own successful write: remember the record as the server stored it. The Lease
    /// exists again, so a later disappearance starts a new wait.
    fn wrote(&self, lease: &Lease) {
        let record = LeaseRecord::from_lease(lease);
        let mut memory = self.memory();
        memory.missing_since = None;
        memory.highest_seen = Some(
            memory
                .highest_seen
                .unwrap_or(i32::MIN)
                .max(record.transitions),
        );
        memory.written.wrote(record);
    }

    /// Keeps the highest `leaseTransitions` seen.
    fn see_transitions(&self, record: &LeaseRecord) {
        let mut memory = self.memory();
        memory.highest_seen = Some(
            memory
                .highest_seen
                .unwrap_or(i32::MIN)
                .max(record.transitions),
        );
    }

    /// Another live process carries our identity: say so loudly, and count it.
    fn duplicate_identity(&self) {
        self.observer.duplicate_identity();
        let now = Instant::now();
        {
            let mut memory = self.memory();
            if memory
                .duplicate_logged_at
                .is_some_and(|at| now < at + Duration::from_secs(60))
            {
                return;
            }
            memory.duplicate_logged_at = Some(now);
        }
        error!(lease = %self.config.lease_ref(), identity = %self.config.identity, event = log_event::DUPLICATE_IDENTITY,
            "another process is renewing the lease with this replica's identity, {}: two replicas share one identity, so they cannot tell their leases apart; give every replica a unique identity (--identity or POD_NAME)",
            self.config.identity);
    }

    /// Folds a freshly read record into the observation, and publishes it if it changed.
    fn observe(&self, observation: &mut Option<Observation>, record: &LeaseRecord, now: Instant) {
        self.see_transitions(record);
        let (first, changed) = match observation {
            Some(seen) => (false, seen.update(record.clone(), now)),
            None => {
                *observation = Some(Observation::new(record.clone(), now));
                (true, true)
            }
        };
        if !changed {
            return;
        }
        self.saw(record, false);
        let ours = self.memory().written.ours(record);
        if record.holder == self.config.identity && !ours {
            if first {
                // Most often a container restarted with its pod name: its predecessor's
                // record. It is honoured like anyone else's, and taken over with a new token.
                info!(lease = %self.config.lease_ref(), identity = %self.config.identity,
                    "the lease names this replica's identity, but this process did not write it (an earlier process with the same identity, such as a restarted container, or another live one); waiting for its claim to run out like anyone else's");
            } else {
                // A change we did not write, under our name: a live twin is renewing it.
                self.duplicate_identity();
            }
        }
        if rules::duration_capped(record, self.config.lease_duration) {
            warn!(lease = %self.config.lease_ref(), lease_duration_seconds = record.lease_duration_seconds,
                honoured = %humantime::format_duration(rules::effective_duration(record, self.config.lease_duration)),
                "the lease's leaseDurationSeconds is longer than k8sensus honours; its holder's claim is judged with the maximum instead");
        }
    }

    /// Our own successful write is an observation too: it restarts the expiry clock.
    fn remember(&self, observation: &mut Option<Observation>, lease: &Lease) {
        self.wrote(lease);
        let record = LeaseRecord::from_lease(lease);
        let now = Instant::now();
        match observation {
            Some(seen) => {
                seen.update(record, now);
            }
            None => *observation = Some(Observation::new(record, now)),
        }
    }

    /// Publishes a newly seen record: its holder and transition count.
    fn saw(&self, record: &LeaseRecord, while_leading: bool) {
        let leader = record.holder().map(str::to_string);
        self.status.send_if_modified(|s| {
            let modified = s.leader != leader || s.transitions != record.transitions;
            s.leader = leader;
            s.transitions = record.transitions;
            if while_leading {
                s.leading = false;
            }
            modified
        });
    }

    fn step_down_status(&self) {
        self.status.send_modify(|s| {
            s.leading = false;
            s.last_renewal = None;
            s.previous_leader = None;
            s.work_starts_at = None;
        });
    }
}

/// Why a standby stopped standing by.
enum Wake {
    /// Something changed that may let us act: judge this Lease now (`None`: it was deleted).
    Act(Option<Box<Lease>>),
    /// The watch ended; read the Lease again and start a new one.
    Resync,
    /// Shutdown was requested.
    Shutdown,
}

enum StepDownOutcome {
    Shutdown,
    Lost,
}

enum RenewError {
    /// The Lease names someone else, or is gone.
    Lost(String),
    Api(ApiError),
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
