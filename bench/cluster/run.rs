//! The run's shared state: what it started, held so that [`Run::stop_everything`] stops it
//! on every exit path, and checks what the cluster left on the host.

use std::path::PathBuf;

use super::Result;
use super::args::Settings;
use super::pod_watch::PodWatch;
use crate::machine_load::LoadSampler;
use crate::progress::log;
use crate::support::cluster::{Cluster, HostSnapshot, PodLogs};
use crate::support::lease_watch::LeaseWatcher;
use crate::support::provenance::load_average;

/// The run: what it started, so that [`Run::stop_everything`] stops it on every exit path.
pub struct Run {
    pub settings: Settings,
    /// A private work folder (the cluster's state, the client-go overlay), removed at the end.
    pub work: PathBuf,
    /// The host before the cluster started, for the leftovers check.
    pub before: HostSnapshot,
    pub sampler: LoadSampler,
    pub load_at_start: [f64; 3],
    pub cluster: Option<Cluster>,
    pub logs: Option<PodLogs>,
    pub leases: Option<LeaseWatcher>,
    pub pod_watch: Option<PodWatch>,
    /// For the API reads the trials make (the watches run on runtimes of their own).
    pub runtime: tokio::runtime::Runtime,
    /// When the cluster was ready, seconds since the epoch.
    pub t_up: f64,
}

impl Run {
    /// A fresh log folder, a private work folder, the host as it was, the sampler started.
    pub fn prepare(settings: Settings) -> Result<Self, String> {
        let _ = std::fs::remove_dir_all(&settings.log_dir);
        std::fs::create_dir_all(&settings.log_dir)
            .map_err(|e| format!("cannot create {}: {e}", settings.log_dir.display()))?;
        let work =
            std::env::temp_dir().join(format!("k8sensus-bench-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a runtime: {e}"))?;
        Ok(Run {
            load_at_start: load_average(),
            before: HostSnapshot::take(),
            sampler: LoadSampler::start(),
            settings,
            work,
            cluster: None,
            logs: None,
            leases: None,
            pod_watch: None,
            runtime,
            t_up: 0.0,
        })
    }

    /// The watches stopped, the pods' lines saved, the cluster stopped and the host checked
    /// for what it left, the work folder removed; returns what was left.
    pub fn stop_everything(&mut self) -> Vec<String> {
        if let Some(mut w) = self.leases.take() {
            w.stop();
        }
        if let Some(mut w) = self.pod_watch.take() {
            w.stop();
        }
        if let Some(logs) = self.logs.take()
            && let Err(e) = logs.save(&self.settings.log_dir)
        {
            log(&format!("cannot save the pods' lines: {e}"));
        }
        let mut left = Vec::new();
        if let Some(cluster) = self.cluster.take() {
            match cluster.try_stop() {
                Ok(took) => log(&format!("cluster stopped in {:.1} s", took.as_secs_f64())),
                Err(e) => log(&format!("the cluster did not stop cleanly: {e}")),
            }
            left = cluster.leftovers(&self.before);
            if left.is_empty() {
                log("nothing of the cluster is left on the host");
            } else {
                log(&format!("LEFT ON THE HOST: {}", left.join("\n")));
            }
        }
        let _ = std::fs::remove_dir_all(&self.work);
        left
    }
}
