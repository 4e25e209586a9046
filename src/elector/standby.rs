//! A standby: watch the Lease while someone else holds it, and wake the candidate the moment
//! the rules may let it act (released, deleted, or expired by our clock), or when the watch
//! can no longer be trusted.

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::WatchEvent;
use tokio::time::{Duration, Instant, sleep_until};
use tracing::{debug, info, warn};

use super::api::{ApiError, Verb};
use super::candidate::Campaign;
use super::record::LeaseRecord;
use super::rules::{self, Verdict};

/// What a standby is waiting for.
pub(super) enum Waiting {
    /// Another replica holds `lease` until `until` (our clock). Unless the watch shows a
    /// change first, act on this version then: if the watch missed a renewal, the write
    /// conflicts and nothing is lost.
    ForExpiry { lease: Box<Lease>, until: Instant },
    /// Our write just lost a race. The winner's write should arrive on the watch by `by`;
    /// if it does not, the watch is suspect and the candidate reads the Lease instead.
    ForWinner { by: Instant },
}

impl Waiting {
    fn deadline(&self) -> Instant {
        match self {
            Waiting::ForExpiry { until, .. } => *until,
            Waiting::ForWinner { by } => *by,
        }
    }
}

/// Why a standby stopped standing by.
pub(super) enum Wake {
    /// Something changed that may let us act: judge this version now (`None`: it was
    /// deleted). The watch, still open, comes along for after a lost race.
    Act {
        current: Option<Box<Lease>>,
        watch: Option<LeaseWatch>,
    },
    /// The watch ended or can no longer be trusted: read the Lease again, and watch anew.
    Resync,
    /// Shutdown was requested.
    Shutdown,
}

/// An open watch on the Lease, with the bounds that tell a live one from a dead one.
pub(super) struct LeaseWatch {
    events: BoxStream<'static, kube::Result<WatchEvent<Lease>>>,
    /// The server must end the watch by about now ([`rules::watch_give_up`]).
    give_up: Instant,
    /// No event or bookmark may be longer apart than this ([`rules::watch_silence_bound`]).
    silence_bound: Duration,
    /// When the current silence becomes too long.
    quiet_until: Instant,
}

impl Campaign<'_> {
    /// Stands by until something lets us act, using `watch` if one is open, else opening
    /// one from the version we wait on (or polling, if this identity may not watch).
    pub(super) async fn stand_by(
        &mut self,
        waiting: Waiting,
        watch: Option<LeaseWatch>,
    ) -> Result<Wake, ApiError> {
        let watch = match (watch, &waiting) {
            (Some(watch), _) => watch,
            (None, Waiting::ForExpiry { lease, .. }) => match self.open_watch(lease).await? {
                Some(watch) => watch,
                None => return Ok(self.poll(waiting).await),
            },
            // Only a candidate with a watch waits for the winner; without one, read.
            (None, Waiting::ForWinner { .. }) => return Ok(Wake::Resync),
        };
        Ok(self.follow(watch, waiting).await)
    }

    /// Opens a watch from `lease`'s resourceVersion. `None`: this identity may not watch
    /// (warned about once); poll until a resync period has passed, then try again.
    async fn open_watch(&mut self, lease: &Lease) -> Result<Option<LeaseWatch>, ApiError> {
        let config = &self.elector.config;
        let resync = rules::jittered_resync(config.resync_period, &mut rand::rng());
        if self.watch_refused.is_some_and(|at| at.elapsed() < resync) {
            return Ok(None);
        }
        let version = lease
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default();
        let events = match self.elector.leases.watch(version, resync).await {
            Ok(events) => events,
            Err(ApiError::Forbidden {
                verb: Verb::Watch, ..
            }) => {
                if self.watch_refused.is_none() {
                    let retry_period = config.timings.retry_period;
                    warn!(
                        "this identity may not watch leases: grant watch on leases (see rbac.yaml) for instant takeover; falling back to polling every {:.1}s to {:.1}s",
                        retry_period.as_secs_f64(),
                        rules::jittered_max(retry_period).as_secs_f64()
                    );
                }
                self.watch_refused = Some(Instant::now());
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.watch_refused = None;
        // A live holder renews every retry period, and the API server sends bookmarks besides,
        // so a watch that stays silent for longer than this is most likely a dead connection
        // (or a holder that stopped renewing, which the expiry timer handles anyway).
        let silence_bound =
            rules::watch_silence_bound(config.timings.retry_period, config.timings.lease_duration);
        let now = Instant::now();
        Ok(Some(LeaseWatch {
            events: events.boxed(),
            give_up: now + rules::watch_give_up(resync, config.request_timeout),
            silence_bound,
            quiet_until: now + silence_bound,
        }))
    }

    /// Without a watch: one GET every jittered retry period (the caller reads on `Resync`).
    async fn poll(&self, waiting: Waiting) -> Wake {
        let next = Instant::now()
            + rules::jittered(self.elector.config.timings.retry_period, &mut rand::rng());
        tokio::select! {
            _ = self.shutdown.cancelled() => Wake::Shutdown,
            _ = sleep_until(waiting.deadline()) => match waiting {
                Waiting::ForExpiry { lease, .. } => Wake::Act { current: Some(lease), watch: None },
                Waiting::ForWinner { .. } => Wake::Resync,
            },
            _ = sleep_until(next) => Wake::Resync,
        }
    }

    /// Follows the watch until the Lease may be acted on, or the watch ends or goes quiet.
    async fn follow(&mut self, mut watch: LeaseWatch, mut waiting: Waiting) -> Wake {
        loop {
            let event = tokio::select! {
                _ = self.shutdown.cancelled() => return Wake::Shutdown,
                _ = sleep_until(waiting.deadline()) => return match waiting {
                    // The holder's claim ran out with no change seen: act on the version we
                    // last saw.
                    Waiting::ForExpiry { lease, .. } => Wake::Act { current: Some(lease), watch: Some(watch) },
                    Waiting::ForWinner { .. } => {
                        debug!("the write that beat ours did not arrive on the watch; reading the lease again");
                        Wake::Resync
                    }
                },
                _ = sleep_until(watch.give_up) => {
                    debug!("the watch went quiet past its timeout; reading the lease again");
                    return Wake::Resync;
                }
                _ = sleep_until(watch.quiet_until) => {
                    debug!(silence = %humantime::format_duration(watch.silence_bound),
                        "no watch event or bookmark for too long; reading the lease again");
                    return Wake::Resync;
                }
                event = watch.events.next() => event,
            };
            watch.quiet_until = Instant::now() + watch.silence_bound;
            waiting = match self.on_event(event, waiting) {
                Next::KeepWaiting(waiting) => waiting,
                Next::Act(current) => {
                    return Wake::Act {
                        current,
                        watch: Some(watch),
                    };
                }
                Next::Resync => return Wake::Resync,
            };
        }
    }

    /// What one watch event means for a standby waiting on `waiting`.
    fn on_event(
        &mut self,
        event: Option<kube::Result<WatchEvent<Lease>>>,
        waiting: Waiting,
    ) -> Next {
        match event {
            Some(Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease))) => {
                let now = Instant::now();
                self.elector.observe(&LeaseRecord::from_lease(&lease), now);
                match self.elector.judge(now).expect("observed just now") {
                    // Someone holds it (the winner of a race we lost, or the holder
                    // renewing): races are over for now.
                    Verdict::HeldBy { until, .. } => {
                        self.races_lost = 0;
                        Next::KeepWaiting(Waiting::ForExpiry {
                            lease: Box::new(lease),
                            until,
                        })
                    }
                    // Released (or, oddly, naming us): act on it now.
                    _ => Next::Act(Some(Box::new(lease))),
                }
            }
            Some(Ok(WatchEvent::Deleted(_))) => {
                info!("the lease was deleted");
                Next::Act(None)
            }
            Some(Ok(WatchEvent::Bookmark(_))) => Next::KeepWaiting(waiting),
            Some(Ok(WatchEvent::Error(status))) => {
                // 410 Gone: our resourceVersion is too old to resume from. Either way,
                // reading again is the cure.
                debug!(code = status.code, reason = %status.reason, "watch ended with an error; reading the lease again");
                Next::Resync
            }
            Some(Err(e)) => {
                debug!(error = %e, "watch broke; reading the lease again");
                Next::Resync
            }
            None => Next::Resync,
        }
    }
}

/// What a standby does after one watch event.
enum Next {
    KeepWaiting(Waiting),
    /// Judge this version (`None`: deleted).
    Act(Option<Box<Lease>>),
    Resync,
}
