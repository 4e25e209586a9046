//! The scale part's steady control planes: one etcd + kube-apiserver per implementation, for
//! its steady sets only, each with its own audit log and the driver's Lease watch. The trials
//! run on the run's own control plane meanwhile; kube-apiserver's CPU and the audit log of a
//! steady control plane then belong to one implementation.

use std::path::Path;

use crate::driver::Plane;
use crate::progress::log;
use crate::support::replica::Implementation;

/// One implementation's steady control plane (`key`: the implementation's).
pub struct SteadyPlane {
    pub key: String,
    pub plane: Plane,
}

/// Both implementations' steady control planes, started at the same time, each on a thread
/// of its own, while `meanwhile` runs on this one (the trial control plane's namespaces, say:
/// a control plane takes seconds to come up, longer on a busy machine). In the
/// implementations' order; an error names the first that failed, after `meanwhile`'s own.
pub fn start_steady_planes<T>(
    rt: &tokio::runtime::Runtime,
    implementations: &[Implementation],
    real: &Path,
    work: &Path,
    log_dir: &Path,
    meanwhile: impl FnOnce() -> Result<T, String>,
) -> Result<(Vec<SteadyPlane>, T), String> {
    log(&format!(
        "scale: starting {} steady control planes (etcd + kube-apiserver with an audit log each), \
         one per implementation, for the steady-state windows",
        implementations.len()
    ));
    let (started, got) = std::thread::scope(|s| {
        let handles: Vec<_> = implementations
            .iter()
            .map(|i| {
                let key = i.key.clone();
                s.spawn(move || {
                    let plane = Plane::start(
                        rt,
                        real,
                        work,
                        &format!("cp-steady-{key}"),
                        &format!("audit-scale-steady-{key}.log"),
                        &log_dir.join(format!("controlplane-scale-steady-{key}.log")),
                    )?;
                    Ok::<_, String>(SteadyPlane { key, plane })
                })
            })
            .collect();
        let got = meanwhile();
        let started: Vec<Result<SteadyPlane, String>> = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|e| {
                    // The support code panics on a runner that does not start.
                    let why = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                    Err(why.unwrap_or_else(|| "a steady control plane did not start".into()))
                })
            })
            .collect();
        (started, got)
    });
    let got = got?;
    let mut planes = Vec::new();
    for p in started {
        let p = p?;
        log(&format!(
            "scale: steady control plane of {} ready at {}",
            p.key, p.plane.cp.server
        ));
        planes.push(p);
    }
    Ok((planes, got))
}

/// The steady control planes stopped together (their replicas must be stopped first): every
/// runner let go, then each waited for; their audit logs kept in `log_dir`.
pub fn stop_steady_planes(planes: &mut [SteadyPlane], log_dir: &Path) {
    for p in planes.iter() {
        p.plane.cp.let_go();
    }
    for p in planes.iter_mut() {
        p.plane.stop(log_dir);
    }
}
