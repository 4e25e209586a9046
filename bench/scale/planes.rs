//! The scale part's steady control planes: one etcd + kube-apiserver per implementation, for
//! its steady sets only, each with its own audit log and the driver's Lease watch. The trials
//! run on the run's own control plane meanwhile; kube-apiserver's CPU and the audit log of a
//! steady control plane then belong to one implementation.

use std::path::{Path, PathBuf};

use crate::driver::Plane;
use crate::progress::log;
use crate::support::replica::Implementation;

/// One implementation's steady control plane (`key`: the implementation's).
pub struct SteadyPlane {
    pub key: String,
    pub plane: Plane,
}

/// Both implementations' steady control planes, started at the same time
/// ([`Plane::start_together`]) while `meanwhile` runs on this thread (the trial control
/// plane's namespaces, say: a control plane takes seconds to come up, longer on a busy
/// machine). In the implementations' order; an error names the first that failed, after
/// `meanwhile`'s own.
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
    let specs: Vec<(String, String, PathBuf)> = implementations
        .iter()
        .map(|i| {
            (
                format!("cp-steady-{}", i.key),
                format!("audit-scale-steady-{}.log", i.key),
                log_dir.join(format!("controlplane-scale-steady-{}.log", i.key)),
            )
        })
        .collect();
    let specs: Vec<(&str, &str, PathBuf)> = specs
        .iter()
        .map(|(name, audit, log)| (name.as_str(), audit.as_str(), log.clone()))
        .collect();
    let (started, got) = std::thread::scope(|s| {
        let starting = s.spawn(|| Plane::start_together(rt, real, work, &specs));
        let got = meanwhile();
        let started = starting
            .join()
            .unwrap_or_else(|_| Err("the steady control planes did not start (see above)".into()));
        (started, got)
    });
    let got = got?;
    let planes: Vec<SteadyPlane> = implementations
        .iter()
        .zip(started?)
        .map(|(i, plane)| SteadyPlane {
            key: i.key.clone(),
            plane,
        })
        .collect();
    for p in &planes {
        log(&format!(
            "scale: steady control plane of {} ready at {}",
            p.key, p.plane.cp.server
        ));
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
