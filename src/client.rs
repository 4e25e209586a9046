//! Connecting to the API server: in-cluster first, then the kubeconfig.

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::config::{InClusterError, KubeConfigOptions, KubeconfigError};
use kube::{Client, Config};
use tower::ServiceBuilder;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::info;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no Kubernetes configuration found. Tried the in-cluster config ({in_cluster}) and the kubeconfig from KUBECONFIG or ~/.kube/config ({kubeconfig}). Run k8sensus in a pod, or point KUBECONFIG at a cluster (for example one made with `kind create cluster`)"
    )]
    NoConfig {
        in_cluster: InClusterError,
        kubeconfig: KubeconfigError,
    },
    #[error(
        "the kubeconfig's cluster sets proxy-url ({0}), and k8sensus connects to the API server directly only. Remove proxy-url from the cluster entry, or run k8sensus where it can reach the API server without a proxy"
    )]
    ProxyUnsupported(String),
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
    if let Some(proxy) = &config.proxy_url {
        return Err(ClientError::ProxyUnsupported(proxy.to_string()));
    }
    build(&config).map_err(ClientError::Build)
}

/// kube's own client stack (base URI, authentication, extra headers over hyper and rustls),
/// assembled here for one reason: TCP_NODELAY. kube's default connector leaves Nagle's
/// algorithm on, and a standby's takeover is the first request on a fresh connection (its
/// pooled one is busy carrying the watch). The TLS handshake ends with a small write, the
/// request follows it, and Nagle holds the request until the server acknowledges that write,
/// which a delayed ACK puts off by about 40 ms. Go's net package (and so client-go) turns
/// Nagle off on every connection; so do we, and the takeover write leaves at once.
fn build(config: &Config) -> Result<Client, kube::Error> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(tcp)?;
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        // Every request, response and failure at DEBUG (RUST_LOG=info,tower_http=debug). Not
        // higher: the elector retries failures and logs each with its context itself.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .map_err(BoxError::from)
        .service(http);
    Ok(Client::new(service, config.default_namespace.clone()))
}
