//! The elector's settings and the timing rules that keep one leader at a time.

use std::time::Duration;

/// Everything the elector needs to know, and nothing about the program around it.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    /// Name of the `coordination.k8s.io/v1` Lease that is the lock.
    pub lease_name: String,
    /// Namespace of that Lease.
    pub namespace: String,
    /// Who we are: written to `spec.holderIdentity` when we lead. Must be unique per replica.
    pub identity: String,
    /// Lease duration, renew deadline and retry period: the three durations that define an
    /// election, and that [`Timings::validate`] checks against each other.
    pub timings: Timings,
    /// Upper bound on any single API call. Must be shorter than the renew deadline so that one
    /// hung request cannot use up the leader's whole deadline.
    pub request_timeout: Duration,
    /// How often a standby re-reads the Lease and restarts its watch when nothing happens: the
    /// fallback for a watch that dropped without a word. Jittered by ±20%.
    pub resync_period: Duration,
    /// What `run` does after leadership is lost (not given up on shutdown).
    pub after_loss: AfterLoss,
}

/// What to do when leadership is lost: campaign again, or hand control back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLoss {
    /// Go back to being a candidate (the default). A replica that stops campaigning after one
    /// term is a trap: client-go's `RunOrDie` does that, and the replica sits idle until restarted.
    Rejoin,
    /// Return [`crate::elector::ElectionError::LeadershipLost`] from `run`, for programs that
    /// prefer to exit and be restarted.
    Return,
}

/// client-go's jitter factor: a standby waits between `retry_period` and `2.2 × retry_period`
/// between reads, and the renew deadline must leave room for at least one such gap.
pub const JITTER_FACTOR: f64 = 1.2;

/// A standby's default resync: one GET and one new watch every 120 to 180 s, so under 0.02
/// requests per second while nothing happens.
pub const DEFAULT_RESYNC_PERIOD: Duration = Duration::from_secs(150);

impl ElectionConfig {
    /// Settings with client-go's default timings (15 s / 10 s / 2 s) for the given Lease and
    /// identity. The request timeout is derived: half the renew deadline.
    pub fn new(
        lease_name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            lease_name: lease_name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            timings: Timings::DEFAULT,
            request_timeout: Duration::from_secs(5),
            resync_period: DEFAULT_RESYNC_PERIOD,
            after_loss: AfterLoss::Rejoin,
        }
    }

    /// Replaces the three timings and derives the request timeout from them.
    pub fn with_timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self.request_timeout = timings.default_request_timeout();
        self
    }

    /// `namespace/name`, the way people and logs refer to the Lease.
    pub fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.lease_name)
    }

    /// Checks the rules the elector relies on. Names are checked by the caller, which knows
    /// where they came from; the API server would reject a bad one anyway.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.is_empty() {
            return Err(ConfigError::EmptyIdentity);
        }
        self.timings.validate()?;
        if self.resync_period < Duration::from_secs(1) {
            return Err(ConfigError::ResyncPeriod {
                resync_period: self.resync_period,
            });
        }
        if self.request_timeout.is_zero() || self.request_timeout >= self.timings.renew_deadline {
            return Err(ConfigError::RequestTimeout {
                request_timeout: self.request_timeout,
                renew_deadline: self.timings.renew_deadline,
            });
        }
        Ok(())
    }
}

/// The three durations that define an election. See [`Timings::validate`] for how they relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long a standby waits, after it last saw the Lease change, before taking it over.
    /// Written to `spec.leaseDurationSeconds`, so it must be whole seconds.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the leader renews. Standbys watch the Lease rather than re-read it; this is
    /// only the base of their wait after lost races and API errors.
    pub retry_period: Duration,
}

impl Timings {
    /// client-go's defaults, and the walkthrough's: 15 s / 10 s / 2 s.
    pub const DEFAULT: Timings = Timings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };

    /// Half the renew deadline: two attempts fit before the leader has to step down.
    pub fn default_request_timeout(&self) -> Duration {
        self.renew_deadline / 2
    }

    /// The safety margin `LD - RD - RP`: room for a client-go leader sharing the Lease, which
    /// stops only at its last successful renewal + RP + RD (see [`Timings::validate`], rule 5).
    pub fn safety_margin(&self) -> Option<Duration> {
        self.lease_duration
            .checked_sub(self.renew_deadline)?
            .checked_sub(self.retry_period)
    }

    /// The rules, in the order a reader can check them:
    ///
    /// 1. all three are positive;
    /// 2. the lease duration is whole seconds (`leaseDurationSeconds` is an integer);
    /// 3. `LD > RD`: the leader must give up before a standby may take over;
    /// 4. `RD > 1.2 × RP`: the leader must get at least one jittered retry before its deadline;
    /// 5. `LD - RD - RP >= 0`: the margin client-go does not check. A k8sensus leader's term
    ///    ends at the *start* of its last successful renewal + RD, so between k8sensus replicas
    ///    rule 3 is enough. But a client-go leader on the same Lease stops only when a renew
    ///    round, begun up to RP after its last success, has failed for RD: at last success +
    ///    RP + RD. With less margin, 11 s / 10 s / 2 s for example, a standby can take over
    ///    from such a leader while it still leads.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use ConfigError::*;
        for (field, value) in [
            (TimingField::LeaseDuration, self.lease_duration),
            (TimingField::RenewDeadline, self.renew_deadline),
            (TimingField::RetryPeriod, self.retry_period),
        ] {
            if value.is_zero() {
                return Err(NotPositive { field });
            }
        }
        if self.lease_duration.subsec_nanos() != 0 {
            return Err(LeaseDurationNotWholeSeconds {
                lease_duration: self.lease_duration,
            });
        }
        if self.lease_duration.as_secs() > i32::MAX as u64 {
            return Err(LeaseDurationTooLong {
                lease_duration: self.lease_duration,
            });
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(LeaseDurationNotAboveRenewDeadline {
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
            });
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err(RenewDeadlineTooShort {
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            });
        }
        if self.safety_margin().is_none() {
            return Err(Unsafe { timings: *self });
        }
        Ok(())
    }
}

/// Which timing a [`ConfigError`] is about, so that a caller can name its own flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingField {
    LeaseDuration,
    RenewDeadline,
    RetryPeriod,
}

impl std::fmt::Display for TimingField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimingField::LeaseDuration => "lease duration",
            TimingField::RenewDeadline => "renew deadline",
            TimingField::RetryPeriod => "retry period",
        })
    }
}

/// A configuration the elector refuses to run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("identity must not be empty")]
    EmptyIdentity,
    #[error("{field} must be greater than 0")]
    NotPositive { field: TimingField },
    #[error(
        "lease duration ({}) must be a whole number of seconds, because the Lease stores it as leaseDurationSeconds",
        humantime::format_duration(*.lease_duration)
    )]
    LeaseDurationNotWholeSeconds { lease_duration: Duration },
    #[error("lease duration ({}) is too long for leaseDurationSeconds", humantime::format_duration(*.lease_duration))]
    LeaseDurationTooLong { lease_duration: Duration },
    #[error(
        "lease duration ({}) must be greater than renew deadline ({}): the leader has to give up before a standby may take over",
        humantime::format_duration(*.lease_duration),
        humantime::format_duration(*.renew_deadline)
    )]
    LeaseDurationNotAboveRenewDeadline {
        lease_duration: Duration,
        renew_deadline: Duration,
    },
    #[error(
        "renew deadline ({}) must be greater than {JITTER_FACTOR} x retry period ({}): the leader needs at least one retry before its deadline",
        humantime::format_duration(*.renew_deadline),
        humantime::format_duration(*.retry_period)
    )]
    RenewDeadlineTooShort {
        renew_deadline: Duration,
        retry_period: Duration,
    },
    #[error(
        "unsafe timings: lease duration ({}) - renew deadline ({}) - retry period ({}) is negative, so a standby could take over while the old leader still leads; make lease duration at least renew deadline + retry period",
        humantime::format_duration(.timings.lease_duration),
        humantime::format_duration(.timings.renew_deadline),
        humantime::format_duration(.timings.retry_period)
    )]
    Unsafe { timings: Timings },
    #[error("resync period ({}) must be at least 1s", humantime::format_duration(*.resync_period))]
    ResyncPeriod { resync_period: Duration },
    #[error(
        "request timeout ({}) must be greater than 0 and less than renew deadline ({})",
        humantime::format_duration(*.request_timeout),
        humantime::format_duration(*.renew_deadline)
    )]
    RequestTimeout {
        request_timeout: Duration,
        renew_deadline: Duration,
    },
}

impl ConfigError {
    /// The timing this error is about, if it is about one (for naming the caller's flag).
    pub fn field(&self) -> Option<TimingField> {
        use ConfigError::*;
        match self {
            NotPositive { field } => Some(*field),
            LeaseDurationNotWholeSeconds { .. } | LeaseDurationTooLong { .. } => {
                Some(TimingField::LeaseDuration)
            }
            LeaseDurationNotAboveRenewDeadline { .. } | Unsafe { .. } => {
                Some(TimingField::LeaseDuration)
            }
            RenewDeadlineTooShort { .. } => Some(TimingField::RenewDeadline),
            RequestTimeout { .. } => Some(TimingField::RenewDeadline),
            EmptyIdentity | ResyncPeriod { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ld: f64, rd: f64, rp: f64) -> Timings {
        Timings {
            lease_duration: Duration::from_secs_f64(ld),
            renew_deadline: Duration::from_secs_f64(rd),
            retry_period: Duration::from_secs_f64(rp),
        }
    }

    /// client-go's defaults pass, with a 3 s safety margin.
    #[test]
    fn defaults_are_valid() {
        let cfg = ElectionConfig::new("l", "ns", "me");
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.timings.safety_margin(), Some(Duration::from_secs(3)));
        assert_eq!(cfg.request_timeout, cfg.timings.default_request_timeout());
    }

    /// Each of client-go's rules rejects what it should.
    #[test]
    fn client_go_rules() {
        assert!(matches!(
            t(15.0, 0.0, 2.0).validate(),
            Err(ConfigError::NotPositive {
                field: TimingField::RenewDeadline
            })
        ));
        assert!(matches!(
            t(10.0, 10.0, 2.0).validate(),
            Err(ConfigError::LeaseDurationNotAboveRenewDeadline { .. })
        ));
        // 2.4 = 1.2 x 2 exactly: rejected, as client-go does (it needs strictly greater).
        assert!(matches!(
            t(15.0, 2.4, 2.0).validate(),
            Err(ConfigError::RenewDeadlineTooShort { .. })
        ));
        assert_eq!(t(15.0, 2.5, 2.0).validate(), Ok(()));
    }

    /// 11 s / 10 s / 2 s satisfies client-go's rules but has no safety margin: refused.
    #[test]
    fn unsafe_margin_is_refused() {
        assert!(matches!(
            t(11.0, 10.0, 2.0).validate(),
            Err(ConfigError::Unsafe { .. })
        ));
        // Exactly zero margin is allowed: LD = RD + RP.
        assert_eq!(t(12.0, 10.0, 2.0).validate(), Ok(()));
        // The short timings the tests use.
        assert_eq!(t(3.0, 2.0, 0.5).validate(), Ok(()));
    }

    /// leaseDurationSeconds is an integer, so a fractional lease duration cannot be written.
    #[test]
    fn lease_duration_is_whole_seconds() {
        assert!(matches!(
            t(15.5, 10.0, 2.0).validate(),
            Err(ConfigError::LeaseDurationNotWholeSeconds { .. })
        ));
    }

    /// An empty identity and a request timeout that could eat the renew deadline are refused.
    #[test]
    fn identity_and_request_timeout() {
        let mut cfg = ElectionConfig::new("l", "ns", "");
        assert_eq!(cfg.validate(), Err(ConfigError::EmptyIdentity));
        cfg.identity = "me".into();
        cfg.request_timeout = cfg.timings.renew_deadline;
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::RequestTimeout { .. })
        ));
    }
}
