//! The crash trial: SIGKILL of the leader container's process (its host PID from
//! containerd), to the next work by any pod. The turn is given back once the container runs
//! again (the wait for the Lease to expire is a quiet one), then taken again to replace the
//! crashed pod, so that the next trial's leader is a pod the kubelet has no restart back-off
//! for.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8sensus::telemetry::monotonic_ns;
use rustix::process::{Pid, Signal, kill_process};

use super::{holding_turn, steady_turn, wait_replaced};
use crate::cluster::deployment::{Deployment, LEASE_DURATION, LOG_POLL, container_status};
use crate::cluster::results::{CrashTrial, CrashWork, Failed, Taken, Trial};
use crate::cluster::{BenchError, Result};
use crate::progress::{fs_log, log};
use crate::support::cluster::PodLine;
use crate::support::lease_watch::{LeaseEvent, epoch_now};

/// How long the killed container may take to log its first line again (the kubelet restarts
/// it at once the first time); the turn is held until then, or until this passes.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);
/// The margin beyond the Lease's duration for a pod to work again after the kill (a standby
/// may take the Lease only once it has expired); past both, the trial is recorded without
/// work (not ok).
const WORK_AFTER_EXPIRY: Duration = Duration::from_secs(45);

/// The `k`-th of `n` crash trials, recorded in the deployment's `raw.crash`. Its steady wait
/// asks for a holder whose container has never restarted (see [`replace`]).
pub(super) fn trial(dep: &Deployment, k: usize, n: usize) -> Result<()> {
    let record = |t| dep.raw.lock().unwrap().crash.push(t);
    let Some(st) = steady_turn(
        dep,
        k,
        n,
        "waiting to crash the leader's container",
        "a crash trial",
        true,
        |f| record(Trial::Failed(f)),
    )?
    else {
        return Ok(());
    };
    holding_turn(dep, || {
        dep.set_activity(format!(
            "crash trial {} (the kill and the container's restart)",
            k + 1
        ));
        let old = st.holder;
        let pid = match leader_task(dep, &st.pods[&old]) {
            Ok(pid) => pid,
            Err(cid) => {
                record(Trial::Failed(Failed {
                    trial: k,
                    ok: false,
                    old: Some(old),
                    reason: format!("no running task for {cid:?}"),
                }));
                return Ok(());
            }
        };
        let kill = kill(dep, pid)?;
        let seen = after_kill(dep, k, &old, &kill)?;
        let rec = record_of(dep, k, &old, &kill, seen);
        progress(dep, &rec, k, n);
        record(Trial::Ran(rec));
        replace(dep, k, &old)
    })
}

/// The host PID of the leader's container's task, from containerd; else the container's id
/// (empty if the pod's status has none).
fn leader_task(dep: &Deployment, pod: &Pod) -> Result<u32, String> {
    let cid = container_status(pod)
        .and_then(|c| c.container_id.as_deref())
        .unwrap_or("")
        .trim_start_matches("containerd://")
        .to_string();
    let pid = if cid.is_empty() {
        None
    } else {
        dep.ctx.cluster.task_pid(&cid)
    };
    pid.ok_or(cid)
}

/// The kill, and what was true just before it.
struct Kill {
    pid: u32,
    beside: String,
    /// The old holder's last renewal, as the Lease watch last saw it.
    last_renew: Option<f64>,
    /// The Lease watch's events so far, to read those after the kill.
    idx: usize,
    /// When the signal was sent: wall clock, and CLOCK_MONOTONIC.
    t_wall: f64,
    t_mono: u64,
}

/// SIGKILL to `pid`, the leader container's process.
fn kill(dep: &Deployment, pid: u32) -> Result<Kill> {
    let beside = dep.beside();
    let last_renew = dep.latest().and_then(|e| e.renew);
    let idx = dep.ctx.leases.count(dep.ns());
    let target = Pid::from_raw(pid as i32)
        .ok_or_else(|| BenchError::Failed(format!("not a process id: {pid}")))?;
    let (t_wall, t_mono) = (epoch_now(), monotonic_ns());
    kill_process(target, Signal::KILL)
        .map_err(|e| BenchError::Failed(format!("kill -KILL {pid}: {e}")))?;
    Ok(Kill {
        pid,
        beside,
        last_renew,
        idx,
        t_wall,
        t_mono,
    })
}

/// The lines after the kill: the restarted container's first, then (the turn given back)
/// the first work by any pod.
struct AfterKill {
    restarted: Option<PodLine>,
    work: Option<PodLine>,
}

/// Waits for the killed container's first line again (the turn still held), gives the turn
/// back, then waits for the first work by any pod after the kill.
fn after_kill(dep: &Deployment, k: usize, old: &str, kill: &Kill) -> Result<AfterKill> {
    let ns = dep.ns();
    let restarted = dep.ctx.wait(RESTART_TIMEOUT, LOG_POLL, || {
        Ok(dep.ctx.logs.first_line(ns, old, 1))
    })?;
    dep.ctx.turn.give(dep.imp.key);
    dep.set_activity(format!(
        "crash trial {} (waiting for a leader to work again)",
        k + 1
    ));
    let work = dep
        .ctx
        .wait(LEASE_DURATION + WORK_AFTER_EXPIRY, LOG_POLL, || {
            Ok(dep.ctx.logs.first_work_after(ns, kill.t_mono, None))
        })?;
    Ok(AfterKill { restarted, work })
}

/// The trial's record: ok when a pod worked again.
fn record_of(dep: &Deployment, k: usize, old: &str, kill: &Kill, seen: AfterKill) -> CrashTrial {
    let (t_wall, t_mono, last_renew) = (kill.t_wall, kill.t_mono, kill.last_renew);
    let (taken, renewed) = lease_after_kill(dep, old, kill);
    let work = seen.work.and_then(|w| Some((w.mono_ns()?, w)));
    CrashTrial {
        trial: k,
        ok: work.is_some(),
        old: old.to_string(),
        beside: kill.beside.clone(),
        kill_t: t_wall,
        kill_mono_ns: t_mono,
        host_pid: kill.pid,
        last_renew_t: last_renew,
        kill_after_renew_s: last_renew.map(|r| t_wall - r),
        restarted_s: seen.restarted.and_then(|r| r.cri_time).map(|t| t - t_wall),
        work: work.as_ref().map(|(m, w)| CrashWork {
            worker: w.pod.clone(),
            same_pod: w.pod == old,
            work_mono_ns: *m,
            to_work_s: (m - t_mono) as f64 / 1e9,
            worker_restarted_container: w.restart > 0 && w.pod == old,
        }),
        taken: taken.map(|e| Taken {
            new_holder: e.holder.clone(),
            acquire_t: e.acquire,
            last_renew_to_acquire_s: match (e.acquire, last_renew) {
                (Some(a), Some(r)) => Some(a - r),
                _ => None,
            },
        }),
        first_renewal_by_old_holder_s: renewed.and_then(|e| e.renew).map(|r| r - t_wall),
    }
}

/// From the Lease's events after the kill: the first that a holder acquired (another pod, or
/// the old one again), and the first renewal by the old holder.
fn lease_after_kill(
    dep: &Deployment,
    old: &str,
    kill: &Kill,
) -> (Option<LeaseEvent>, Option<LeaseEvent>) {
    let evs: Vec<_> = dep
        .ctx
        .leases
        .since(dep.ns(), kill.idx)
        .into_iter()
        .filter(|e| !e.holder.is_empty())
        .collect();
    let taken = evs
        .iter()
        .find(|e| e.holder != old || e.acquire.unwrap_or(0.0) > kill.t_wall);
    let renewed = evs
        .iter()
        .find(|e| e.holder == old && e.renew.unwrap_or(0.0) > kill.t_wall);
    (taken.cloned(), renewed.cloned())
}

/// The trial's progress line.
fn progress(dep: &Deployment, rec: &CrashTrial, k: usize, n: usize) {
    let who = match &rec.work {
        None => "none".to_string(),
        Some(w) if w.same_pod => "the restarted container".to_string(),
        Some(w) => w.worker.clone(),
    };
    log(&format!(
        "crash   {:9} trial {:2}/{n}: work again after {} by {who} (container restarted after {}, killed {} after the last renewal; beside {})",
        dep.imp.key,
        k + 1,
        fs_log(rec.work.as_ref().map(|w| w.to_work_s)),
        fs_log(rec.restarted_s),
        fs_log(rec.kill_after_renew_s),
        rec.beside,
    ));
}

/// The kubelet restarts a container at once only the first time; the next crash of the same
/// pod would wait out a back-off of 10 s and more. So the crashed pod is replaced, the turn
/// taken again for it (and given back by [`holding_turn`]).
fn replace(dep: &Deployment, k: usize, old: &str) -> Result<()> {
    dep.ctx.turn.take(dep.imp.key, dep.ctx.stop)?;
    dep.set_activity(format!("crash trial {} (replacing the crashed pod)", k + 1));
    let ns = dep.ns();
    let (child, _, _) = dep.spawn_kubectl(&["delete", "pod", old, "-n", ns, "--wait=false"])?;
    dep.kubectl_done(child, &format!("delete pod {old}"))?;
    wait_replaced(dep, old, "crashed")
}
