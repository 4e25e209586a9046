//! Kubernetes Lease leader election.
//!
//! This module knows nothing about the program around it: give it a [`kube::Client`], an
//! [`ElectionConfig`] and the work to run while leading, and it does the rest. The files, in
//! the order the algorithm uses them:
//!
//! - [`config`]: the settings, and the timing rules that make one leader at a time possible.
//! - [`record`]: the election fields of a Lease, read from any shape of object.
//! - [`rules`]: the decisions, as pure functions: when a Lease is free, held or expired; what
//!   to write when taking, renewing or releasing it; what to do after a lost race.
//! - `api`: the get / create / update / watch calls, each with a timeout.
//! - `election`: [`LeaderElector`], and the loop between a replica's two states:
//!   - `candidate`: read the Lease, judge it, claim it (the campaign's steps);
//!   - `standby`: watch the Lease while someone else holds it;
//!   - `term`: lead: renew, stop the work, release.
//! - `knowledge`: what this process knows beyond the Lease: the version it last observed,
//!   the records it wrote, the highest fencing token seen.
//! - `status`: [`ElectionStatus`], and the transitions that publish it.
//! - [`leadership`]: the handle the leader's work holds for one term.
//! - [`log_event`]: the `event` field of the log lines programs rely on.
//! - [`hooks`]: hooks for metrics: requests, renewals and their latency, API errors.
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
//!
//! Two refinements close the gaps the name alone leaves open:
//!
//! - **A record is ours only if this process wrote it** ([`rules::Written`]). One that merely
//!   names our identity is another process's claim (a restarted container's predecessor, or a
//!   live twin), judged like anyone's; a standby that sees it renewed reports the duplicate,
//!   a leader that finds one steps down at once, and every new term gets a new fencing token.
//! - **A missing Lease may hide a live leader** ([`rules::on_missing`],
//!   [`rules::work_starts_at`]). A leader whose Lease is deleted recreates it inside its term.
//!   A standby does not recreate it while the holder it last saw may still work. Anyone else
//!   who creates it leads at once, but its work starts (and [`Leadership::still_leading`]
//!   turns true) only one lease duration after it first saw the Lease missing, a brand-new
//!   deployment included.
//!
//! # What "never two leaders" assumes
//!
//! 1. The *rates* of the replicas' monotonic clocks agree within the margin: a standby's
//!    clock may run at most `LD / RD` times as fast as the leader's (1.5 with 15 s / 10 s);
//!    offsets between clocks do not matter at all.
//! 2. The work honours its [`Leadership`]: it awaits [`Leadership::started`], stops when
//!    [`Leadership::ended`] resolves, checks [`Leadership::still_leading`] right before each
//!    leader-only action, and detaches no tasks. Work that does not stop when aborted makes
//!    `run` return [`ElectionError::WorkWouldNotStop`] rather than campaign again.
//! 3. Identities are unique, which is now checked rather than assumed (above).
//!
//! The margin `LD - RD - RP` ([`Timings::safety_margin`]) is not needed between k8sensus
//! replicas, whose term ends at the *start* of the last successful renewal + RD. It is there
//! for client-go leaders sharing the Lease: client-go stops leading only when a renew round
//! that began up to RP after its last success has failed for RD, at last success + RP + RD.
//!
//! The fencing token ([`Leadership::fencing_token`], `leaseTransitions`) grows with every
//! term while the Lease exists, and a process never writes one below the highest it has seen.
//! Across a deletion it is not a global order: a replica that missed the terms in between can
//! repeat a token, and a fresh process starts at 0. Across a deletion the work is kept apart
//! by the one-lease-duration wait, not by the token.

pub mod config;
pub mod hooks;
pub mod leadership;
pub mod log_event;
pub mod record;
pub mod rules;

mod api;
mod candidate;
mod election;
mod knowledge;
mod standby;
mod status;
mod term;

pub use api::{ApiError, Verb};
pub use config::{AfterLoss, ConfigError, ElectionConfig, TimingField, Timings};
pub use election::{ElectionError, LeaderElector, WORK_STARTS_AT_ANNOTATION};
pub use hooks::{ElectionHooks, ErrorKind, NoHooks};
pub use leadership::Leadership;
pub use status::ElectionStatus;
