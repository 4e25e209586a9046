//! Connecting to the API server: in-cluster first, then the kubeconfig.

use std::time::Duration;

use kube::config::{InClusterError, KubeConfigOptions, KubeconfigError};
use kube::{Client, Config};
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no Kubernetes configuration found. Tried the in-cluster config ({in_cluster}) and the kubeconfig from KUBECONFIG or ~/.kube/config ({kubeconfig}). Run k8sensus in a pod, or point KUBECONFIG at a cluster (for example one made with `kind create cluster`)"
    )]
    NoConfig {
        in_cluster: InClusterError,
        kubeconfig: KubeconfigError,
    },
    #[error("failed to build a Kubernetes client: {0}")]
    Build(#[source] kube::Error),
}

/// Builds a client. In a pod (`KUBERNETES_SERVICE_HOST` and the mounted ServiceAccount token
/// exist) it uses the in-cluster config; elsewhere the kubeconfig, so the same binary runs from
/// a laptop against kind.
pub async fn connect(request_timeout: Duration) -> Result<Client, ClientError> {
    let mut config = match Config::incluster() {
        Ok(config) => {
            info!(server = %config.cluster_url, "using the in-cluster config (ServiceAccount token)");
            config
        }
        Err(in_cluster) => match Config::from_kubeconfig(&KubeConfigOptions::default()).await {
            Ok(config) => {
                info!(server = %config.cluster_url, "using the kubeconfig");
                config
            }
            Err(kubeconfig) => {
                return Err(ClientError::NoConfig {
                    in_cluster,
                    kubeconfig,
                });
            }
        },
    };
    // The elector decides itself when to retry, against its own deadlines: kube's built-in
    // retry of 429/503/504 would hide time from it.
    config.default_retry = false;
    config.connect_timeout = Some(request_timeout);
    Client::try_from(config).map_err(ClientError::Build)
}
