//! Time to first leadership: one replica started on a namespace whose Lease was just
//! deleted, from its spawn to the acquireTime it wrote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams};

use crate::driver::Bench;
use crate::progress::log;
use crate::results::FirstRun;
use crate::support::replica::{Implementation, LoggedReplica};
use crate::support::{LEASE, Timings};
use crate::trials::wait_for;

/// How long a run waits for the replica to acquire the Lease.
const ACQUIRE_TIMEOUT_S: f64 = 60.0;
/// The pause between the Lease's deletion and the replica's start.
const AFTER_DELETE: Duration = Duration::from_millis(500);
/// How long the replica gets to exit after SIGTERM before kill -9.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What one implementation's runs need.
pub struct FirstTarget<'a> {
    pub implementation: &'a Implementation,
    pub ns: &'a str,
}

/// `runs` runs of each target, alternating between them; each target's runs, in the order
/// given.
pub fn first_leadership(
    bench: &Bench,
    targets: &[FirstTarget],
    kubeconfigs: &HashMap<(String, usize), PathBuf>,
    timings: Timings,
    runs: usize,
) -> Result<Vec<Vec<FirstRun>>, String> {
    let mut res: Vec<Vec<FirstRun>> = targets.iter().map(|_| Vec::new()).collect();
    for i in 0..runs {
        for (j, target) in targets.iter().enumerate() {
            let run = one_run(bench, target, kubeconfigs, timings, (i, runs))?;
            res[j].push(run);
        }
    }
    Ok(res)
}

/// Run `i` of `runs` on `target`: its Lease deleted, one replica started after a pause,
/// until the watch shows it holding the Lease (at most [`ACQUIRE_TIMEOUT_S`]), then stopped.
fn one_run(
    bench: &Bench,
    target: &FirstTarget,
    kubeconfigs: &HashMap<(String, usize), PathBuf>,
    timings: Timings,
    (i, runs): (usize, usize),
) -> Result<FirstRun, String> {
    let (rt, admin, watcher) = (&bench.rt, &bench.plane.admin, &bench.plane.watcher);
    let ns = target.ns;
    delete_lease(rt, admin, ns)?;
    std::thread::sleep(AFTER_DELETE);
    let mut rep = LoggedReplica::new(
        target.implementation,
        ns,
        0,
        &kubeconfigs[&(ns.to_string(), 0)],
        timings,
        &bench.settings.log_dir,
    );
    let idx = watcher.count(ns);
    let t_start = rep.start()?;
    let identity = rep.identity.clone();
    let ev = wait_for(ACQUIRE_TIMEOUT_S, || {
        watcher
            .since(ns, idx)
            .into_iter()
            .find(|e| e.holder == identity)
    });
    rep.stop(STOP_GRACE);
    let Some(ev) = ev else {
        log(&format!(
            "first leadership {} run {}: no acquisition within {ACQUIRE_TIMEOUT_S:.0} s",
            target.implementation.key,
            i + 1
        ));
        return Ok(FirstRun::Failed { run: i, ok: false });
    };
    let first = ev.acquire.map(|a| a - t_start);
    let seen = ev.t - t_start;
    log(&format!(
        "first leadership {:9} run {}/{runs}: {:.0} ms (seen by the watch at {:.0} ms)",
        target.implementation.key,
        i + 1,
        first.unwrap_or(f64::NAN) * 1000.0,
        seen * 1000.0
    ));
    Ok(FirstRun::Measured {
        run: i,
        ok: true,
        start_t: t_start,
        acquire_t: ev.acquire,
        first_leadership_s: first,
        seen_s: seen,
    })
}

/// Deletes the Lease of `ns` (if any) and waits until it is gone.
fn delete_lease(
    rt: &tokio::runtime::Runtime,
    admin: &kube::Client,
    ns: &str,
) -> Result<(), String> {
    let leases: Api<Lease> = Api::namespaced(admin.clone(), ns);
    rt.block_on(async {
        match leases.delete(LEASE, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(format!("delete lease in {ns}: {e}")),
        }
        for _ in 0..200 {
            match leases.get_opt(LEASE).await {
                Ok(None) => return Ok(()),
                Ok(Some(_)) => {}
                Err(e) => return Err(format!("get lease in {ns}: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("the Lease in {ns} would not go away"))
    })
}
