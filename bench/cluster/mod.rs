//! The benchmark's cluster part (`--cluster`): k8sensus and the client-go reference as
//! Deployments in the one-node cluster (hack/cluster/cluster.py), measured from the outside.
//! bench/cluster.py (`make bench-cluster`) builds the reference's image, then runs this
//! program with it, then renders.
//!
//! What it does, unattended (about 15 minutes with the default counts):
//!
//! 1. starts the one-node cluster with the reference's image imported (the runner builds or
//!    finds k8sensus:0.1.0 from the Dockerfile);
//! 2. deploys k8sensus exactly as the README does (`kubectl apply -k .`, namespace
//!    `k8sensus`) and the reference from an overlay of the same kustomization (namespace
//!    `client-go`) that changes only the image and the arguments; each has its own Lease;
//! 3. measures, per implementation, both deployments at once (see "Alongside"): apply to
//!    the first work; delete the leader pod (20 trials); `kubectl rollout restart` (5);
//!    SIGKILL of the leader container's process (20), each crashed pod then replaced;
//! 4. writes its section, "cluster", as typed structs (`section.rs`, `results.rs`) to
//!    `--out`, which bench/cluster.py merges into results.json, every other key kept (with
//!    the machine's `platform` and `python`, which it alone knows, as bench/run.py does for
//!    the local part).
//!
//! Work is read from the pods' own log lines, from the kubelet's files under the cluster's
//! state directory, tailed every 50 ms (`support::cluster::PodLogs`), so that a deleted pod's
//! last lines are kept: the start of a term's work, each run and its stop, each with
//! `mono_ns`, the host's CLOCK_MONOTONIC, which every container shares with this program.
//! Terms and overlaps follow `support::overlap`. The Leases are watched through the API
//! (`support::lease_watch`), the pods too, for the moment a deletion was accepted.
//!
//! Alongside: the two deployments run at the same time, each through its own sequence of
//! trials on a thread of its own, but the moments that matter are taken in turns: a trial
//! holds the cluster-wide turn from its fault to the end of the churn it causes, and no
//! other trial starts a fault meanwhile. Only the quiet waits overlap (a crash trial's wait
//! for the lease to expire, a settle between trials).
//!
//! The cluster tears itself down when its runner's stdin closes: on every exit path of this
//! program (an error, SIGINT, SIGTERM, SIGHUP), which then checks that nothing of it is left
//! on the host and that the egress guard counted nothing.
//!
//! # Layout
//!
//! In the order a run goes through them:
//!
//! - `mod.rs`: this map, and the entry: from the flags to the exit status.
//! - `args.rs`: the cluster part's flags, and the settings checked from them.
//! - `signals.rs`: SIGINT, SIGTERM and SIGHUP as the stop flag every wait reads.
//! - `run.rs`: the run's shared state (what it started), and the teardown every exit path
//!   goes through, with the leftovers check.
//! - `steps.rs`: the run's steps in their order: start, apply, both sequences of trials,
//!   the section written, the egress guard read.
//! - `apply.rs`: `kubectl apply -k` to the first holder, the first work and three Ready pods.
//! - `deploy.rs`: the overlay that deploys the client-go reference.
//! - `deployment.rs`: a Deployment under test, the turn, the waits trials share.
//! - `trials/`: each deployment's sequence and what every trial shares (`mod.rs`), and each
//!   kind of trial in a file named after it: `delete.rs`, `crash.rs`, `rollout.rs`.
//! - `pod_watch.rs`: the driver's watch on the pods, for when a deletion was accepted.
//! - `results.rs`: the implementations' records and figures as types, and the method.
//! - `section.rs`: the section as written, the run's own keys after the figures.
//! - `paths.rs`: paths relative to another, as os.path.relpath gives them.
//! - `../../tests/support/cluster.rs`: the cluster's runner and client, the pod log tailer,
//!   the host snapshot and the leftovers check, shared with tests/cluster.rs.

mod apply;
mod args;
mod deploy;
mod deployment;
mod paths;
mod pod_watch;
pub mod results;
mod run;
mod section;
mod signals;
mod steps;
mod trials;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use self::args::ClusterArgs;
use self::args::{Flags, Settings};
use self::run::Run;
use self::signals::stop_on_signals;
use crate::progress::log;
use crate::support::cluster::cannot_run_reason;

/// Why a run ends early.
#[derive(Debug)]
pub enum BenchError {
    /// SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// A step failed; the message says which and why.
    Failed(String),
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// The cluster part from the bench program's flags (`--cluster`): 2 for bad usage, else as
/// [`main`].
pub fn main_from(args: &crate::args::Args) -> ExitCode {
    match Settings::try_from(Flags::of(args)) {
        Ok(settings) => {
            crate::progress::set_since(settings.since);
            main(settings)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The cluster part, from its settings to its exit status: 0 when the section was written
/// and nothing was left, 130 when interrupted, 1 otherwise.
pub fn main(settings: Settings) -> ExitCode {
    if let Some(reason) = cannot_run_reason() {
        log(&format!(
            "error: the cluster cannot run here ({reason}); the cluster part needs root"
        ));
        return ExitCode::from(1);
    }
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let mut run = match Run::prepare(settings) {
        Ok(run) => run,
        Err(e) => {
            log(&format!("error: {e}"));
            return ExitCode::from(1);
        }
    };
    let outcome = run.measure(&stop);
    let code = match &outcome {
        Ok(()) => 0,
        Err(BenchError::Interrupted) => {
            log("interrupted; stopping everything");
            130
        }
        Err(BenchError::Failed(e)) => {
            log(&format!("error: {e}"));
            1
        }
    };
    let left = run.stop_everything();
    if code == 0 && !left.is_empty() {
        return ExitCode::from(1);
    }
    ExitCode::from(code)
}
