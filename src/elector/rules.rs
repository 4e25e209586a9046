//! The decision rules of Lease election, as pure functions of what was read and what time it is.
//!
//! Nothing here talks to the API server or reads a clock: the election loop
//! ([`LeaderElector`](super::LeaderElector)) passes the current monotonic time (`now`) and
//! wall time (`wall_now`) in. That is what lets the unit tests below check every rule
//! exactly, without sleeping.

use std::time::Duration;

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

/// The lease duration to honour for a record: its own `leaseDurationSeconds`, as client-go
/// does, so that a holder with a longer lease is given its full time.
///
/// A missing, zero or negative duration is read as *our* lease duration. client-go would read
/// such a holder as expired at once and take over immediately; waiting our own duration is the
/// safe choice, and the Lease is still taken over once its holder stops renewing.
pub fn effective_duration(record: &LeaseRecord, own_lease_duration: Duration) -> Duration {
    match record.lease_duration_seconds {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds as u64),
        _ => own_lease_duration,
    }
}

/// What a replica may do with the Lease it just read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The record names us: renew it (keeping `acquireTime` and `leaseTransitions`).
    Ours,
    /// Nobody holds it (a released or brand-new Lease): take it at once.
    Free,
    /// The holder has not renewed for its whole lease duration, by our clock: take it over.
    Expired { holder: String },
    /// Another replica holds a live lease: stand by until `until`, unless it changes first.
    HeldBy { holder: String, until: Instant },
}

/// The expiry rule. `now` and `observation.changed_at` are both our monotonic clock.
pub fn judge(
    observation: &Observation,
    identity: &str,
    now: Instant,
    own_lease_duration: Duration,
) -> Verdict {
    match observation.record.holder() {
        None => Verdict::Free,
        Some(holder) if holder == identity => Verdict::Ours,
        Some(holder) => {
            let until = observation.expires_at(own_lease_duration);
            if now < until {
                Verdict::HeldBy {
                    holder: holder.to_string(),
                    until,
                }
            } else {
                Verdict::Expired {
                    holder: holder.to_string(),
                }
            }
        }
    }
}

/// The record to write when we take or renew the Lease whose current record is `current`.
///
/// - Renewing (we already hold it): keep `acquireTime` and `leaseTransitions`, move `renewTime`.
/// - Taking over (free, or another holder expired): `acquireTime = renewTime = now` and one
///   more transition. The count is what makes it a fencing token: every term has a larger one.
pub fn claim(
    current: &LeaseRecord,
    identity: &str,
    wall_now: Timestamp,
    lease_duration: Duration,
) -> LeaseRecord {
    let renewing = current.holder == identity;
    LeaseRecord {
        holder: identity.to_string(),
        lease_duration_seconds: Some(lease_duration.as_secs() as i32),
        acquire_time: if renewing {
            current.acquire_time.or(Some(wall_now))
        } else {
            Some(wall_now)
        },
        renew_time: Some(wall_now),
        transitions: if renewing {
            current.transitions
        } else {
            next_transition(current.transitions)
        },
    }
}

/// The record for a Lease that does not exist yet. Transitions start at 0, unless we saw an
/// earlier Lease of the same name (deleted since): then the count carries on from it, so that
/// fencing tokens never go backwards from this replica's point of view.
pub fn create(
    identity: &str,
    wall_now: Timestamp,
    lease_duration: Duration,
    last_seen: Option<&LeaseRecord>,
) -> LeaseRecord {
    LeaseRecord {
        holder: identity.to_string(),
        lease_duration_seconds: Some(lease_duration.as_secs() as i32),
        acquire_time: Some(wall_now),
        renew_time: Some(wall_now),
        transitions: last_seen.map_or(0, |seen| next_transition(seen.transitions)),
    }
}

/// The record that gives the Lease up: no holder and a 1 s duration, as client-go writes it.
/// The transition count is kept; whoever takes the Lease next adds one.
pub fn release(current: &LeaseRecord, wall_now: Timestamp) -> LeaseRecord {
    LeaseRecord {
        holder: String::new(),
        lease_duration_seconds: Some(1),
        acquire_time: Some(wall_now),
        renew_time: Some(wall_now),
        transitions: current.transitions,
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
            judge(&obs, "me", t0 + secs(14.999), LD),
            Verdict::HeldBy {
                holder: "other".into(),
                until: t0 + LD
            }
        );
        assert_eq!(
            judge(&obs, "me", t0 + LD, LD),
            Verdict::Expired {
                holder: "other".into()
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
                judge(&obs, "me", t0 + secs(1.0), LD),
                Verdict::HeldBy { .. }
            ));
            assert!(matches!(
                judge(&obs, "me", t0 + LD, LD),
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

    /// The record's own duration is honoured, not ours: a holder with a 60 s lease keeps it for
    /// 60 s, and one with a 5 s lease loses it after 5 s.
    #[test]
    fn the_records_own_duration_is_honoured() {
        let t0 = Instant::now();
        let long = Observation::new(held_by("other", Some(60), 0), t0);
        assert!(matches!(
            judge(&long, "me", t0 + secs(59.0), LD),
            Verdict::HeldBy { .. }
        ));
        let short = Observation::new(held_by("other", Some(5), 0), t0);
        assert!(matches!(
            judge(&short, "me", t0 + secs(5.0), LD),
            Verdict::Expired { .. }
        ));
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
                    judge(&obs, "me", t0 + secs(14.0), LD),
                    Verdict::HeldBy { .. }
                ),
                "{odd:?}"
            );
            assert!(
                matches!(judge(&obs, "me", t0 + LD, LD), Verdict::Expired { .. }),
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
            judge(&Observation::new(released, t0), "me", t0, LD),
            Verdict::Free
        );
        assert_eq!(
            judge(&Observation::new(LeaseRecord::default(), t0), "me", t0, LD),
            Verdict::Free
        );
    }

    /// A record naming us is ours to renew, whatever its age.
    #[test]
    fn our_own_record_is_renewed() {
        let t0 = Instant::now();
        let obs = Observation::new(held_by("me", Some(15), 0), t0);
        assert_eq!(judge(&obs, "me", t0 + secs(100.0), LD), Verdict::Ours);
    }

    /// Taking over sets acquireTime to now and adds one transition; renewing keeps both and
    /// moves only renewTime; creating starts at 0.
    #[test]
    fn transitions_and_acquire_time() {
        let other = held_by("other", Some(15), 0);
        let taken = claim(&other, "me", wall(20), LD);
        assert_eq!(taken.holder, "me");
        assert_eq!(taken.transitions, 4);
        assert_eq!(taken.acquire_time, Some(wall(20)));
        assert_eq!(taken.renew_time, Some(wall(20)));
        assert_eq!(taken.lease_duration_seconds, Some(15));

        let renewed = claim(&taken, "me", wall(22), LD);
        assert_eq!(renewed.transitions, 4);
        assert_eq!(renewed.acquire_time, Some(wall(20)));
        assert_eq!(renewed.renew_time, Some(wall(22)));

        let free = release(&renewed, wall(23));
        assert_eq!(claim(&free, "next", wall(24), LD).transitions, 5);

        let fresh = create("me", wall(0), LD, None);
        assert_eq!(fresh.transitions, 0);
        assert_eq!(fresh.acquire_time, Some(wall(0)));
    }

    /// A Lease deleted and created again continues the count we last saw, and a hand-edited
    /// negative count cannot make the next token smaller than 1.
    #[test]
    fn fencing_tokens_never_go_backwards() {
        let seen = held_by("other", Some(15), 0);
        assert_eq!(create("me", wall(1), LD, Some(&seen)).transitions, 4);
        let weird = LeaseRecord {
            transitions: -9,
            ..held_by("other", Some(15), 0)
        };
        assert_eq!(claim(&weird, "me", wall(1), LD).transitions, 1);
        let maxed = LeaseRecord {
            transitions: i32::MAX,
            ..held_by("other", Some(15), 0)
        };
        assert_eq!(claim(&maxed, "me", wall(1), LD).transitions, i32::MAX);
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
}
