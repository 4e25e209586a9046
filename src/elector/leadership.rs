//! The handle a leader's work holds for one term of leadership.

use std::sync::{Arc, Mutex};

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

/// One term of leadership, handed to the leader's work when it starts.
///
/// The work should first await [`Leadership::started`] (a term that began by creating a
/// missing Lease may not work at once), stop as soon as [`Leadership::ended`] resolves, and
/// check [`Leadership::still_leading`] right before anything that must only happen on the
/// leader. It must not detach tasks (`tokio::spawn` without awaiting them): the elector can
/// only wait for, and abort, the future it was given.
/// Work that writes to another system can pass [`Leadership::fencing_token`] along, so that
/// system can refuse writes from an older term.
///
/// # Examples
///
/// The shape of a leader's work: wait for the next tick or the end of the term, check right
/// before acting, and pass the fencing token to what it writes.
///
/// ```no_run
/// use std::time::Duration;
/// use k8sensus::elector::Leadership;
///
/// async fn work(term: Leadership) {
///     let mut tick = tokio::time::interval(Duration::from_secs(10));
///     loop {
///         tokio::select! {
///             _ = term.ended() => return,
///             _ = tick.tick() => {}
///         }
///         // After a long pause this is already false, before anything else has run.
///         if !term.still_leading() {
///             return;
///         }
///         write_to_the_store(term.fencing_token()).await;
///     }
/// }
/// # async fn write_to_the_store(_fencing_token: i32) {}
/// ```
#[derive(Clone, Debug)]
pub struct Leadership {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fencing_token: i32,
    ended: CancellationToken,
    /// Before this instant the work may not start (see [`Leadership::started`]).
    starts_at: Instant,
    /// The start of the last successful renewal plus the renew deadline, on the monotonic clock.
    deadline: Mutex<Instant>,
}

impl Leadership {
    /// A term whose work may start at once (the tests' shorthand).
    #[cfg(test)]
    pub(crate) fn new(fencing_token: i32, deadline: Instant) -> Self {
        Self::starting_at(fencing_token, deadline, Instant::now())
    }

    /// A term whose work may not start before `starts_at`.
    pub(crate) fn starting_at(fencing_token: i32, deadline: Instant, starts_at: Instant) -> Self {
        Self {
            inner: Arc::new(Inner {
                fencing_token,
                ended: CancellationToken::new(),
                starts_at,
                deadline: Mutex::new(deadline),
            }),
        }
    }

    /// The Lease's `leaseTransitions` when this term began. Every term has a larger token than
    /// the one before, so a store that remembers the largest token it has seen can reject a
    /// write from a leader that has been replaced.
    pub fn fencing_token(&self) -> i32 {
        self.inner.fencing_token
    }

    /// Whether we may act as the leader, checked against the clock *now*.
    ///
    /// It is false until [`Leadership::starts_at`] (the Lease is ours, but a leader we could
    /// not see may still be working), false once the term has been ended, and also as soon as the renew deadline has
    /// passed, even if the elector has not run since. That matters after a freeze (a
    /// stop-the-world pause, SIGSTOP, a suspended VM): the first thing the resumed work does is
    /// ask, and it gets the right answer before the elector has noticed anything.
    pub fn still_leading(&self) -> bool {
        let now = Instant::now();
        !self.inner.ended.is_cancelled() && self.inner.starts_at <= now && now < self.deadline()
    }

    /// Whether the term is over: ended, or past its deadline. (Unlike `!still_leading()`, false
    /// while a delayed term waits for its start.)
    pub(crate) fn is_over(&self) -> bool {
        self.inner.ended.is_cancelled() || Instant::now() >= self.deadline()
    }

    /// When the work may start: the instant the Lease was won, or, for a term that began by
    /// creating a missing Lease, one lease duration after this replica first saw it missing.
    pub fn starts_at(&self) -> Instant {
        self.inner.starts_at
    }

    /// Waits until the work may start. Returns `true` then, or `false` if the term ended first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits; a new call after a dropped one gives the same answer.
    pub async fn started(&self) -> bool {
        tokio::select! {
            biased;
            _ = self.ended() => false,
            _ = sleep_until(self.inner.starts_at) => self.still_leading(),
        }
    }

    /// Resolves when the term ends: the elector stepped down, or the deadline passed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits, so it can be a branch of `tokio::select!` in a loop, and
    /// a new call after a dropped one sees the same term. Once the term has ended, every
    /// call resolves at once.
    pub async fn ended(&self) {
        loop {
            let deadline = self.deadline();
            tokio::select! {
                _ = self.inner.ended.cancelled() => return,
                _ = sleep_until(deadline) => {
                    // A renewal may have moved the deadline while we slept.
                    if Instant::now() >= self.deadline() {
                        return;
                    }
                }
            }
        }
    }

    /// The instant this term ends unless renewed again.
    pub fn deadline(&self) -> Instant {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the deadline later after a successful renewal. Never moves it earlier, and never
    /// revives a term whose deadline has already passed: once over, a term stays over.
    pub(crate) fn extend_to(&self, deadline: Instant) {
        let mut current = self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if deadline > *current && Instant::now() < *current {
            *current = deadline;
        }
    }

    /// Ends the term: `still_leading` turns false and `ended` resolves.
    pub(crate) fn end(&self) {
        self.inner.ended.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Leadership lasts until exactly the renew deadline after the last successful renewal
    /// started, and renewals push it later.
    #[tokio::test(start_paused = true)]
    async fn the_renew_deadline_ends_leadership() {
        let rd = Duration::from_secs(10);
        let t0 = Instant::now();
        let term = Leadership::new(4, t0 + rd);
        assert_eq!(term.fencing_token(), 4);

        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(term.still_leading());
        // A renewal that started at t0 + 5 s moves the deadline to t0 + 15 s.
        term.extend_to(t0 + Duration::from_secs(5) + rd);
        // A late-arriving older renewal never moves it back.
        term.extend_to(t0 + rd);
        assert_eq!(term.deadline(), t0 + Duration::from_secs(15));

        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert!(term.still_leading());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!term.still_leading());
    }

    /// `ended` resolves at the deadline on its own, without the elector's help, and follows
    /// the deadline when it moves.
    #[tokio::test(start_paused = true)]
    async fn ended_resolves_at_the_deadline() {
        let t0 = Instant::now();
        let term = Leadership::new(0, t0 + Duration::from_secs(10));
        let watcher = term.clone();
        let ended_at = tokio::spawn(async move {
            watcher.ended().await;
            Instant::now()
        });
        tokio::time::advance(Duration::from_secs(8)).await;
        term.extend_to(t0 + Duration::from_secs(18));
        assert_eq!(ended_at.await.unwrap(), t0 + Duration::from_secs(18));
    }

    /// A frozen process that wakes up after its deadline sees `still_leading() == false`
    /// before any timer has fired.
    #[tokio::test(start_paused = true)]
    async fn a_resumed_process_sees_its_term_is_over() {
        let t0 = Instant::now();
        let term = Leadership::new(0, t0 + Duration::from_secs(10));
        // `advance` moves the clock without running timers in between, like a freeze.
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(!term.still_leading());
    }

    /// A renewal that lands after the deadline (a process frozen past it) does not bring the
    /// term back: the work has already been told it ended.
    #[tokio::test(start_paused = true)]
    async fn an_expired_term_is_never_extended() {
        let t0 = Instant::now();
        let term = Leadership::new(0, t0 + Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(12)).await;
        term.extend_to(t0 + Duration::from_secs(22));
        assert_eq!(term.deadline(), t0 + Duration::from_secs(10));
        assert!(!term.still_leading());
    }

    /// A term that began by creating a missing Lease: `still_leading` is false and `started`
    /// waits until `starts_at`, even while renewals keep the term alive.
    #[tokio::test(start_paused = true)]
    async fn a_delayed_term_does_not_lead_before_it_starts() {
        let t0 = Instant::now();
        let term =
            Leadership::starting_at(0, t0 + Duration::from_secs(3), t0 + Duration::from_secs(4));
        assert!(!term.still_leading());
        assert!(!term.is_over());
        tokio::time::advance(Duration::from_secs(2)).await;
        term.extend_to(t0 + Duration::from_secs(5));
        tokio::time::advance(Duration::from_millis(1_999)).await;
        assert!(!term.still_leading());
        assert!(term.started().await);
        assert_eq!(Instant::now(), t0 + Duration::from_secs(4));
        assert!(term.still_leading());
    }

    /// A delayed term that ends before its start never starts.
    #[tokio::test(start_paused = true)]
    async fn a_delayed_term_that_ends_first_never_starts() {
        let t0 = Instant::now();
        let term =
            Leadership::starting_at(0, t0 + Duration::from_secs(3), t0 + Duration::from_secs(4));
        assert!(!term.started().await);
        assert_eq!(Instant::now(), t0 + Duration::from_secs(3));
    }

    /// Ending the term is seen at once by every clone.
    #[tokio::test(start_paused = true)]
    async fn end_is_seen_by_every_clone() {
        let term = Leadership::new(0, Instant::now() + Duration::from_secs(10));
        let clone = term.clone();
        term.end();
        assert!(!clone.still_leading());
        clone.ended().await;
    }
}
