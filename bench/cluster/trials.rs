//! The cluster trials: delete the leader pod, crash the leader's container, roll out; each
//! deployment's sequence of them; and the first apply.
//!
//! Every trial starts the same way ([`steady_turn`]): a steady deployment, then the
//! cluster-wide turn, which it gives back once the churn it caused is over.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use k8sensus::telemetry::monotonic_ns;
use rustix::process::{Pid, Signal, kill_process};

use super::deployment::{
    API_POLL, DEPLOYMENT, Deployment, LEASE_DURATION, LOG_POLL, REPLICAS, Steady, container_status,
    is_ready,
};
use super::results::{
    Apply, CrashTrial, CrashWork, DeleteHolder, DeleteTrial, Failed, FirstWork, Leaderless,
    RolloutTrial, Taken, TermRecord, Trial,
};
use super::{BenchError, Result, relative_to_repo};
use crate::progress::{fs_log, log};
use crate::support::lease_watch::epoch_now;
use crate::support::overlap::find_overlaps;

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
    let Some(st) = dep.wait_steady(what, no_restarts, Duration::from_secs(240))? else {
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

/// `kubectl delete pod <holder>`: to the new holder, its first work, the old leader's stop;
/// then the turn is held until the pod is replaced.
fn delete_trial(dep: &Deployment, k: usize, n: usize) -> Result<()> {
    let ns = dep.ns();
    let record = |t| dep.raw.lock().unwrap().delete.push(t);
    let Some(st) = steady_turn(
        dep,
        k,
        n,
        "waiting to delete the leader pod",
        "a delete trial",
        false,
        |f| record(Trial::Failed(f)),
    )?
    else {
        return Ok(());
    };
    holding_turn(dep, || {
        dep.set_activity(format!("delete trial {}", k + 1));
        let old = st.holder;
        let beside = dep.beside();
        let idx = dep.ctx.leases.count(ns);
        let (child, t_wall, t_mono) =
            dep.spawn_kubectl(&["delete", "pod", &old, "-n", ns, "--wait=false"])?;
        let ev = dep.ctx.wait(Duration::from_secs(60), Duration::ZERO, || {
            Ok(dep.ctx.leases.new_holder_since(ns, idx, &old))
        })?;
        let kubectl_t = dep.kubectl_done(child, &format!("delete pod {old}"))?;
        let work = match &ev {
            Some(ev) => dep.ctx.wait(Duration::from_secs(60), LOG_POLL, || {
                Ok(dep.ctx.logs.first_work_after(ns, t_mono, Some(&ev.holder)))
            })?,
            None => None,
        };
        let stop = dep.ctx.wait(Duration::from_secs(10), LOG_POLL, || {
            Ok(dep.ctx.logs.stopped_after(ns, &old, t_mono))
        })?;
        let accepted = dep.ctx.pod_watch.deletion_seen(ns, &old);
        let holder = ev.as_ref().map(|ev| {
            let released = dep
                .ctx
                .leases
                .since(ns, idx)
                .into_iter()
                .find(|e| e.holder.is_empty());
            DeleteHolder {
                new: ev.holder.clone(),
                acquire_t: ev.acquire,
                seen_t: ev.t,
                to_holder_s: ev.acquire.map(|a| a - t_wall),
                to_holder_seen_s: ev.t - t_wall,
                released: released.is_some(),
                release_seen_s: released.map(|r| r.t - t_wall),
                transitions: ev.lease_transitions,
            }
        });
        let work_mono = work.as_ref().and_then(|w| w.mono_ns());
        let rec = DeleteTrial {
            trial: k,
            ok: ev.as_ref().is_some_and(|e| e.acquire.is_some()) && work_mono.is_some(),
            old: old.clone(),
            beside: beside.clone(),
            delete_t: t_wall,
            delete_mono_ns: t_mono,
            kubectl_returned_s: kubectl_t - t_wall,
            deletion_seen_s: accepted.map(|a| a - t_wall),
            deletion_seen_to_holder_s: match (ev.as_ref().and_then(|e| e.acquire), accepted) {
                (Some(acquire), Some(accepted)) => Some(acquire - accepted),
                _ => None,
            },
            holder,
            work: work_mono.map(|m| FirstWork {
                work_mono_ns: m,
                to_work_s: (m - t_mono) as f64 / 1e9,
            }),
            leaderless: match (work_mono, stop.as_ref().and_then(|s| s.mono_ns())) {
                (Some(w), Some(s)) => Some(Leaderless {
                    old_stop_mono_ns: s,
                    leaderless_s: (w as f64 - s as f64) / 1e9,
                }),
                _ => None,
            },
        };
        log(&format!(
            "delete  {:9} trial {:2}/{n}: new holder {}, first work {} (the API's deletion seen at {}; beside {beside})",
            dep.imp.key,
            k + 1,
            fs_log(rec.holder.as_ref().and_then(|h| h.to_holder_s)),
            fs_log(rec.work.as_ref().map(|w| w.to_work_s)),
            fs_log(rec.deletion_seen_s),
        ));
        record(Trial::Ran(rec));
        if !dep.wait_replaced(&BTreeSet::from([old.clone()]), Duration::from_secs(120))? {
            log(&format!(
                "{}: the deleted pod {old} was not replaced within 120 s",
                dep.imp.key
            ));
        }
        Ok(())
    })
}

/// SIGKILL of the leader container's process (its host PID from containerd): to the next
/// work by any pod. The turn is given back once the container runs again (the wait for the
/// Lease to expire is a quiet one), then taken again to replace the crashed pod, so that the
/// next trial's leader is a pod the kubelet has no restart back-off for.
fn crash_trial(dep: &Deployment, k: usize, n: usize) -> Result<()> {
    let ns = dep.ns();
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
        let cid = container_status(&st.pods[&old])
            .and_then(|c| c.container_id.as_deref())
            .unwrap_or("")
            .trim_start_matches("containerd://")
            .to_string();
        let pid = if cid.is_empty() {
            None
        } else {
            dep.ctx.cluster.task_pid(&cid)
        };
        let Some(pid) = pid else {
            record(Trial::Failed(Failed {
                trial: k,
                ok: false,
                old: Some(old),
                reason: format!("no running task for {cid:?}"),
            }));
            return Ok(());
        };
        let beside = dep.beside();
        let last_renew = dep.latest().and_then(|e| e.renew);
        let idx = dep.ctx.leases.count(ns);
        let target = Pid::from_raw(pid as i32)
            .ok_or_else(|| BenchError::Failed(format!("not a process id: {pid}")))?;
        let (t_wall, t_mono) = (epoch_now(), monotonic_ns());
        kill_process(target, Signal::KILL)
            .map_err(|e| BenchError::Failed(format!("kill -KILL {pid}: {e}")))?;
        let restarted = dep.ctx.wait(Duration::from_secs(60), LOG_POLL, || {
            Ok(dep.ctx.logs.first_line(ns, &old, 1))
        })?;
        dep.ctx.turn.give(dep.imp.key);
        dep.set_activity(format!(
            "crash trial {} (waiting for a leader to work again)",
            k + 1
        ));
        let work = dep
            .ctx
            .wait(LEASE_DURATION + Duration::from_secs(45), LOG_POLL, || {
                Ok(dep.ctx.logs.first_work_after(ns, t_mono, None))
            })?;
        let evs: Vec<_> = dep
            .ctx
            .leases
            .since(ns, idx)
            .into_iter()
            .filter(|e| !e.holder.is_empty())
            .collect();
        let taken = evs
            .iter()
            .find(|e| e.holder != old || e.acquire.unwrap_or(0.0) > t_wall);
        let renewed = evs
            .iter()
            .find(|e| e.holder == old && e.renew.unwrap_or(0.0) > t_wall);
        let work = work.and_then(|w| Some((w.mono_ns()?, w)));
        let rec = CrashTrial {
            trial: k,
            ok: work.is_some(),
            old: old.clone(),
            beside: beside.clone(),
            kill_t: t_wall,
            kill_mono_ns: t_mono,
            host_pid: pid,
            last_renew_t: last_renew,
            kill_after_renew_s: last_renew.map(|r| t_wall - r),
            restarted_s: restarted.and_then(|r| r.cri_time).map(|t| t - t_wall),
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
        };
        let who = match &rec.work {
            None => "none".to_string(),
            Some(w) if w.same_pod => "the restarted container".to_string(),
            Some(w) => w.worker.clone(),
        };
        log(&format!(
            "crash   {:9} trial {:2}/{n}: work again after {} by {who} (container restarted after {}, killed {} after the last renewal; beside {beside})",
            dep.imp.key,
            k + 1,
            fs_log(rec.work.as_ref().map(|w| w.to_work_s)),
            fs_log(rec.restarted_s),
            fs_log(rec.kill_after_renew_s),
        ));
        record(Trial::Ran(rec));
        // The kubelet restarts a container at once only the first time; the next crash of
        // the same pod would wait out a back-off of 10 s and more. Replace the crashed pod.
        dep.ctx.turn.take(dep.imp.key, dep.ctx.stop)?;
        dep.set_activity(format!("crash trial {} (replacing the crashed pod)", k + 1));
        let (child, _, _) =
            dep.spawn_kubectl(&["delete", "pod", &old, "-n", ns, "--wait=false"])?;
        dep.kubectl_done(child, &format!("delete pod {old}"))?;
        if !dep.wait_replaced(&BTreeSet::from([old.clone()]), Duration::from_secs(120))? {
            log(&format!(
                "{}: the crashed pod {old} was not replaced within 120 s",
                dep.imp.key
            ));
        }
        Ok(())
    })
}

/// `kubectl rollout restart`: until no old pod is left, three new pods are Ready and the
/// holder works; then the terms of work that covered that stretch, their gaps and overlaps.
fn rollout_trial(dep: &Deployment, k: usize, n: usize) -> Result<()> {
    let ns = dep.ns();
    let record = |t| dep.raw.lock().unwrap().rollout.push(t);
    let Some(st) = steady_turn(dep, k, n, "waiting to roll out", "a rollout", false, |f| {
        record(Trial::Failed(f))
    })?
    else {
        return Ok(());
    };
    holding_turn(dep, || {
        dep.set_activity(format!("rollout {}", k + 1));
        let beside = dep.beside();
        let old_pods: BTreeSet<String> = st.pods.into_keys().collect();
        let target = format!("deployment/{DEPLOYMENT}");
        let (child, t_wall, t_mono) =
            dep.spawn_kubectl(&["rollout", "restart", &target, "-n", ns])?;
        dep.kubectl_done(child, "rollout restart")?;
        let done = dep.ctx.wait(Duration::from_secs(300), API_POLL, || {
            let pods = dep.pods();
            let h = dep.holder();
            if pods.len() != REPLICAS
                || pods.keys().any(|p| old_pods.contains(p))
                || !pods.values().all(is_ready)
                || !pods.contains_key(&h)
            {
                return Ok(None);
            }
            let worked = dep
                .ctx
                .logs
                .first_work_after(ns, t_mono, Some(&h))
                .is_some();
            Ok((worked && dep.ctx.logs.working(ns, &h)).then_some(()))
        })?;
        dep.ctx.sleep(Duration::from_secs(1))?; // the last lines of the old pods reach the tailer
        let t_end = monotonic_ns();
        // The terms that worked during the rollout, the one working when it began included
        // (a term works until its stop line, so its end is after the restart).
        let ts: Vec<_> = dep
            .ctx
            .logs
            .terms(ns)
            .into_iter()
            .filter(|t| t.last_ns >= t_mono && t.first_ns <= t_end)
            .collect();
        let gaps: Vec<f64> = ts
            .windows(2)
            .map(|w| (w[1].first_ns as f64 - w[0].last_ns as f64) / 1e9)
            .collect();
        let ov = find_overlaps(&ts);
        let rec = RolloutTrial {
            trial: k,
            ok: done.is_some() && !ts.is_empty(),
            beside: beside.clone(),
            restart_t: t_wall,
            restart_mono_ns: t_mono,
            end_mono_ns: t_end,
            duration_s: (t_end - t_mono) as f64 / 1e9 - 1.0,
            handovers: ts.len().saturating_sub(1),
            leaderless_total_s: gaps.iter().filter(|g| **g > 0.0).sum(),
            leaderless_max_s: gaps
                .iter()
                .copied()
                .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))))
                .unwrap_or(0.0),
            gaps_s: gaps,
            overlaps: ov.len(),
            terms: ts.iter().map(TermRecord::of).collect(),
            old_pods: old_pods.into_iter().collect(),
            overlap_detail: (!ov.is_empty()).then(|| {
                ov.iter()
                    .map(|o| {
                        format!(
                            "{} [{}, {}] and {} [{}, {}]",
                            o.a.replica,
                            o.a.first_ns,
                            o.a.last_ns,
                            o.b.replica,
                            o.b.first_ns,
                            o.b.last_ns
                        )
                    })
                    .collect()
            }),
        };
        log(&format!(
            "rollout {:9} trial {:2}/{n}: {} handovers, leaderless {} in all (longest {}), {} overlaps, rollout {:.1} s (beside {beside})",
            dep.imp.key,
            k + 1,
            rec.handovers,
            fs_log(Some(rec.leaderless_total_s)),
            fs_log(Some(rec.leaderless_max_s)),
            rec.overlaps,
            rec.duration_s,
        ));
        record(Trial::Ran(rec));
        Ok(())
    })
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
                Phase::Delete => delete_trial(dep, k, n)?,
                Phase::Crash => crash_trial(dep, k, n)?,
                Phase::Rollout => rollout_trial(dep, k, n)?,
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

/// `kubectl apply -k` on an empty namespace, to the first work, the first holder and three
/// Ready pods.
pub fn apply_and_first_work(dep: &Deployment, kustomization: &Path, log_dir: &Path) -> Result<()> {
    let ns = dep.ns();
    dep.set_activity("kubectl apply");
    let idx = dep.ctx.leases.count(ns);
    let path = kustomization.display().to_string();
    let mut command = dep.ctx.cluster.kubectl_command(&["apply", "-k", &path]);
    command.stdin(Stdio::null());
    let (t_wall, t_mono) = (epoch_now(), monotonic_ns());
    let out = command
        .output()
        .map_err(|e| BenchError::Failed(format!("cannot run kubectl apply: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Failed(format!(
            "kubectl apply -k {path} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let work = dep
        .ctx
        .wait(Duration::from_secs(180), LOG_POLL, || {
            Ok(dep
                .ctx
                .logs
                .first_work_after(ns, t_mono, None)
                .and_then(|w| Some((w.mono_ns()?, w))))
        })?
        .ok_or_else(|| {
            BenchError::Failed(format!(
                "{}: no work within 180 s of kubectl apply; pod logs in {}",
                dep.imp.key,
                log_dir.display()
            ))
        })?;
    let first = dep
        .ctx
        .leases
        .since(ns, idx)
        .into_iter()
        .find(|e| !e.holder.is_empty());
    let ready = dep.wait_replaced(&BTreeSet::new(), Duration::from_secs(120))?;
    let first_work_s = (work.0 - t_mono) as f64 / 1e9;
    let first_acquire_s = first.as_ref().and_then(|f| f.acquire).map(|a| a - t_wall);
    let apply = Apply {
        command: format!("kubectl apply -k {}", relative_to_repo(kustomization)),
        apply_t: t_wall,
        first_work_s,
        first_worker: work.1.pod.clone(),
        first_holder: first.as_ref().map(|f| f.holder.clone()),
        first_acquire_s,
        three_ready_s: ready.then(|| epoch_now() - t_wall),
        acquire_to_work_s: first_acquire_s.map(|a| first_work_s - a),
    };
    log(&format!(
        "apply   {:9}: first holder after {}, first work after {}",
        dep.imp.key,
        fs_log(apply.first_acquire_s),
        fs_log(Some(apply.first_work_s)),
    ));
    *dep.apply.lock().unwrap() = Some(apply);
    Ok(())
}
