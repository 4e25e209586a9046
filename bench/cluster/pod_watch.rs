//! The driver's watch on both Deployments' pods: when it first saw each pod marked for
//! deletion, which is the moment the API server accepted a `kubectl delete pod`, without
//! kubectl's own start-up.
//!
//! It follows the pods with the harness's one list-then-watch loop (`support::watch`), the
//! one the Lease watcher uses: resumed when a watch ends, listed again when the server has
//! forgotten the version; on a thread of its own, until dropped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use super::deployment::SELECTOR;
use crate::support::watch::{EventKind, Selector, Watch, epoch_now};

/// (namespace, pod) -> when the watch first saw it marked for deletion (or deleted), seconds
/// since the epoch.
type Deleting = Arc<Mutex<HashMap<(String, String), f64>>>;

/// The watch, on a thread of its own until dropped.
pub struct PodWatch {
    deleting: Deleting,
    watch: Watch,
}

impl PodWatch {
    /// Starts watching the pods with the Deployments' label in every namespace.
    pub fn start(kubeconfig: &Path) -> Self {
        let deleting = Deleting::default();
        let sink = deleting.clone();
        let watch = Watch::start(
            "pod-watch",
            kubeconfig,
            None,
            Selector::Labels(SELECTOR.to_string()),
            move |kind, pod: &Pod| {
                if kind == EventKind::Deleted || pod.metadata.deletion_timestamp.is_some() {
                    let key = (
                        pod.metadata.namespace.clone().unwrap_or_default(),
                        pod.metadata.name.clone().unwrap_or_default(),
                    );
                    lock(&sink).entry(key).or_insert_with(epoch_now);
                }
            },
        );
        PodWatch { deleting, watch }
    }

    /// Blocks until the first watch request is open, at most `limit`.
    pub fn wait_started(&self, what: &str, limit: Duration) -> Result<(), String> {
        self.watch.wait_started(what, limit)
    }

    /// When the watch first saw `pod` of `ns` marked for deletion, seconds since the epoch.
    pub fn deletion_seen(&self, ns: &str, pod: &str) -> Option<f64> {
        lock(&self.deleting)
            .get(&(ns.to_string(), pod.to_string()))
            .copied()
    }

    pub fn reconnects(&self) -> u64 {
        self.watch.reconnects()
    }

    pub fn relists(&self) -> u64 {
        self.watch.relists()
    }

    /// The last errors, oldest first, each with its wall-clock time.
    pub fn errors(&self) -> Vec<String> {
        self.watch.errors()
    }

    /// Ends the watch and waits for its thread.
    pub fn stop(&mut self) {
        self.watch.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
