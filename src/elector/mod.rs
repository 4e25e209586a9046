//! Kubernetes Lease leader election.
//!
//! This module knows nothing about the program around it: give it a [`kube::Client`], an
//! [`ElectionConfig`] and the work to run while leading, and it does the rest. The files, in
//! the order the algorithm uses them:
//!
//! - [`config`]: the settings, and the timing rules that make one leader at a time possible.
//! - [`record`]: the election fields of a Lease, read from any shape of object.
//! - [`rules`]: the decisions, as pure functions: when a Lease is free, held or expired; what
//!   to write when taking, renewing or releasing it.
//! - `api`: the get / create / update calls, each with a timeout.
//! - [`leadership`]: the handle the leader's work holds for one term.
//! - [`observer`]: a hook for metrics: renewals, their latency, API errors.
//! - `election`: the loop that ties them together: campaign, lead, step down, repeat.
//!
//! # The algorithm in one paragraph
//!
//! A candidate reads the Lease. If it is free, or its holder has not changed it for a whole
//! lease duration *as measured by the candidate's own clock*, the candidate writes itself in
//! as holder with a PUT that carries the resourceVersion it read: if anyone else wrote in
//! between, the API server answers 409 and the candidate lost the race. The leader renews
//! every retry period; if no renewal succeeds within the renew deadline it stops its work.
//! Because the renew deadline is shorter than the lease duration, the old leader has always
//! stopped before a standby is allowed to take over.

pub mod config;
pub mod leadership;
pub mod observer;
pub mod record;
pub mod rules;

mod api;
mod election;

pub use api::{ApiError, Verb};
pub use config::{AfterLoss, ConfigError, ElectionConfig, TimingField, Timings};
pub use election::{ElectionError, ElectionStatus, LeaderElector};
pub use leadership::Leadership;
pub use observer::{ErrorKind, NoObserver, Observer};
