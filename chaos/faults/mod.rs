//! The catalogue: every fault the suite injects, by name, with the sentence CHAOS.md gives it
//! and the script that injects it. Each script is a file of its own here, named after its
//! fault; it starts its replicas through the [`Trial`], injects the fault at a random moment,
//! marks when it is over, and notes what it measured. The checks that follow every fault
//! (recovery, survivors, panics, overlaps, the gap) are [`Trial::finish`]'s.

mod apiserver_restart;
mod connection_reset_leader;
mod kill9_leader;
mod kill9_restart_same_identity;
mod latency_leader;
mod lease_deleted;
mod lease_duration_edited;
mod lease_edited;
pub mod mixed_fleet_client_go;
mod partition_delete_fresh_replica;
mod partition_leader;
mod sigstop_leader;
mod sigstop_takeover_delete_resume;
mod sigterm_leader;
pub mod standby_clock_fast;
mod ten_start_together;
mod two_with_one_identity;

use std::time::Duration;

use crate::trial::Trial;

/// One kind of fault. The order is part of every trial's seed (see
/// [`crate::args::Settings::trial_seed`]): a new fault goes at the end, or every replayed seed
/// changes meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Kill9,
    Sigterm,
    Sigstop,
    Partition,
    Latency,
    ConnectionReset,
    LeaseDeleted,
    LeaseEdited,
    StartTogether,
    ClockSkew,
    ApiserverRestart,
    SigstopDeleteResume,
    PartitionDeleteFresh,
    SameIdentity,
    RestartSameIdentity,
    MixedFleet,
    LeaseDuration1,
    LeaseDurationMax,
}

impl Fault {
    /// Every fault, in the order the suite runs and reports them.
    pub const ALL: [Fault; 18] = [
        Fault::Kill9,
        Fault::Sigterm,
        Fault::Sigstop,
        Fault::Partition,
        Fault::Latency,
        Fault::ConnectionReset,
        Fault::LeaseDeleted,
        Fault::LeaseEdited,
        Fault::StartTogether,
        Fault::ClockSkew,
        Fault::ApiserverRestart,
        Fault::SigstopDeleteResume,
        Fault::PartitionDeleteFresh,
        Fault::SameIdentity,
        Fault::RestartSameIdentity,
        Fault::MixedFleet,
        Fault::LeaseDuration1,
        Fault::LeaseDurationMax,
    ];

    /// The name used by `--only`, in the results and in CHAOS.md.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill9 => "kill9_leader",
            Fault::Sigterm => "sigterm_leader",
            Fault::Sigstop => "sigstop_leader",
            Fault::Partition => "partition_leader",
            Fault::Latency => "latency_leader",
            Fault::ConnectionReset => "connection_reset_leader",
            Fault::LeaseDeleted => "lease_deleted",
            Fault::LeaseEdited => "lease_edited",
            Fault::StartTogether => "ten_start_together",
            Fault::ClockSkew => "standby_clock_fast",
            Fault::ApiserverRestart => "apiserver_restart",
            Fault::SigstopDeleteResume => "sigstop_takeover_delete_resume",
            Fault::PartitionDeleteFresh => "partition_delete_fresh_replica",
            Fault::SameIdentity => "two_with_one_identity",
            Fault::RestartSameIdentity => "kill9_restart_same_identity",
            Fault::MixedFleet => "mixed_fleet_client_go",
            Fault::LeaseDuration1 => "lease_duration_edited_to_1",
            Fault::LeaseDurationMax => "lease_duration_edited_to_max",
        }
    }

    pub fn by_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What the fault does, in one sentence (CHAOS.md lists them).
    pub fn what(self) -> String {
        match self {
            Fault::Kill9 => kill9_leader::what(),
            Fault::Sigterm => sigterm_leader::what(),
            Fault::Sigstop => sigstop_leader::what(),
            Fault::Partition => partition_leader::what(),
            Fault::Latency => latency_leader::what(),
            Fault::ConnectionReset => connection_reset_leader::what(),
            Fault::LeaseDeleted => lease_deleted::what(),
            Fault::LeaseEdited => lease_edited::what(),
            Fault::StartTogether => ten_start_together::what(),
            Fault::ClockSkew => standby_clock_fast::what(),
            Fault::ApiserverRestart => apiserver_restart::what(),
            Fault::SigstopDeleteResume => sigstop_takeover_delete_resume::what(),
            Fault::PartitionDeleteFresh => partition_delete_fresh_replica::what(),
            Fault::SameIdentity => two_with_one_identity::what(),
            Fault::RestartSameIdentity => kill9_restart_same_identity::what(),
            Fault::MixedFleet => mixed_fleet_client_go::what(),
            Fault::LeaseDuration1 => lease_duration_edited::what(1),
            Fault::LeaseDurationMax => lease_duration_edited::what(i32::MAX),
        }
    }

    /// Faults that disturb every namespace of the control plane: they run alone.
    pub fn exclusive(self) -> bool {
        self == Fault::ApiserverRestart
    }

    /// Runs the fault's script in `t`: an `Err` is a failed check of the script's own.
    pub async fn inject(self, t: &mut Trial) -> Result<(), String> {
        match self {
            Fault::Kill9 => kill9_leader::run(t).await,
            Fault::Sigterm => sigterm_leader::run(t).await,
            Fault::Sigstop => sigstop_leader::run(t).await,
            Fault::Partition => partition_leader::run(t).await,
            Fault::Latency => latency_leader::run(t).await,
            Fault::ConnectionReset => connection_reset_leader::run(t).await,
            Fault::LeaseDeleted => lease_deleted::run(t).await,
            Fault::LeaseEdited => lease_edited::run(t).await,
            Fault::StartTogether => ten_start_together::run(t).await,
            Fault::ClockSkew => standby_clock_fast::run(t).await,
            Fault::ApiserverRestart => apiserver_restart::run(t).await,
            Fault::SigstopDeleteResume => sigstop_takeover_delete_resume::run(t).await,
            Fault::PartitionDeleteFresh => partition_delete_fresh_replica::run(t).await,
            Fault::SameIdentity => two_with_one_identity::run(t).await,
            Fault::RestartSameIdentity => kill9_restart_same_identity::run(t).await,
            Fault::MixedFleet => mixed_fleet_client_go::run(t).await,
            Fault::LeaseDuration1 => lease_duration_edited::run(t, 1).await,
            Fault::LeaseDurationMax => lease_duration_edited::run(t, i32::MAX).await,
        }
    }
}

/// `s` seconds.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Cuts the replica `leader` off from the API server for `hold`, then lets it through again,
/// and notes how long the partition lasted.
pub async fn partition_for(t: &mut Trial, leader: usize, hold: Duration) {
    t.fault_on(leader);
    t.fleet().proxies[leader].blackhole();
    tokio::time::sleep(hold).await;
    t.fleet().proxies[leader].pass();
    t.healed();
    t.notes.partitioned_s = Some(crate::support::stats::round3(hold.as_secs_f64()));
}
