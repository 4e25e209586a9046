//! The `event` field of the elector's log lines: a stable name for each thing that happens.
//!
//! The messages are written for people and may be reworded at any time; these names are
//! the contract for programs that read the logs (tests, the chaos checker, the benchmark,
//! the demo scripts). A line that matters to a program carries `event = <one of these>`.
//! The program around the elector adds its own (see the crate's `log_event` module).

/// A candidate starts trying to acquire the Lease.
pub const CAMPAIGNING: &str = "campaigning";
/// This replica is the leader: it created the Lease or wrote itself in as holder.
pub const ACQUIRED: &str = "acquired";
/// This replica created the missing Lease, so its work waits one lease duration.
pub const WORK_DELAYED: &str = "work_delayed";
/// The term ended (for any reason) and its work has been stopped.
pub const STOPPED_LEADING: &str = "stopped_leading";
/// The Lease was given back (holder emptied) so that a standby may take it at once.
pub const RELEASED: &str = "released";
/// A standby saw the holder's claim run out and is taking the Lease over.
pub const TAKING_OVER: &str = "taking_over";
/// The Lease asks for a longer duration than the elector honours; the cap is used instead.
pub const DURATION_CAPPED: &str = "duration_capped";
/// Another process renews the Lease under this replica's identity.
pub const DUPLICATE_IDENTITY: &str = "duplicate_identity";
