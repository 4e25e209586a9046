//! The first step for each Deployment: `kubectl apply -k` on an empty namespace, to the first
//! work, the first holder and three Ready pods.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use k8sensus::telemetry::monotonic_ns;

use super::deployment::{Deployment, LOG_POLL};
use super::paths::relative_to_repo;
use super::results::Apply;
use super::{BenchError, Result};
use crate::progress::{fs_log, log};
use crate::support::cluster::PodLine;
use crate::support::lease_watch::epoch_now;

/// How long the first work may take after `kubectl apply`; past it the run fails, since no
/// trial can start without a working deployment.
const FIRST_WORK_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the three pods may take to be Ready; past it `three_ready_s` is null.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Applies `kustomization` for `dep` and records what followed in its `apply`.
pub fn apply_and_first_work(dep: &Deployment, kustomization: &Path, log_dir: &Path) -> Result<()> {
    let ns = dep.ns();
    dep.set_activity("kubectl apply");
    let idx = dep.ctx.leases.count(ns);
    let (t_wall, t_mono) = kubectl_apply(dep, kustomization)?;
    let (work_mono, work) = first_work(dep, t_mono, log_dir)?;
    let first = dep
        .ctx
        .leases
        .since(ns, idx)
        .into_iter()
        .find(|e| !e.holder.is_empty());
    let ready = dep.wait_replaced(&BTreeSet::new(), READY_TIMEOUT)?;
    let first_work_s = (work_mono - t_mono) as f64 / 1e9;
    let first_acquire_s = first.as_ref().and_then(|f| f.acquire).map(|a| a - t_wall);
    let apply = Apply {
        command: format!("kubectl apply -k {}", relative_to_repo(kustomization)),
        apply_t: t_wall,
        first_work_s,
        first_worker: work.pod.clone(),
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

/// Runs `kubectl apply -k` to its end; the wall and monotonic time it was started. An error
/// if it fails.
fn kubectl_apply(dep: &Deployment, kustomization: &Path) -> Result<(f64, u64)> {
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
    Ok((t_wall, t_mono))
}

/// The first work line by any pod after `t_mono`, with its CLOCK_MONOTONIC; an error after
/// [`FIRST_WORK_TIMEOUT`].
fn first_work(dep: &Deployment, t_mono: u64, log_dir: &Path) -> Result<(u64, PodLine)> {
    dep.ctx
        .wait(FIRST_WORK_TIMEOUT, LOG_POLL, || {
            Ok(dep
                .ctx
                .logs
                .first_work_after(dep.ns(), t_mono, None)
                .and_then(|w| Some((w.mono_ns()?, w))))
        })?
        .ok_or_else(|| {
            BenchError::Failed(format!(
                "{}: no work within {} s of kubectl apply; pod logs in {}",
                dep.imp.key,
                FIRST_WORK_TIMEOUT.as_secs(),
                log_dir.display()
            ))
        })
}
