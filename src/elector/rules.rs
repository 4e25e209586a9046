//! The decision rules of Lease election, as pure functions of what was read and what time it is.
//!
//! Nothing here talks to the API server or reads a clock: the election loop
//! ([`LeaderElector`](super::LeaderElector)) passes the current monotonic time (`now`) and
//! wall time (`wall_now`) in. That is what lets the unit tests below check every rule
//! exactly, without sleeping.

use std::collections::VecDeque;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use rand::Rng;
use tokio::time::Instant;

use super::config::JITTER_FACTOR;
use super::record::LeaseRecord;

/// What we last read of the Lease, and when, on our own monotonic clock, we saw it change.
///
/// This is the heart of safe expiry. A standby never asks "is `renewTime` older than the lease
/// duration?", because `renewTime` was written with another machine's clock and clocks
/// disagree. It asks instead "has the record stayed the same for a whole lease duration, by
/// *my* clock?". Only the *rate* of the two clocks has to agree, never their offset.
#[derive(Clone, Debug)]
pub struct Observation {
    pub record: LeaseRecord,
    pub changed_at: Instant,
}

impl Observation {
    /// The first read of a Lease. Its clock starts now: a replica that has just started waits a
    /// full lease duration before it treats another holder as gone, however old `renewTime` is.
    pub fn new(record: LeaseRecord, now: Instant) -> Self {
        Self {
            record,
            changed_at: now,
        }
    }

    /// Folds in a fresh read. The clock restarts only if the record changed (a renewal changes
    /// `renewTime`, so every renewal counts); re-reading an unchanged record keeps counting
    /// from the first time it was seen. Returns whether it changed.
    pub fn update(&mut self, record: LeaseRecord, now: Instant) -> bool {
        if record == self.record {
            return false;
        }
        self.record = record;
        self.changed_at = now;
        true
    }

    /// When the current holder's claim runs out, by our clock.
    pub fn expires_at(&self, own_lease_duration: Duration) -> Instant {
        self.changed_at + effective_duration(&self.record, own_lease_duration)
    }
}

/// The longest lease duration we honour for another holder's record. A record can carry any
/// `leaseDurationSeconds` (a hand edit, a typo, 2147483647 s = 68 years); honouring it as
/// written would let one bad edit block every takeover for as long as it says. Five minutes is
/// twenty times client-go's default and far above any duration seen in practice.
pub const MAX_HONOURED_LEASE_DURATION: Duration = Duration::from_secs(300);

/// The lease duration to honour for a record: `max(record's leaseDurationSeconds, ours)`,
/// capped at [`MAX_HONOURED_LEASE_DURATION`] (or at our own, if that is longer).
///
/// - A holder with a longer lease than ours is given its full time, as client-go does.
/// - A holder whose record says *less* than ours (1 s, hand-edited; or missing, zero or
///   negative) is still given our own duration: our margin `LD - RD - RP` is what makes a
///   takeover safe, and a shorter number written into the record does not make a live leader
///   stop any sooner.
/// - A duration above the cap is read as the cap ([`duration_capped`] tells the caller, which
///   warns), so that no record can hold the Lease forever.
pub fn effective_duration(record: &LeaseRecord, own_lease_duration: Duration) -> Duration {
    let written = match record.lease_duration_seconds {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds as u64),
        _ => own_lease_duration,
    };
    written
        .max(own_lease_duration)
        .min(MAX_HONOURED_LEASE_DURATION.max(own_lease_duration))
}

/// Whether the record's `leaseDurationSeconds` is above what we honour (see
/// [`effective_duration`]).
pub fn duration_capped(record: &LeaseRecord, own_lease_duration: Duration) -> bool {
    record.lease_duration_seconds.is_some_and(|seconds| {
        Duration::from_secs(seconds.max(0) as u64)
            > MAX_HONOURED_LEASE_DURATION.max(own_lease_duration)
    })
}

/// The records this process wrote (or sent: a write whose answer was lost may still have
/// landed), newest last. A record is *ours* only if it is one of these.
///
/// The holder's name is not enough: two processes can carry one identity (a hand-copied
/// `--identity`, two runs on one laptop, a container restarted by the kubelet with its pod
/// name). A record naming us that this process did not write is another process's claim.
///
/// A record is recognised by its holder, `acquireTime` and `renewTime`: the fields every
/// write of ours sets. Other fields may be hand-edited (`leaseDurationSeconds` to 1, say)
/// without making the record someone else's. Timestamps are written with microsecond
/// precision (as the API server stores them), so a record read back compares equal to the
/// one we sent.
#[derive(Clone, Debug, Default)]
pub struct Written {
    records: VecDeque<WrittenKey>,
}

type WrittenKey = (String, Option<Timestamp>, Option<Timestamp>);

fn key(record: &LeaseRecord) -> WrittenKey {
    (
        record.holder.clone(),
        record.acquire_time,
        record.renew_time,
    )
}

impl Written {
    /// Enough for the writes of one renewal attempt and the one before.
    const KEEP: usize = 8;

    pub fn wrote(&mut self, record: LeaseRecord) {
        let key = key(&record);
        if self.records.back() == Some(&key) {
            return;
        }
        if self.records.len() == Self::KEEP {
            self.records.pop_front();
        }
        self.records.push_back(key);
    }

    /// Whether `record` is one this process wrote (holder, `acquireTime` and `renewTime`).
    pub fn ours(&self, record: &LeaseRecord) -> bool {
        self.records.contains(&key(record))
    }
}

/// `t` with its nanoseconds cut to microseconds: the precision of `MicroTime`, so that what we
/// send is exactly what the API server stores and sends back.
pub fn micros(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// What a replica may do with the Lease it just read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The record is one this process wrote (see [`Written`]): nobody has written since.
    Ours,
    /// Nobody holds it (a released or brand-new Lease): take it at once.
    Free,
    /// The holder has not renewed for its whole lease duration, by our clock: take it over.
    /// `same_identity`: the holder carries our identity but is not this process.
    Expired { holder: String, same_identity: bool },
    /// Another process holds a live lease: stand by until `until`, unless it changes first.
    HeldBy {
        holder: String,
        until: Instant,
        same_identity: bool,
    },
}

/// The expiry rule. `now` and `observation.changed_at` are both our monotonic clock.
///
/// A record naming our identity that this process did not write is judged exactly like any
/// other holder's: it may be a live process with the same identity.
pub fn judge(
    observation: &Observation,
    identity: &str,
    written: &Written,
    now: Instant,
    own_lease_duration: Duration,
) -> Verdict {
    match observation.record.holder() {
        None => Verdict::Free,
        Some(holder) if holder == identity && written.ours(&observation.record) => Verdict::Ours,
        Some(holder) => {
            let same_identity = holder == identity;
            let until = observation.expires_at(own_lease_duration);
            if now < until {
                Verdict::HeldBy {
                    holder: holder.to_string(),
                    until,
                    same_identity,
                }
            } else {
                Verdict::Expired {
                    holder: holder.to_string(),
                    same_identity,
                }
            }
        }
    }
}

/// What a replica does when it finds the Lease missing (never created, or deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The last holder we saw may still be working: it only learns of the deletion at its next
    /// renewal. Do not create the Lease before its claim would have run out (our clock).
    Wait { holder: String, until: Instant },
    /// Create it. The new term's work must still wait (see [`work_starts_at`]).
    Create,
}

/// The rule for a missing Lease, for a replica that is *not* inside a live term of its own
/// (a leader inside its term recreates the Lease from the renewal loop instead).
///
/// The last holder we saw is honoured exactly as if the Lease were still there unrenewed,
/// unless it is this process (whose term has ended, so its work has stopped).
pub fn on_missing(
    observation: Option<&Observation>,
    written: &Written,
    now: Instant,
    own_lease_duration: Duration,
) -> Missing {
    if let Some(seen) = observation
        && let Some(holder) = seen.record.holder()
        && !written.ours(&seen.record)
    {
        let until = seen.expires_at(own_lease_duration);
        if now < until {
            return Missing::Wait {
                holder: holder.to_string(),
                until,
            };
        }
    }
    Missing::Create
}

/// When the work of a new term may start. `acquired` is when the winning write was sent;
/// `missing_since` is when this replica first saw the Lease missing, if the term began by
/// creating it.
///
/// A missing Lease may hide a live leader: it was deleted, and its holder (partitioned,
/// frozen, or simply not yet at its next renewal) still works until its renew deadline, which
/// began before the deletion. Nothing we can read tells us who that was or when it renewed.
/// But its deadline is at most a renew deadline after a renewal that happened before the
/// deletion, so one whole lease duration after we first saw the Lease missing it has surely
/// passed (if clock *rates* agree). A brand-new deployment is the same case: an empty
/// namespace and a namespace whose Lease was just deleted look alike.
pub fn work_starts_at(
    acquired: Instant,
    missing_since: Option<Instant>,
    own_lease_duration: Duration,
) -> Instant {
    match missing_since {
        Some(since) => acquired.max(since + own_lease_duration),
        None => acquired,
    }
}

/// The record to write when we take or renew the Lease whose current record is `current`.
///
/// - Renewing (`new_term` false: we hold it, inside our term): keep `acquireTime` and
///   `leaseTransitions`, move `renewTime`.
/// - A new term (`new_term` true: free, expired, or even our own record found again after our
///   term ended): `acquireTime = renewTime = now` and a transition count one above both the
///   record's and the highest this process has seen. The count is what makes it a fencing
///   token: every term has a larger one, a restart of the same pod included.
pub fn claim(
    current: &LeaseRecord,
    identity: &str,
    wall_now: Timestamp,
    lease_duration: Duration,
    new_term: bool,
    highest_seen: Option<i32>,
) -> LeaseRecord {
    let wall_now = micros(wall_now);
    LeaseRecord {
        holder: identity.to_string(),
        lease_duration_seconds: Some(lease_duration.as_secs() as i32),
        acquire_time: if new_term {
            Some(wall_now)
        } else {
            current.acquire_time.or(Some(wall_now))
        },
        renew_time: Some(wall_now),
        transitions: if new_term {
            next_transition(current.transitions.max(highest_seen.unwrap_or(i32::MIN)))
        } else {
            current.transitions
        },
    }
}

/// The record for a Lease that does not exist: a new term, whose count carries on from the
/// highest this process has seen (on any Lease of this name, deleted since), so that fencing
/// tokens never go backwards from this replica's point of view. 0 if it has seen none.
pub fn create(
    identity: &str,
    wall_now: Timestamp,
    lease_duration: Duration,
    highest_seen: Option<i32>,
) -> LeaseRecord {
    let wall_now = micros(wall_now);
    LeaseRecord {
        holder: identity.to_string(),
        lease_duration_seconds: Some(lease_duration.as_secs() as i32),
        acquire_time: Some(wall_now),
        renew_time: Some(wall_now),
        transitions: highest_seen.map_or(0, next_transition),
    }
}

/// The record a leader writes when its Lease was deleted *during its live term*: the same
/// term goes on (its work never stopped), so `acquireTime` and the fencing token are kept, and
/// the count is never below the highest this process has seen.
pub fn recreate(
    ours: &LeaseRecord,
    wall_now: Timestamp,
    lease_duration: Duration,
    highest_seen: Option<i32>,
) -> LeaseRecord {
    let wall_now = micros(wall_now);
    LeaseRecord {
        holder: ours.holder.clone(),
        lease_duration_seconds: Some(lease_duration.as_secs() as i32),
        acquire_time: ours.acquire_time.or(Some(wall_now)),
        renew_time: Some(wall_now),
        transitions: ours.transitions.max(highest_seen.unwrap_or(i32::MIN)),
    }
}

/// The record that gives the Lease up: no holder and a 1 s duration, as client-go writes it.
/// The transition count is kept; whoever takes the Lease next adds one.
pub fn release(current: &LeaseRecord, wall_now: Timestamp) -> LeaseRecord {
    let wall_now = micros(wall_now);
    LeaseRecord {
        holder: String::new(),
        lease_duration_seconds: Some(1),
        acquire_time: Some(wall_now),
        renew_time: Some(wall_now),
        transitions: current.transitions,
    }
}

/// The `spec.strategy` of a Lease that asks for coordinated leader election (KEP-4355): the
/// kube-apiserver chooses its holder, so no replica may campaign for it.
pub fn coordinated_strategy(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()?
        .strategy
        .as_deref()
        .filter(|s| !s.is_empty())
}

/// What a new term clears besides the election fields: `spec.preferredHolder` (a takeover
/// answers it, as client-go does) and the note of a delayed start written on creation.
pub fn clear_for_new_term(lease: &mut Lease, work_note: &str) {
    if let Some(spec) = lease.spec.as_mut() {
        spec.preferred_holder = None;
    }
    if let Some(annotations) = lease.metadata.annotations.as_mut() {
        annotations.remove(work_note);
    }
}

fn next_transition(transitions: i32) -> i32 {
    transitions.max(0).saturating_add(1)
}

/// client-go's jittered wait: `retry_period × (1 + 1.2·r)` with r uniform in [0, 1), so
/// between 2 s and 4.4 s with the defaults. Jitter keeps standbys from reading in lock-step.
pub fn jittered(retry_period: Duration, rng: &mut impl Rng) -> Duration {
    retry_period.mul_f64(1.0 + JITTER_FACTOR * rng.random::<f64>())
}

/// Wait after the `failures`-th API failure in a row (1 for the first): the retry period,
/// doubling each time, capped at half the lease duration so that a candidate is never more
/// than that late to notice the API server is back.
pub fn backoff(failures: u32, retry_period: Duration, lease_duration: Duration) -> Duration {
    let cap = (lease_duration / 2).max(retry_period);
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    retry_period.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LD: Duration = Duration::from_secs(15);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn wall(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn held_by(holder: &str, duration: Option<i32>, renewed: i64) -> LeaseRecord {
        LeaseRecord {
            holder: holder.into(),
            lease_duration_seconds: duration,
            acquire_time: Some(wall(0)),
            renew_time: Some(wall(renewed)),
            transitions: 3,
        }
    }

    /// Another holder's lease is live until exactly the record's duration after we saw it
    /// change, and expired from that instant on.
    #[test]
    fn expiry_counts_from_local_observation() {
        let t0 = Instant::now();
        let obs = Observation::new(held_by("other", Some(15), 0), t0);
        assert_eq!(
            judge(&obs, "me", &Written::default(), t0 + secs(14.999), LD),
            Verdict::HeldBy {
                holder: "other".into(),
                until: t0 + LD,
                same_identity: false,
            }
        );
        assert_eq!(
            judge(&obs, "me", &Written::default(), t0 + LD, LD),
            Verdict::Expired {
                holder: "other".into(),
                same_identity: false,
            }
        );
    }

    /// The remote renewTime plays no part: a record whose renewTime is a day old (or a day in
    /// the future, from a skewed clock) is still honoured for a full duration after we see it.
    #[test]
    fn remote_renew_time_is_never_compared_with_our_clock() {
        let t0 = Instant::now();
        for renewed in [-86_400, 86_400] {
            let obs = Observation::new(held_by("other", Some(15), renewed), t0);
            assert!(matches!(
                judge(&obs, "me", &Written::default(), t0 + secs(1.0), LD),
                Verdict::HeldBy { .. }
            ));
            assert!(matches!(
                judge(&obs, "me", &Written::default(), t0 + LD, LD),
                Verdict::Expired { .. }
            ));
        }
    }

    /// Re-reading an unchanged record does not restart the clock; a renewal does.
    #[test]
    fn only_a_change_restarts_the_clock() {
        let t0 = Instant::now();
        let mut obs = Observation::new(held_by("other", Some(15), 0), t0);
        assert!(!obs.update(held_by("other", Some(15), 0), t0 + secs(10.0)));
        assert_eq!(obs.expires_at(LD), t0 + LD);
        assert!(obs.update(held_by("other", Some(15), 2), t0 + secs(12.0)));
        assert_eq!(obs.expires_at(LD), t0 + secs(27.0));
    }

    /// A longer duration in the record is honoured; a shorter one is read as ours, so a
    /// record hand-edited to 1 s does not let anyone take over from a live leader early.
    #[test]
    fn the_longer_of_the_records_duration_and_ours_is_honoured() {
        let t0 = Instant::now();
        let none = Written::default();
        let long = Observation::new(held_by("other", Some(60), 0), t0);
        assert!(matches!(
            judge(&long, "me", &none, t0 + secs(59.0), LD),
            Verdict::HeldBy { .. }
        ));
        assert!(matches!(
            judge(&long, "me", &none, t0 + secs(60.0), LD),
            Verdict::Expired { .. }
        ));
        for short in [1, 5] {
            let obs = Observation::new(held_by("other", Some(short), 0), t0);
            assert!(matches!(
                judge(&obs, "me", &none, t0 + secs(14.9), LD),
                Verdict::HeldBy { .. }
            ));
            assert!(matches!(
                judge(&obs, "me", &none, t0 + LD, LD),
                Verdict::Expired { .. }
            ));
        }
    }

    /// A hand-set 68-year duration is honoured only up to the documented cap, and flagged.
    #[test]
    fn a_huge_duration_is_capped() {
        let t0 = Instant::now();
        let none = Written::default();
        let huge = held_by("other", Some(i32::MAX), 0);
        assert!(duration_capped(&huge, LD));
        assert_eq!(effective_duration(&huge, LD), MAX_HONOURED_LEASE_DURATION);
        let obs = Observation::new(huge, t0);
        assert!(matches!(
            judge(
                &obs,
                "me",
                &none,
                t0 + MAX_HONOURED_LEASE_DURATION - secs(0.001),
                LD
            ),
            Verdict::HeldBy { .. }
        ));
        assert!(matches!(
            judge(&obs, "me", &none, t0 + MAX_HONOURED_LEASE_DURATION, LD),
            Verdict::Expired { .. }
        ));
        assert!(!duration_capped(&held_by("other", Some(300), 0), LD));
        // Our own duration is never capped below itself.
        let own = Duration::from_secs(600);
        assert_eq!(
            effective_duration(&held_by("o", Some(i32::MAX), 0), own),
            own
        );
    }

    /// A missing, zero or negative duration is read as our own lease duration: never "expired
    /// at once", never "held forever".
    #[test]
    fn odd_durations_fall_back_to_our_own() {
        let t0 = Instant::now();
        for odd in [None, Some(0), Some(-5)] {
            let obs = Observation::new(held_by("other", odd, 0), t0);
            assert!(
                matches!(
                    judge(&obs, "me", &Written::default(), t0 + secs(14.0), LD),
                    Verdict::HeldBy { .. }
                ),
                "{odd:?}"
            );
            assert!(
                matches!(
                    judge(&obs, "me", &Written::default(), t0 + LD, LD),
                    Verdict::Expired { .. }
                ),
                "{odd:?}"
            );
        }
    }

    /// A released Lease (empty holder, 1 s duration, fresh renewTime) and a Lease with no spec
    /// are free at once.
    #[test]
    fn a_released_lease_is_free_at_once() {
        let t0 = Instant::now();
        let released = release(&held_by("other", Some(15), 0), wall(5));
        assert_eq!(released.holder(), None);
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(
            judge(
                &Observation::new(released, t0),
                "me",
                &Written::default(),
                t0,
                LD
            ),
            Verdict::Free
        );
        assert_eq!(
            judge(
                &Observation::new(LeaseRecord::default(), t0),
                "me",
                &Written::default(),
                t0,
                LD
            ),
            Verdict::Free
        );
    }

    /// A record is ours only if this process wrote it. One naming us that we did not write
    /// (a restarted container's predecessor, or a live twin) is judged like anyone else's.
    #[test]
    fn a_record_is_ours_only_if_we_wrote_it() {
        let t0 = Instant::now();
        let mine = held_by("me", Some(15), 0);
        let mut written = Written::default();
        written.wrote(mine.clone());
        let obs = Observation::new(mine.clone(), t0);
        assert_eq!(
            judge(&obs, "me", &written, t0 + secs(100.0), LD),
            Verdict::Ours
        );

        let twin = Observation::new(held_by("me", Some(15), 1), t0);
        assert_eq!(
            judge(&twin, "me", &written, t0 + secs(1.0), LD),
            Verdict::HeldBy {
                holder: "me".into(),
                until: t0 + LD,
                same_identity: true
            }
        );
        assert_eq!(
            judge(&twin, "me", &Written::default(), t0 + LD, LD),
            Verdict::Expired {
                holder: "me".into(),
                same_identity: true
            }
        );
    }

    /// Only the last few records are remembered, and repeats are not stored twice.
    #[test]
    fn written_keeps_the_latest_records() {
        let mut written = Written::default();
        for s in 0..20 {
            written.wrote(held_by("me", Some(15), s));
            written.wrote(held_by("me", Some(15), s));
        }
        assert!(written.ours(&held_by("me", Some(15), 19)));
        // A hand-edited duration or count does not make it someone else's record.
        let edited = LeaseRecord {
            lease_duration_seconds: Some(i32::MAX),
            transitions: 99,
            ..held_by("me", Some(15), 19)
        };
        assert!(written.ours(&edited));
        assert!(written.ours(&held_by("me", Some(15), 12)));
        assert!(!written.ours(&held_by("me", Some(15), 11)));
    }

    /// What we send compares equal to what the API server sends back: microseconds.
    #[test]
    fn written_times_have_microsecond_precision() {
        let t = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        let r = claim(&LeaseRecord::default(), "me", t, LD, true, None);
        assert_eq!(
            r.renew_time.unwrap().as_nanosecond(),
            1_700_000_000_123_456_000
        );
    }

    /// A missing Lease: the last holder seen (another process, or our identity written by
    /// someone else) is waited for until its claim would have run out; our own last record,
    /// from a term that has ended, and no record at all let us create it.
    #[test]
    fn a_missing_lease_may_hide_a_live_leader() {
        let t0 = Instant::now();
        let none = Written::default();
        let other = Observation::new(held_by("other", Some(15), 0), t0);
        assert_eq!(
            on_missing(Some(&other), &none, t0 + secs(3.0), LD),
            Missing::Wait {
                holder: "other".into(),
                until: t0 + LD
            }
        );
        assert_eq!(
            on_missing(Some(&other), &none, t0 + LD, LD),
            Missing::Create
        );
        let twin = Observation::new(held_by("me", Some(15), 0), t0);
        assert!(matches!(
            on_missing(Some(&twin), &none, t0, LD),
            Missing::Wait { .. }
        ));
        let mut written = Written::default();
        written.wrote(held_by("me", Some(15), 0));
        assert_eq!(on_missing(Some(&twin), &written, t0, LD), Missing::Create);
        assert_eq!(on_missing(None, &none, t0, LD), Missing::Create);
        let released = Observation::new(release(&held_by("x", Some(15), 0), wall(1)), t0);
        assert_eq!(on_missing(Some(&released), &none, t0, LD), Missing::Create);
    }

    /// Work after creating a missing Lease starts one lease duration after the Lease was first
    /// seen missing (a fresh process included); any other term's work starts at once.
    #[tokio::test(start_paused = true)]
    async fn work_waits_a_lease_duration_after_the_lease_was_seen_missing() {
        let t0 = Instant::now();
        assert_eq!(work_starts_at(t0, None, LD), t0);
        assert_eq!(work_starts_at(t0 + secs(0.2), Some(t0), LD), t0 + LD);
        // A standby that already waited past that point starts at once.
        assert_eq!(
            work_starts_at(t0 + secs(20.0), Some(t0), LD),
            t0 + secs(20.0)
        );
    }

    /// Every new term takes one more transition than both the record and the highest this
    /// process has seen, with acquireTime now; renewing keeps both; creating starts at 0, or
    /// carries on from the highest seen.
    #[test]
    fn transitions_and_acquire_time() {
        let other = held_by("other", Some(15), 0);
        let taken = claim(&other, "me", wall(20), LD, true, None);
        assert_eq!(taken.holder, "me");
        assert_eq!(taken.transitions, 4);
        assert_eq!(taken.acquire_time, Some(wall(20)));
        assert_eq!(taken.renew_time, Some(wall(20)));
        assert_eq!(taken.lease_duration_seconds, Some(15));

        let renewed = claim(&taken, "me", wall(22), LD, false, Some(4));
        assert_eq!(renewed.transitions, 4);
        assert_eq!(renewed.acquire_time, Some(wall(20)));
        assert_eq!(renewed.renew_time, Some(wall(22)));

        // Our own record found again after our term ended: a new term, a new token.
        let again = claim(&renewed, "me", wall(30), LD, true, Some(4));
        assert_eq!(again.transitions, 5);
        assert_eq!(again.acquire_time, Some(wall(30)));

        let free = release(&renewed, wall(23));
        assert_eq!(
            claim(&free, "next", wall(24), LD, true, None).transitions,
            5
        );

        let fresh = create("me", wall(0), LD, None);
        assert_eq!(fresh.transitions, 0);
        assert_eq!(fresh.acquire_time, Some(wall(0)));
    }

    /// Tokens never go below the highest seen: not on create after a deletion, not on a
    /// takeover of a Lease recreated by someone else with a lower count, not on a leader's
    /// recreate inside its term; a hand-edited negative count cannot make the next token
    /// smaller than 1.
    #[test]
    fn fencing_tokens_never_go_backwards() {
        assert_eq!(create("me", wall(1), LD, Some(3)).transitions, 4);
        let recreated_low = LeaseRecord {
            transitions: 0,
            ..held_by("other", Some(15), 0)
        };
        assert_eq!(
            claim(&recreated_low, "me", wall(1), LD, true, Some(7)).transitions,
            8
        );
        let ours = held_by("me", Some(15), 0);
        let again = recreate(&ours, wall(9), LD, Some(5));
        assert_eq!(again.transitions, 5);
        assert_eq!(again.acquire_time, ours.acquire_time);
        assert_eq!(recreate(&ours, wall(9), LD, Some(1)).transitions, 3);
        let weird = LeaseRecord {
            transitions: -9,
            ..held_by("other", Some(15), 0)
        };
        assert_eq!(claim(&weird, "me", wall(1), LD, true, None).transitions, 1);
        let maxed = LeaseRecord {
            transitions: i32::MAX,
            ..held_by("other", Some(15), 0)
        };
        assert_eq!(
            claim(&maxed, "me", wall(1), LD, true, None).transitions,
            i32::MAX
        );
    }

    /// A Lease with `spec.strategy` is refused; a new term clears `preferredHolder` and our
    /// own work note, and nothing else.
    #[test]
    fn strategy_and_preferred_holder() {
        use k8s_openapi::api::coordination::v1::LeaseSpec;
        let mut lease = Lease {
            spec: Some(LeaseSpec {
                strategy: Some("OldestEmulationVersion".into()),
                preferred_holder: Some("pod-b".into()),
                holder_identity: Some("pod-a".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        lease.metadata.annotations = Some(
            [
                ("note".to_string(), "keep".to_string()),
                ("k8sensus.io/work-starts-at".to_string(), "x".to_string()),
            ]
            .into(),
        );
        assert_eq!(coordinated_strategy(&lease), Some("OldestEmulationVersion"));
        clear_for_new_term(&mut lease, "k8sensus.io/work-starts-at");
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.preferred_holder, None);
        assert_eq!(spec.holder_identity.as_deref(), Some("pod-a"));
        assert_eq!(spec.strategy.as_deref(), Some("OldestEmulationVersion"));
        let annotations = lease.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["note"], "keep");
        assert_eq!(coordinated_strategy(&Lease::default()), None);
    }

    /// Standbys wait between 1 and 2.2 retry periods, like client-go.
    #[test]
    fn jitter_stays_in_client_gos_range() {
        let mut rng = rand::rng();
        for _ in 0..1000 {
            let wait = jittered(secs(2.0), &mut rng);
            assert!(wait >= secs(2.0) && wait < secs(4.4), "{wait:?}");
        }
    }

    /// Error backoff doubles from the retry period and stops at half the lease duration.
    #[test]
    fn backoff_doubles_and_is_capped() {
        let rp = secs(2.0);
        let waits: Vec<_> = (1..=6).map(|n| backoff(n, rp, LD)).collect();
        assert_eq!(
            waits,
            [
                secs(2.0),
                secs(4.0),
                secs(7.5),
                secs(7.5),
                secs(7.5),
                secs(7.5)
            ]
        );
        assert_eq!(backoff(u32::MAX, rp, LD), secs(7.5));
    }
}

/// The longest wait [`jittered`] can return: `retry_period × (1 + 1.2)`.
pub fn jittered_max(retry_period: Duration) -> Duration {
    retry_period.mul_f64(1.0 + JITTER_FACTOR)
}

/// How long refusals (401 or 403, after the API server had accepted us) are retried before
/// the elector gives up: a lease duration, and at least 30 s. A kube-apiserver that is
/// restarting refuses requests until its caches have synced, which can take tens of seconds;
/// rights revoked, a deleted ServiceAccount or an expired credential never heal, and must end
/// in an error that names the refused call rather than retries for ever.
pub fn refusal_bound(lease_duration: Duration) -> Duration {
    lease_duration.max(Duration::from_secs(30))
}

/// `Some(how long)` once every call since `since` has been refused for longer than
/// [`refusal_bound`].
pub fn refused_too_long(
    since: Instant,
    now: Instant,
    lease_duration: Duration,
) -> Option<Duration> {
    let refused_for = now.saturating_duration_since(since);
    (refused_for > refusal_bound(lease_duration)).then_some(refused_for)
}

/// How long a standby's watch may stay silent before it is re-established: three retry
/// periods, at most a lease duration. A live holder renews every retry period, so a healthy
/// watch carries an event at least that often (and bookmarks besides); silence means the
/// holder stopped renewing, which the expiry timer handles, or a connection that died without
/// a word, which only a fresh watch can fix. Without this bound a standby behind a silently
/// dropped connection would notice only at the next resync, and miss a release meanwhile.
pub fn watch_silence_bound(retry_period: Duration, lease_duration: Duration) -> Duration {
    (retry_period * 3).min(lease_duration)
}

/// Races a candidate may lose in a row and still try again at once. Losing means another
/// replica wrote first, which is the normal end of a takeover: the next step only learns who
/// won. Losing again and again means a writer that keeps changing the Lease (a fight, or a
/// misconfigured twin): then the candidate slows to the jittered retry period.
pub const QUICK_RETRIES_AFTER_LOST_RACE: u32 = 3;

/// What a candidate does after its write lost a race (409, or 404 because the Lease went).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLostRace {
    /// Keep the watch open and wait for the winner's write to arrive on it, for at most
    /// [`winner_wait`]. The write that beat ours is newer than the version we judged, so the
    /// watch (which started before it) delivers it: no GET needed, and no new watch. With a
    /// hundred standbys this is what keeps a takeover near one request per standby.
    AwaitWinner,
    /// Read the Lease again at once (no watch to wait on: polling, or never opened).
    ReadAgain,
    /// Wait the jittered retry period, then read: races keep being lost.
    SlowDown,
}

/// The step after the `races_lost`-th race lost in a row (1 for the first).
pub fn after_lost_race(races_lost: u32, watching: bool) -> AfterLostRace {
    match (races_lost < QUICK_RETRIES_AFTER_LOST_RACE, watching) {
        (false, _) => AfterLostRace::SlowDown,
        (true, true) => AfterLostRace::AwaitWinner,
        (true, false) => AfterLostRace::ReadAgain,
    }
}

/// How long a candidate that lost a race waits on its watch for the winner's write before
/// it reads the Lease instead: one retry period. The write is already stored when our 409
/// comes back, so it normally arrives within milliseconds; silence means the watch broke.
pub fn winner_wait(retry_period: Duration) -> Duration {
    retry_period
}

/// A standby's resync period with ±20% jitter ([`RESYNC_JITTER`]), so that standbys started
/// together do not all re-read and re-watch in the same second.
pub fn jittered_resync(resync_period: Duration, rng: &mut impl Rng) -> Duration {
    resync_period.mul_f64(1.0 - RESYNC_JITTER + 2.0 * RESYNC_JITTER * rng.random::<f64>())
}

/// The spread of [`jittered_resync`], either side of the configured period.
pub const RESYNC_JITTER: f64 = 0.2;

/// When a standby gives up on a watch the server should have ended: the server closes it
/// after the (jittered) resync period, so one still open a request timeout later is a dead
/// connection that did not say so.
pub fn watch_give_up(resync: Duration, request_timeout: Duration) -> Duration {
    resync + request_timeout
}

#[cfg(test)]
mod bounds {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Refusals are retried for a lease duration, at least 30 s, then given up on.
    #[test]
    fn refusals_are_bounded_in_time() {
        let t0 = Instant::now();
        assert_eq!(refusal_bound(secs(15.0)), secs(30.0));
        assert_eq!(refusal_bound(secs(60.0)), secs(60.0));
        assert_eq!(refused_too_long(t0, t0 + secs(30.0), secs(15.0)), None);
        assert_eq!(
            refused_too_long(t0, t0 + secs(30.5), secs(15.0)),
            Some(secs(30.5))
        );
        assert_eq!(refused_too_long(t0, t0 + secs(59.0), secs(60.0)), None);
    }

    /// A watch may be silent for three retry periods, never longer than a lease duration.
    #[test]
    fn watch_silence_is_bounded() {
        assert_eq!(watch_silence_bound(secs(2.0), secs(15.0)), secs(6.0));
        assert_eq!(watch_silence_bound(secs(0.5), secs(4.0)), secs(1.5));
        assert_eq!(watch_silence_bound(secs(5.0), secs(12.0)), secs(12.0));
        let max = jittered_max(secs(2.0));
        assert!(max.abs_diff(secs(4.4)) < secs(0.001), "{max:?}");
    }

    /// After a lost race: wait for the winner on the watch, read again without one, and slow
    /// down once races keep being lost.
    #[test]
    fn a_lost_race_is_followed_by_the_winners_write() {
        assert_eq!(after_lost_race(1, true), AfterLostRace::AwaitWinner);
        assert_eq!(after_lost_race(2, true), AfterLostRace::AwaitWinner);
        assert_eq!(after_lost_race(1, false), AfterLostRace::ReadAgain);
        assert_eq!(after_lost_race(3, true), AfterLostRace::SlowDown);
        assert_eq!(after_lost_race(3, false), AfterLostRace::SlowDown);
        assert_eq!(after_lost_race(u32::MAX, true), AfterLostRace::SlowDown);
        assert_eq!(winner_wait(secs(2.0)), secs(2.0));
    }

    /// Resyncs spread over ±20% of the period; a dead watch is given up a request timeout
    /// after the server should have closed it.
    #[test]
    fn resyncs_are_jittered_and_watches_bounded() {
        let mut rng = rand::rng();
        for _ in 0..1000 {
            let r = jittered_resync(secs(150.0), &mut rng);
            assert!(r >= secs(120.0) && r < secs(180.0), "{r:?}");
        }
        assert_eq!(watch_give_up(secs(150.0), secs(5.0)), secs(155.0));
    }
}
