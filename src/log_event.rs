//! Every `event` field k8sensus logs, in one place: the elector's and the demo's.
//!
//! Programs that read k8sensus's logs (the tests, the chaos checker, the benchmark and the
//! demo scripts) match on these names, never on the wording of a message, so the walkthrough's
//! sentences can change without changing what is measured. With `--log-format json` each
//! line is an object whose top-level `event` key holds the name; in plain text it shows
//! as `event="..."`.

pub use crate::elector::log_event::*;

/// The leader's work began (after any delay the elector asked for).
pub const WORK_STARTED: &str = "work_started";
/// A run of the sample task was due, but the term had just ended: it did not run.
pub const WORK_SKIPPED: &str = "work_skipped";
/// One run of the sample task: "k8sensus is running sample task.".
pub const WORK_RUN: &str = "work_run";
/// The leader's work stopped; `ended_mono_ns` is when its authority ended.
pub const WORK_STOPPED: &str = "work_stopped";
/// The replica learned who leads now ("I'm the new leader!", "New leader is: ...").
pub const NEW_LEADER: &str = "new_leader";
