//! The candidate: read the Lease, judge it, claim it when the rules allow, and stand by
//! (watching it, see `standby`) while someone else holds it.
//!
//! A campaign is a loop over [`Step`]s:
//!
//! ```text
//!  step      what it does                        next step
//!  ────────  ──────────────────────────────────  ───────────────────────────────────────────
//!  Read      GET the Lease                       Judge (Pause after an error)
//!  Judge     judge it, claim it if the rules     Lead      we won
//!            allow (a conditional PUT or a       StandBy   held by another: wait for expiry
//!            create)                             StandBy   lost the race: wait for the
//!                                                          winner's write on the watch
//!                                                Read      lost the race, and no watch
//!                                                Pause     deleted while held; races keep
//!                                                          being lost; an error
//!  StandBy   follow the watch (or poll)          Judge     released, deleted, or expired
//!                                                Read      the watch ended or went silent,
//!                                                          or the winner's write never came
//!  Pause     sleep                               Read
//!  Lead      the term begins (see `term`)
//! ```

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use tokio::time::{Duration, Instant, sleep};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::api::ApiError;
use super::election::{ElectionError, LeaderElector, WORK_STARTS_AT_ANNOTATION};
use super::log_event;
use super::record::LeaseRecord;
use super::rules::{self, AfterLostRace, Missing, Verdict};
use super::standby::{LeaseWatch, Waiting, Wake};

/// A won Lease, handed from the campaign to the term.
pub(super) struct Won {
    /// The Lease as our winning write left it.
    pub lease: Lease,
    /// When the winning write was sent: the term's deadline counts from there, because a
    /// standby may have started counting from that instant.
    pub started: Instant,
    /// Who held the Lease before us, if anyone else.
    pub previous: Option<String>,
    /// When the work may start: later than `started` after creating a missing Lease.
    pub work_from: Instant,
}

/// A candidate's next step.
enum Step {
    /// GET the Lease, then judge it: the first step, and whenever the candidate is no longer
    /// sure which version is current (after an error, or a watch that ended).
    Read,
    /// Judge this version and claim the Lease if the rules allow, without reading it again:
    /// it was just seen on the watch (`None`: the watch saw it deleted). The watch is kept:
    /// if the claim loses a race, the winner's write arrives on it.
    Judge {
        current: Option<Box<Lease>>,
        watch: Option<LeaseWatch>,
    },
    /// Another replica holds the Lease, or just won it: watch until something lets us act.
    StandBy {
        waiting: Waiting,
        watch: Option<LeaseWatch>,
    },
    /// Wait this long, then read.
    Pause(Duration),
    /// We won: the term begins.
    Lead(Box<Won>),
}

/// What one judgement of the Lease led to.
enum Attempt {
    /// We hold the Lease.
    Acquired(Box<Won>),
    /// Someone else holds a live claim on this Lease until `until` (our clock).
    HeldBy { lease: Box<Lease>, until: Instant },
    /// Our write lost to another replica's (409), or the Lease went (404).
    LostRace,
    /// The Lease was deleted while another replica held it: its claim still runs until
    /// `until` (our clock), so we must not create the Lease before then.
    DeletedWhileHeld { until: Instant },
    /// The Lease uses coordinated leader election (`spec.strategy`): refuse to campaign.
    Strategy(String),
}

/// A campaign in progress: the loose counters of the loop, in one place.
pub(super) struct Campaign<'a> {
    pub elector: &'a LeaderElector,
    pub shutdown: &'a CancellationToken,
    /// API failures in a row, for the backoff.
    failures: u32,
    /// Races lost in a row ([`rules::after_lost_race`]); reset when a holder is seen.
    pub races_lost: u32,
    /// Since when every call has been refused (401/403).
    refused_since: Option<Instant>,
    /// Since when this identity may not watch (RBAC without `watch`): it polls meanwhile.
    pub watch_refused: Option<Instant>,
}

impl LeaderElector {
    /// Tries to acquire the Lease until it wins (`Some`) or shutdown is requested (`None`).
    ///
    /// A candidate reads the Lease once, then *watches* it instead of polling: a release or a
    /// deletion is seen as it happens, and an expiry is acted on at the exact instant the
    /// rules allow. Every write still carries the resourceVersion of the object it was judged
    /// on, so correctness never depends on the watch; the watch only makes the candidate
    /// quick and cheap (one GET and one watch per resync period while nothing happens, and
    /// one PUT per takeover it takes part in).
    pub(super) async fn campaign(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Won>, ElectionError> {
        let lease_ref = self.config.lease_ref();
        info!(
            event = log_event::CAMPAIGNING,
            "attempting to acquire leader lease {lease_ref}..."
        );
        let mut campaign = Campaign {
            elector: self,
            shutdown,
            failures: 0,
            races_lost: 0,
            refused_since: None,
            watch_refused: None,
        };
        let mut step = Step::Read;
        loop {
            if shutdown.is_cancelled() {
                return Ok(None);
            }
            step = match step {
                // The attempts are not raced against shutdown: cancelling a write half-way
                // could leave us holding the Lease without knowing it. They are bounded by
                // timeouts.
                Step::Read => match self.leases.get().await {
                    Ok(current) => campaign.judge(current.map(Box::new), None).await?,
                    Err(e) => campaign.failed(e)?,
                },
                Step::Judge { current, watch } => campaign.judge(current, watch).await?,
                Step::StandBy { waiting, watch } => match campaign.stand_by(waiting, watch).await {
                    Ok(Wake::Act { current, watch }) => Step::Judge { current, watch },
                    Ok(Wake::Resync) => Step::Read,
                    Ok(Wake::Shutdown) => return Ok(None),
                    Err(e) => campaign.failed(e)?,
                },
                Step::Pause(wait) => tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = sleep(wait) => Step::Read,
                },
                Step::Lead(won) => return Ok(Some(*won)),
            };
        }
    }

    /// One attempt, client-go's `tryAcquireOrRenew` without its read: judge the Lease as
    /// last seen (`None`: it does not exist) and, if the rules allow, write our claim with
    /// the resourceVersion of that very object.
    async fn attempt(&self, current: Option<Lease>) -> Result<Attempt, ApiError> {
        let Some(current) = current else {
            return self.attempt_missing().await;
        };
        if let Some(strategy) = rules::coordinated_strategy(&current) {
            return Ok(Attempt::Strategy(strategy.to_string()));
        }
        // A Lease seen again after it was missing. If it is free (someone recreated it empty),
        // taking it is like creating it: a leader we cannot see may still be working.
        let missing_since = self.memory().missing_since.take();
        let record = LeaseRecord::from_lease(&current);
        let now = Instant::now();
        self.observe(&record, now);
        match self.judge(now).expect("observed just now") {
            Verdict::HeldBy { until, .. } => {
                return Ok(Attempt::HeldBy {
                    lease: Box::new(current),
                    until,
                });
            }
            Verdict::Expired {
                holder,
                same_identity,
            } => log_takeover(&holder, same_identity, record.transitions),
            Verdict::Free | Verdict::Ours => {}
        }
        self.write_claim(current, &record, missing_since).await
    }

    /// Writes our claim on `current` (whose record is `record`) as a new term.
    async fn write_claim(
        &self,
        current: Lease,
        record: &LeaseRecord,
        missing_since: Option<Instant>,
    ) -> Result<Attempt, ApiError> {
        let previous = record
            .holder()
            .filter(|holder| *holder != self.config.identity)
            .map(str::to_string);
        // Every term a candidate starts is a new term, with a new fencing token, even when the
        // record is our own (found again after our term ended).
        let next = self.claimed(current, true);
        let started = Instant::now();
        let work_from = match record.holder() {
            None => {
                rules::work_starts_at(started, missing_since, self.config.timings.lease_duration)
            }
            Some(_) => started,
        };
        match self
            .leases
            .replace(&next, self.config.request_timeout)
            .await
        {
            Ok(lease) => {
                self.observe_own_write(&lease);
                Ok(Attempt::Acquired(Box::new(Won {
                    lease,
                    started,
                    previous,
                    work_from,
                })))
            }
            // Someone wrote between the version we judged and our write, or deleted the Lease.
            Err(ApiError::Conflict { .. } | ApiError::NotFound { .. }) => Ok(Attempt::LostRace),
            Err(e) => Err(e),
        }
    }

    /// The Lease does not exist. A deleted Lease is not a released one: its last holder may
    /// still be working, and will only find out at its next renewal. Honour the claim we last
    /// saw for its full duration ([`rules::on_missing`]), then create it.
    async fn attempt_missing(&self) -> Result<Attempt, ApiError> {
        let now = Instant::now();
        let decision = {
            let mut memory = self.memory();
            memory.missing_since.get_or_insert(now);
            rules::on_missing(
                memory.observation.as_ref(),
                &memory.written,
                now,
                self.config.timings.lease_duration,
            )
        };
        if let Missing::Wait { holder, until } = decision {
            info!(holder = %holder,
                "the lease was deleted while {holder} held it; waiting until its claim would have run out before creating it");
            return Ok(Attempt::DeletedWhileHeld { until });
        }
        self.create().await
    }

    /// Creates the missing Lease with us as the holder. We may claim it at once, but the work
    /// waits until one lease duration after we first saw it missing
    /// ([`rules::work_starts_at`]): a leader we cannot see may still be working until then.
    async fn create(&self) -> Result<Attempt, ApiError> {
        let (highest_seen, missing_since) = {
            let memory = self.memory();
            (memory.highest_seen, memory.missing_since)
        };
        let lease_duration = self.config.timings.lease_duration;
        let record = rules::create(
            &self.config.identity,
            Timestamp::now(),
            lease_duration,
            highest_seen,
        );
        let started = Instant::now();
        let work_from = rules::work_starts_at(started, missing_since, lease_duration);
        let work_wall = Timestamp::now()
            .checked_add(work_from.saturating_duration_since(started))
            .unwrap_or_else(|_| Timestamp::now());
        let mut lease = self.new_lease(&record);
        if work_from > started {
            lease.metadata.annotations = Some(
                [(
                    WORK_STARTS_AT_ANNOTATION.to_string(),
                    rules::micros(work_wall).to_string(),
                )]
                .into(),
            );
        }
        match self.leases.create(&lease).await {
            Ok(lease) => {
                info!(
                    transitions = record.transitions,
                    event = log_event::ACQUIRED,
                    "created lease {}",
                    self.config.lease_ref()
                );
                self.observe_own_write(&lease);
                Ok(Attempt::Acquired(Box::new(Won {
                    lease,
                    started,
                    previous: None,
                    work_from,
                })))
            }
            // Someone else created it first.
            Err(ApiError::Conflict { .. }) => Ok(Attempt::LostRace),
            Err(e) => Err(e),
        }
    }
}

impl Campaign<'_> {
    /// Judges `current` (claiming the Lease if allowed) and picks the next step. `watch` is
    /// the standby's open watch, if `current` came from it.
    async fn judge(
        &mut self,
        current: Option<Box<Lease>>,
        watch: Option<LeaseWatch>,
    ) -> Result<Step, ElectionError> {
        let attempt = match self.elector.attempt(current.map(|lease| *lease)).await {
            Ok(attempt) => attempt,
            Err(e) => return self.failed(e),
        };
        self.refused_since = None;
        Ok(match attempt {
            Attempt::Acquired(won) => Step::Lead(won),
            Attempt::Strategy(strategy) => {
                return Err(ElectionError::CoordinatedElection {
                    lease: self.elector.config.lease_ref(),
                    strategy,
                });
            }
            Attempt::HeldBy { lease, until } => {
                self.failures = 0;
                self.races_lost = 0;
                Step::StandBy {
                    waiting: Waiting::ForExpiry { lease, until },
                    watch,
                }
            }
            Attempt::DeletedWhileHeld { until } => {
                self.failures = 0;
                Step::Pause(until.saturating_duration_since(Instant::now()))
            }
            Attempt::LostRace => self.lost_race(watch),
        })
    }

    /// Someone else's write landed first. Learn who won, from the watch if we have one.
    fn lost_race(&mut self, watch: Option<LeaseWatch>) -> Step {
        self.races_lost += 1;
        let retry_period = self.elector.config.timings.retry_period;
        debug!(
            races_lost = self.races_lost,
            "another replica won the race for the lease"
        );
        match (
            rules::after_lost_race(self.races_lost, watch.is_some()),
            watch,
        ) {
            (AfterLostRace::AwaitWinner, Some(watch)) => Step::StandBy {
                waiting: Waiting::ForWinner {
                    by: Instant::now() + rules::winner_wait(retry_period),
                },
                watch: Some(watch),
            },
            (AfterLostRace::SlowDown, _) => {
                Step::Pause(rules::jittered(retry_period, &mut rand::rng()))
            }
            _ => Step::Read,
        }
    }

    /// An API call failed: give up if retrying cannot help ([`ApiError::is_fatal`], or
    /// refusals for too long), else back off.
    fn failed(&mut self, e: ApiError) -> Result<Step, ElectionError> {
        if e.is_fatal() {
            return Err(e.into());
        }
        let timings = self.elector.config.timings;
        self.failures += 1;
        let refusal = matches!(
            e,
            ApiError::Forbidden { .. } | ApiError::Unauthorized { .. }
        );
        if !refusal {
            self.refused_since = None;
        } else if let Some(after) = rules::refused_too_long(
            *self.refused_since.get_or_insert_with(Instant::now),
            Instant::now(),
            timings.lease_duration,
        ) {
            return Err(ElectionError::StillRefused { after, error: e });
        }
        let wait = rules::backoff(self.failures, timings.retry_period, timings.lease_duration);
        let what = if refusal {
            "the API server refused a request it accepted before (it may be restarting); retrying"
        } else {
            "could not reach the API server; retrying"
        };
        warn!(error = %e, failures = self.failures, retry_in = %humantime::format_duration(wait), "{what}");
        Ok(Step::Pause(wait))
    }
}

/// Says why a standby takes over a Lease whose holder stopped renewing it.
fn log_takeover(holder: &str, same_identity: bool, transitions: i32) {
    if same_identity {
        info!(holder = %holder, transitions, event = log_event::TAKING_OVER,
            "the lease names this replica's identity, {holder}, but this process did not write it (an earlier process with the same identity, such as a restarted container); it has not been renewed for its whole duration, so taking it over as a new term");
    } else {
        info!(holder = %holder, transitions, event = log_event::TAKING_OVER,
            "lease held by {holder} has not been renewed for its whole duration; taking it over");
    }
}
