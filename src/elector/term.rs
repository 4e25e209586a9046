//! The leader's term: start the work, renew the Lease every retry period on the fast path,
//! and when the term ends (deadline, loss, shutdown, or the work ending on its own) stop the
//! work first, and only then release the Lease.

use std::future::Future;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, warn};

use super::api::ApiError;
use super::candidate::Won;
use super::election::{ElectionError, LeaderElector};
use super::leadership::Leadership;
use super::log_event;
use super::record::LeaseRecord;
use super::rules;
use super::status::TermBegun;

/// How long an aborted work gets to finish unwinding before it is declared unstoppable.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// Why a term ended.
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

/// What `run` does once a term is over.
pub(super) enum AfterTerm {
    /// Return: shutdown was requested.
    Shutdown,
    /// The term was lost: campaign again, or return, as the settings say.
    Lost,
}

/// Why a renewal failed.
enum RenewError {
    /// The Lease names someone else, or is gone.
    Lost(String),
    Api(ApiError),
}

impl LeaderElector {
    /// One term of leadership, from the won Lease to the work stopped (and, on shutdown, the
    /// Lease released).
    pub(super) async fn lead<W, F>(
        &self,
        won: Won,
        shutdown: &CancellationToken,
        work: &mut W,
    ) -> Result<AfterTerm, ElectionError>
    where
        W: FnMut(Leadership) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let term = self.begin_term(&won);
        let mut lease = won.lease;
        if shutdown.is_cancelled() {
            // Shutdown arrived while we were winning: give the Lease straight back.
            self.status.stepped_down();
            self.release(lease).await;
            return Ok(AfterTerm::Shutdown);
        }
        // The work logs inside the election's span, so its lines carry the lease too.
        let mut work_task = tokio::spawn(work(term.clone()).instrument(tracing::Span::current()));
        let reason = self
            .hold(&term, &mut lease, &mut work_task, won.started, shutdown)
            .await;

        // Whatever the reason, the work stops first, and is awaited, before anything else.
        term.end();
        self.status.stepped_down();
        self.log_step_down(&reason);
        let work_stopped = match reason {
            StepDown::WorkEnded(_) => true,
            _ => self.stop_work(work_task).await,
        };
        info!(event = log_event::STOPPED_LEADING, "stopped leading");
        if !work_stopped {
            // The work may still be running. Campaigning again could start a second copy of it
            // here, or let another replica start one while this one runs: neither is allowed.
            // The Lease is not released; it expires.
            return Err(ElectionError::WorkWouldNotStop {
                lease: self.config.lease_ref(),
                grace: self.config.timings.renew_deadline,
            });
        }
        self.after_step_down(reason, &term, lease).await
    }

    /// The term's handle, logged and published. Its deadline counts from when the winning
    /// write was sent; its work may start later (after creating a missing Lease).
    fn begin_term(&self, won: &Won) -> Leadership {
        let record = LeaseRecord::from_lease(&won.lease);
        // A delayed start carries over to later terms of this process until it has passed.
        let work_from = {
            let mut memory = self.memory();
            let work_from = won
                .work_from
                .max(memory.work_not_before.unwrap_or(won.work_from));
            memory.work_not_before = Some(work_from);
            work_from
        };
        let term = Leadership::starting_at(
            record.transitions,
            won.started + self.config.timings.renew_deadline,
            work_from,
        );
        info!(
            transitions = record.transitions,
            event = log_event::ACQUIRED,
            "successfully acquired lease {}",
            self.config.lease_ref()
        );
        let delayed = work_from.saturating_duration_since(Instant::now());
        if !delayed.is_zero() {
            // Why the work waits (see rules::work_starts_at), in words for the log reader.
            info!(fencing_token = record.transitions, event = log_event::WORK_DELAYED, work_starts_in = %humantime::format_duration(round(delayed)),
                "this replica created the lease because it was missing, so it leads now, but its work waits {}: a missing lease can hide a leader that is still working (the lease was deleted, and its holder only finds out at its next renewal), and one lease duration after the lease was first seen missing any such leader has surely stopped; a brand-new deployment looks exactly the same, so its first leader waits too",
                humantime::format_duration(round(delayed)));
        }
        self.status.term_begun(TermBegun {
            identity: &self.config.identity,
            fencing_token: record.transitions,
            started: won.started,
            lease_uid: won.lease.metadata.uid.clone(),
            previous_leader: won.previous.clone(),
            work_starts_at: (!delayed.is_zero()).then_some(work_from),
        });
        term
    }

    /// Renews every retry period until the term ends, and says why it ended.
    async fn hold(
        &self,
        term: &Leadership,
        lease: &mut Lease,
        work_task: &mut JoinHandle<()>,
        started: Instant,
        shutdown: &CancellationToken,
    ) -> StepDown {
        let timings = self.config.timings;
        let mut next_renewal = started + timings.retry_period;
        loop {
            let renewal = async {
                sleep_until(next_renewal).await;
                let attempt_started = Instant::now();
                let budget = term.deadline().saturating_duration_since(attempt_started);
                let in_term = attempt_started < term.deadline();
                (attempt_started, self.renew(lease, budget, in_term).await)
            };
            tokio::select! {
                // In this order: after a freeze several branches are ready at once, and the
                // deadline must be seen before a renewal could pretend the term never lapsed.
                biased;
                _ = shutdown.cancelled() => return StepDown::Shutdown,
                // Fires at the monotonic deadline even if a renewal is hanging.
                _ = term.ended() => return StepDown::DeadlinePassed,
                result = &mut *work_task => return StepDown::WorkEnded(match result {
                    Ok(()) => "it returned".to_string(),
                    Err(e) if e.is_panic() => "it panicked".to_string(),
                    Err(e) => e.to_string(),
                }),
                (attempt_started, result) = renewal => match result {
                    // A term that reached its deadline is over, even if a renewal then lands
                    // (only possible after a freeze: a renewal's timeout ends at the
                    // deadline). Its work has been told it ended; a new term starts clean.
                    Ok(()) if term.is_over() => return StepDown::DeadlinePassed,
                    Ok(()) => {
                        self.hooks.renewed(attempt_started.elapsed());
                        term.extend_to(attempt_started + timings.renew_deadline);
                        self.status.renewed(attempt_started);
                        next_renewal = attempt_started + timings.retry_period;
                    }
                    Err(RenewError::Lost(why)) => return StepDown::Lost(why),
                    Err(RenewError::Api(e)) if e.is_fatal() => return StepDown::Fatal(e),
                    Err(RenewError::Api(e)) => {
                        let left = term.deadline().saturating_duration_since(Instant::now());
                        warn!(error = %e, deadline_in = %humantime::format_duration(round(left)),
                            "failed to renew lease; retrying until the renew deadline");
                        next_renewal = Instant::now() + timings.retry_period;
                    }
                },
            }
        }
    }

    fn log_step_down(&self, reason: &StepDown) {
        match reason {
            StepDown::Shutdown => {
                info!("shutting down: stopping the leader's work before releasing the lease")
            }
            StepDown::DeadlinePassed => {
                warn!(renew_deadline = %humantime::format_duration(self.config.timings.renew_deadline),
                "no successful renewal within the renew deadline: stopped leading")
            }
            StepDown::Lost(why) => warn!("lost the lease: {why}"),
            StepDown::WorkEnded(why) => {
                error!("the leader's work ended on its own ({why}); giving up the lease")
            }
            StepDown::Fatal(e) => error!(error = %e, "cannot renew the lease"),
        }
    }

    /// After the work has stopped: release the Lease if the term ended by our choice, and
    /// say what `run` does next.
    async fn after_step_down(
        &self,
        reason: StepDown,
        term: &Leadership,
        lease: Lease,
    ) -> Result<AfterTerm, ElectionError> {
        match reason {
            // A term whose work has not started yet does not release: a released Lease is
            // taken and worked at once, before the wait this term was serving is over. It
            // expires instead, a lease duration after its last renewal.
            StepDown::Shutdown if Instant::now() < term.starts_at() => {
                info!(
                    "not releasing the lease: this term's work had not started yet, so a leader we cannot see may still be working; it will expire after its lease duration"
                );
                Ok(AfterTerm::Shutdown)
            }
            StepDown::Shutdown => {
                self.release(lease).await;
                Ok(AfterTerm::Shutdown)
            }
            StepDown::WorkEnded(detail) => {
                self.release(lease).await;
                Err(ElectionError::WorkEnded { detail })
            }
            StepDown::DeadlinePassed | StepDown::Lost(_) => Ok(AfterTerm::Lost),
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
        debug!("fast-path renewal conflicted; reading the lease");
        self.hooks.slow_path();
        let Some(current) = self.leases.get().await.map_err(RenewError::Api)? else {
            return self.recreate(cached, budget, in_term).await;
        };
        let record = LeaseRecord::from_lease(&current);
        if !self.observe_while_leading(&record) {
            self.status.lost_to(&record);
            return Err(RenewError::Lost(self.lost_reason(&record)));
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

    /// Why a record we did not write ends our term.
    fn lost_reason(&self, record: &LeaseRecord) -> String {
        if record.holder == self.config.identity {
            // Someone else wrote a record with our name: two live processes share this
            // identity. We cannot tell which one the others believe leads: stop at once.
            self.duplicate_identity();
            return format!(
                "another process with the same identity, {}, wrote the lease; every replica needs a unique identity",
                self.config.identity
            );
        }
        match record.holder() {
            Some(holder) => format!("it is now held by {holder}"),
            None => "it was released by someone else".to_string(),
        }
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
            self.config.timings.lease_duration,
            highest_seen,
        );
        let lease = self.new_lease(&record);
        match self.leases.create_within(&lease, budget).await {
            Ok(lease) => {
                info!(
                    transitions = record.transitions,
                    "the lease was deleted while this replica led; recreated it within the term, which goes on"
                );
                self.wrote(&lease);
                self.status.lease_recreated(lease.metadata.uid.clone());
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
        let grace = self.config.timings.renew_deadline;
        if tokio::time::timeout(grace, &mut work_task).await.is_ok() {
            return true;
        }
        error!(grace = %humantime::format_duration(grace),
            "the leader's work did not stop after its term ended; aborting it");
        work_task.abort();
        tokio::time::timeout(ABORT_GRACE, work_task).await.is_ok()
    }

    /// Gives the Lease up after the work has stopped: holder `""` and a 1 s duration, written
    /// with the resourceVersion we hold, so that a standby may take it at once. On 409 it
    /// reads the Lease again and retries while the Lease still names us. Bounded by the renew
    /// deadline: if the API server cannot be reached, the Lease simply expires.
    async fn release(&self, mut lease: Lease) {
        let lease_ref = self.config.lease_ref();
        let give_up_at = Instant::now() + self.config.timings.renew_deadline;
        info!("releasing lease {lease_ref}");
        loop {
            let record = LeaseRecord::from_lease(&lease);
            // Only a record this process wrote is ours to give up. One that names us but that
            // we did not write belongs to another process with our identity: releasing it
            // would hand its live term to a standby.
            if record.holder != self.config.identity || !self.memory().written.ours(&record) {
                info!("the lease no longer holds our record; nothing to release");
                return;
            }
            let mut next = lease.clone();
            rules::release(&record, Timestamp::now()).write_to(&mut next);
            let budget = give_up_at.saturating_duration_since(Instant::now());
            let error = match self.leases.replace(&next, budget).await {
                Ok(_) => {
                    info!(
                        transitions = record.transitions,
                        event = log_event::RELEASED,
                        "released lease {lease_ref}"
                    );
                    self.status.released();
                    return;
                }
                Err(ApiError::NotFound { .. }) => {
                    info!("the lease was deleted; nothing to release");
                    return;
                }
                Err(e) => e,
            };
            if !matches!(error, ApiError::Conflict { .. }) {
                warn!(error = %error, "failed to release lease");
                let retry_at = (Instant::now() + self.config.timings.retry_period).min(give_up_at);
                sleep_until(retry_at).await;
            }
            if Instant::now() >= give_up_at {
                warn!("gave up releasing the lease; it will expire after its lease duration");
                return;
            }
            match self.leases.get().await {
                Ok(Some(fresh)) => lease = fresh,
                Ok(None) => return,
                Err(e) => warn!(error = %e, "failed to read the lease while releasing it"),
            }
        }
    }
}

/// Durations in logs, to the millisecond.
fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
