//! The cluster trials, each kind in a file named after it: `delete.rs` (`kubectl delete pod`
//! of the leader), `crash.rs` (SIGKILL of the leader container's process) and `rollout.rs`
//! (`kubectl rollout restart`); here, what they share and each deployment's sequence of them.
//!
//! Every trial starts the same way ([`steady_turn`]): a steady deployment, then the
//! cluster-wide turn, which it gives back once the churn it caused is over ([`holding_turn`]).
//! A trial whose deployment never steadies is recorded as failed and the sequence goes on.

mod crash;
mod delete;
mod rollout;

use std::collections::BTreeSet;
use std::time::Duration;

use super::Result;
use super::deployment::{Deployment, Steady};
use super::results::Failed;
use crate::progress::log;
use crate::support::lease_watch::epoch_now;

/// How long a trial waits for a steady deployment before it is recorded as failed ("no
/// steady deployment"); [`Deployment::wait_steady`] notes every 30 s of it.
const STEADY_TIMEOUT: Duration = Duration::from_secs(240);
/// How long a deleted or crashed pod may take to leave the API and be replaced by a Ready
/// one; past it a line says so and the next trial's steady wait takes over.
const REPLACE_TIMEOUT: Duration = Duration::from_secs(120);

/// The kinds of trial, by the name the counts and orders give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Delete,
    Crash,
    Rollout,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Delete => "delete",
            Phase::Crash => "crash",
            Phase::Rollout => "rollout",
        }
    }
}

/// How many trials of each kind.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub delete: usize,
    pub crash: usize,
    pub rollout: usize,
}

impl Counts {
    fn of(&self, phase: Phase) -> usize {
        match phase {
            Phase::Delete => self.delete,
            Phase::Crash => self.crash,
            Phase::Rollout => self.rollout,
        }
    }
}

/// One deployment's trials, phase after phase in `order`; the machine's load over each
/// phase is kept as a span (the two deployments' phases overlap in time).
pub fn sequence(dep: &Deployment, order: &[Phase], counts: Counts) -> Result<()> {
    for &phase in order {
        let n = counts.of(phase);
        if n == 0 {
            continue;
        }
        let t0 = epoch_now();
        log(&format!("{}: {} trials, {n}", dep.imp.key, phase.name()));
        for k in 0..n {
            match phase {
                Phase::Delete => delete::trial(dep, k, n)?,
                Phase::Crash => crash::trial(dep, k, n)?,
                Phase::Rollout => rollout::trial(dep, k, n)?,
            }
        }
        dep.ctx.sampler.span(
            &format!("{}: {} trials", dep.imp.key, phase.name()),
            t0,
            epoch_now(),
        );
    }
    dep.set_activity("done (its pods running)");
    Ok(())
}

/// The start of every trial: wait for a steady deployment, then for the cluster-wide turn.
/// The steady state, or `None` (the trial recorded as failed by `failed`) if the deployment
/// never steadied. The caller gives the turn back when its trial is over.
fn steady_turn(
    dep: &Deployment,
    k: usize,
    n: usize,
    waiting: &str,
    what: &str,
    no_restarts: bool,
    failed: impl FnOnce(Failed),
) -> Result<Option<Steady>> {
    dep.set_activity(format!("{waiting} ({}/{n})", k + 1));
    let Some(st) = dep.wait_steady(what, no_restarts, STEADY_TIMEOUT)? else {
        failed(Failed {
            trial: k,
            ok: false,
            old: None,
            reason: "no steady deployment".into(),
        });
        return Ok(None);
    };
    dep.ctx.turn.take(dep.imp.key, dep.ctx.stop)?;
    Ok(Some(st))
}

/// Runs `f` and gives the turn back, whatever it returns.
fn holding_turn<T>(dep: &Deployment, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let out = f();
    dep.ctx.turn.give(dep.imp.key);
    out
}

/// Waits until the pod `old` has left the API and three Ready pods run; a line if that took
/// more than [`REPLACE_TIMEOUT`] (`which`: "deleted", "crashed").
fn wait_replaced(dep: &Deployment, old: &str, which: &str) -> Result<()> {
    if !dep.wait_replaced(&BTreeSet::from([old.to_string()]), REPLACE_TIMEOUT)? {
        log(&format!(
            "{}: the {which} pod {old} was not replaced within {} s",
            dep.imp.key,
            REPLACE_TIMEOUT.as_secs()
        ));
    }
    Ok(())
}
