//! Connecting to the API server: in-cluster first, then the kubeconfig.

use std::path::PathBuf;
use std::time::Duration;

use hyper::Uri;
use hyper::header::HeaderValue;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::jiff::Timestamp;
use kube::client::ConfigExt;
use kube::config::{InClusterError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use tower::ServiceBuilder;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::info;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// TCP keepalive on every connection, so that a connection whose peer vanished without a word
/// (a conntrack entry dropped, a load balancer failed over) is found dead and closed: the
/// first probe after 30 s of quiet (Go's dialer, and so client-go, uses 30 s too), then one
/// every 10 s, and the connection is given up after 3 unanswered.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
pub const KEEPALIVE_RETRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "no Kubernetes configuration found.\n  in-cluster config: {in_cluster}\n  kubeconfig: {kubeconfig}\nRun k8sensus in a pod, or point KUBECONFIG at a cluster's kubeconfig: for the local control plane, the path `make control-plane` printed (export KUBECONFIG=/tmp/k8sensus-cp-XXXX/admin.kubeconfig); for kind, ~/.kube/config after `kind create cluster`"
    )]
    NoConfig {
        in_cluster: String,
        kubeconfig: String,
    },
    #[error("{origin} asks for a proxy k8sensus cannot use: {why}. {fix}")]
    Proxy {
        origin: ProxySource,
        why: String,
        fix: String,
    },
    #[error("failed to build a Kubernetes client: {0}")]
    Build(#[source] kube::Error),
}

/// Where a proxy came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxySource {
    /// `proxy-url` in the kubeconfig's cluster entry.
    Kubeconfig,
    /// An environment variable (`HTTPS_PROXY`, `https_proxy`, ...), with the name as set.
    Env(&'static str),
}

impl std::fmt::Display for ProxySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySource::Kubeconfig => f.write_str("proxy-url in the kubeconfig's cluster entry"),
            ProxySource::Env(name) => write!(f, "{name} in the environment"),
        }
    }
}

/// A proxy to reach the API server through.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub source: ProxySource,
    /// `http://host:port`, without credentials.
    pub uri: Uri,
    /// `Proxy-Authorization` for the CONNECT request, from the URL's user info.
    pub auth: Option<HeaderValue>,
}

/// A client and what to tell people about the server it talks to.
pub struct ApiServer {
    pub client: Client,
    /// The API server's URL, for messages.
    pub server: String,
    /// When the client certificate an exec plugin gave us expires, if one did. The client
    /// cannot be used with that certificate after then: see [`crate::app`].
    pub cert_expires: Option<Timestamp>,
}

/// Builds a client. In a pod (`KUBERNETES_SERVICE_HOST` and the mounted ServiceAccount token
/// exist) it uses the in-cluster config; elsewhere the kubeconfig, so the same binary runs from
/// a laptop against kind.
///
/// Proxies follow client-go's rules: a kubeconfig cluster's `proxy-url` is always used;
/// otherwise `HTTPS_PROXY` (or `HTTP_PROXY` for an `http://` server) applies unless the
/// server's host matches `NO_PROXY`. Only `http://` proxies (HTTP CONNECT) are supported; any
/// other is refused with a message naming where it came from.
///
/// # Errors
///
/// [`ClientError`]: no in-cluster config and no readable kubeconfig, an unusable proxy, or a
/// kubeconfig kube cannot turn into a client; each message says what to fix.
///
/// # Cancel safety
///
/// Cancel safe: it makes no request.
pub async fn connect(request_timeout: Duration) -> Result<ApiServer, ClientError> {
    let (mut config, kubeconfig_proxy) = match Config::incluster() {
        Ok(config) => {
            info!(server = %config.cluster_url, "using the in-cluster config (ServiceAccount token)");
            (config, None)
        }
        Err(in_cluster) => {
            let loaded = match Kubeconfig::read() {
                Ok(kc) => {
                    let proxy = kubeconfig_proxy_url(&kc);
                    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                        .await
                        .map(|config| (config, proxy))
                }
                Err(e) => Err(e),
            };
            match loaded {
                Ok((config, proxy)) => {
                    info!(server = %config.cluster_url, "using the kubeconfig");
                    (config, proxy)
                }
                Err(kubeconfig) => {
                    return Err(ClientError::NoConfig {
                        in_cluster: describe_in_cluster(&in_cluster),
                        kubeconfig: describe_kubeconfig(&kubeconfig),
                    });
                }
            }
        }
    };
    // The elector decides itself when to retry, against its own deadlines: kube's built-in
    // retry of 429/503/504 would hide time from it.
    config.default_retry = false;
    config.connect_timeout = Some(request_timeout);
    // kube fills `proxy_url` from the kubeconfig or from HTTPS_PROXY, without NO_PROXY (its
    // proxy features are off). We decide ourselves, below.
    config.proxy_url = None;
    let proxy = choose_proxy(&config.cluster_url, kubeconfig_proxy.as_deref(), env_var)?;
    if let Some(proxy) = &proxy {
        info!(proxy = %proxy.uri, source = %proxy.source, "connecting to the API server through a proxy");
    }
    let cert_expires = exec_cert_expiry(&config);
    let client = build(&config, proxy).map_err(ClientError::Build)?;
    Ok(ApiServer {
        client,
        server: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        cert_expires,
    })
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Why the in-cluster config was not used, in words.
fn describe_in_cluster(error: &InClusterError) -> String {
    if env_var("KUBERNETES_SERVICE_HOST").is_none() {
        "KUBERNETES_SERVICE_HOST is not set, so this is not a pod".into()
    } else {
        format!("KUBERNETES_SERVICE_HOST is set, but {error}")
    }
}

/// Why the kubeconfig was not used, naming the file without quoting it.
fn describe_kubeconfig(error: &KubeconfigError) -> String {
    match error {
        KubeconfigError::ReadConfig(io, path) => format!("cannot read {}: {io}", path.display()),
        KubeconfigError::FindPath => {
            "KUBECONFIG is not set and there is no home directory to find ~/.kube/config in".into()
        }
        other => {
            let path = env_var("KUBECONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::home_dir().map(|h| h.join(".kube/config")));
            match path {
                Some(path) => format!("{} ({other})", path.display()),
                None => other.to_string(),
            }
        }
    }
}

/// `proxy-url` of the current context's cluster, if set.
fn kubeconfig_proxy_url(kc: &Kubeconfig) -> Option<String> {
    let context_name = kc.current_context.as_ref()?;
    let context = kc
        .contexts
        .iter()
        .find(|c| &c.name == context_name)?
        .context
        .as_ref()?;
    kc.clusters
        .iter()
        .find(|c| c.name == context.cluster)?
        .cluster
        .as_ref()?
        .proxy_url
        .clone()
        .filter(|p| !p.trim().is_empty())
}

/// Which proxy, if any, to reach `server` through. `kubeconfig` is the cluster's `proxy-url`;
/// `env` reads an environment variable (empty counts as unset).
pub fn choose_proxy(
    server: &Uri,
    kubeconfig: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, ClientError> {
    let first = |names: &[&'static str]| {
        names
            .iter()
            .find_map(|name| env(name).map(|value| (*name, value)))
    };
    let no_proxy = first(&["NO_PROXY", "no_proxy"])
        .map(|(_, v)| v)
        .unwrap_or_default();
    let (source, value, matcher) = match kubeconfig {
        // client-go uses a kubeconfig's proxy-url for its cluster whatever NO_PROXY says.
        Some(url) => (
            ProxySource::Kubeconfig,
            url.to_string(),
            Matcher::builder().all(url.to_string()).build(),
        ),
        None => {
            let names: &[&'static str] = if server.scheme_str() == Some("http") {
                &["HTTP_PROXY", "http_proxy"]
            } else {
                &["HTTPS_PROXY", "https_proxy"]
            };
            let Some((name, value)) = first(names) else {
                return Ok(None);
            };
            // "*" bypasses the proxy for every host (hyper-util's matcher applies it to
            // names only, not to IP addresses).
            if no_proxy.split(',').any(|entry| entry.trim() == "*") {
                return Ok(None);
            }
            let matcher = Matcher::builder()
                .http(value.clone())
                .https(value.clone())
                .no(no_proxy.clone())
                .build();
            (ProxySource::Env(name), value, matcher)
        }
    };
    let host = server.host().unwrap_or("the API server's host").to_string();
    let fix = match &source {
        ProxySource::Kubeconfig => {
            "Use an http:// proxy, or remove proxy-url from the cluster entry".to_string()
        }
        ProxySource::Env(name) => format!(
            "Use an http:// proxy, or add the API server's host ({host}) to NO_PROXY, or unset {name}"
        ),
    };
    let refuse = |why: String| ClientError::Proxy {
        origin: source.clone(),
        why,
        fix: fix.clone(),
    };
    match matcher.intercept(server) {
        Some(intercept) => {
            let uri = intercept.uri();
            if uri.scheme_str() != Some("http") {
                return Err(refuse(format!(
                    "{}:// proxies are not supported (only http://, with HTTP CONNECT)",
                    uri.scheme_str().unwrap_or("?")
                )));
            }
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
            let host_port = authority.rsplit('@').next().unwrap_or(authority);
            let bare: Uri = format!("http://{host_port}")
                .parse()
                .map_err(|e| refuse(format!("its address {host_port} is not valid: {e}")))?;
            Ok(Some(Proxy {
                source,
                uri: bare,
                auth: intercept.basic_auth().cloned(),
            }))
        }
        None => {
            // Either NO_PROXY names the server (fine), or the value is not a URL the matcher
            // understands: tell the two apart with a placeholder proxy.
            let bypassed = matches!(source, ProxySource::Env(_))
                && Matcher::builder()
                    .all("http://placeholder:1")
                    .no(no_proxy)
                    .build()
                    .intercept(server)
                    .is_none();
            if bypassed {
                info!(server = %server, "NO_PROXY names the API server: connecting directly");
                Ok(None)
            } else {
                Err(refuse(format!(
                    "{} is not a proxy URL it understands",
                    redact(&value)
                )))
            }
        }
    }
}

/// A proxy URL without its password, for messages.
fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((userinfo, rest)) => match userinfo.rsplit_once(':') {
            Some((user, _)) if !user.ends_with('/') => format!("{user}:***@{rest}"),
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// When the client certificate from the kubeconfig user's exec plugin expires, if the user
/// has one. kube's own builder records this on the client it builds ([`Client::valid_until`]);
/// ours does the same by asking that builder, which runs the plugin once more. Only exec users
/// pay for that.
fn exec_cert_expiry(config: &Config) -> Option<Timestamp> {
    config.auth_info.exec.as_ref()?;
    let client = kube::client::ClientBuilder::try_from(config.clone())
        .ok()?
        .build();
    *client.valid_until()
}

/// The TCP connector under every connection: Nagle off (see `build`), keepalive on, and
/// the connect timeout.
pub fn tcp_connector(connect_timeout: Option<Duration>) -> HttpConnector {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(KEEPALIVE_IDLE));
    tcp.set_keepalive_interval(Some(KEEPALIVE_INTERVAL));
    tcp.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
    tcp.set_connect_timeout(connect_timeout);
    tcp
}

/// kube's own client stack (base URI, authentication, extra headers over hyper and rustls),
/// assembled here for one reason: TCP_NODELAY. kube's default connector leaves Nagle's
/// algorithm on, and a standby's takeover is the first request on a fresh connection (its
/// pooled one is busy carrying the watch). The TLS handshake ends with a small write, the
/// request follows it, and Nagle holds the request until the server acknowledges that write,
/// which a delayed ACK puts off by about 40 ms. Go's net package (and so client-go) turns
/// Nagle off on every connection; so do we, and the takeover write leaves at once.
///
/// With a proxy, TLS to the API server runs inside an HTTP CONNECT tunnel to the proxy
/// (hyper-util's `Tunnel`), over the same TCP connector.
fn build(config: &Config, proxy: Option<Proxy>) -> Result<Client, kube::Error> {
    let tcp = tcp_connector(config.connect_timeout);
    match proxy {
        None => finish(config, config.rustls_https_connector_with_connector(tcp)?),
        Some(proxy) => {
            let mut tunnel = Tunnel::new(proxy.uri, tcp);
            if let Some(auth) = proxy.auth {
                tunnel = tunnel.with_auth(auth);
            }
            finish(
                config,
                config.rustls_https_connector_with_connector(tunnel)?,
            )
        }
    }
}

fn finish<C>(config: &Config, https: C) -> Result<Client, kube::Error>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        }
    }

    fn server() -> Uri {
        "https://127.0.0.1:6443".parse().unwrap()
    }

    /// The case: HTTPS_PROXY set, the server in NO_PROXY: no proxy, no error.
    #[test]
    fn no_proxy_bypasses_the_env_proxy() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ]);
        assert!(choose_proxy(&server(), None, e).unwrap().is_none());
        let e = env(&[("https_proxy", "proxy.corp:3128"), ("no_proxy", "*")]);
        assert!(choose_proxy(&server(), None, e).unwrap().is_none());
        let e = env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "10.0.0.0/8")]);
        let named: Uri = "https://10.96.0.1:443".parse().unwrap();
        assert!(choose_proxy(&named, None, e).unwrap().is_none());
    }

    /// An env proxy that applies is used, with credentials as Proxy-Authorization, and the URL
    /// it reports carries no password.
    #[test]
    fn an_env_proxy_that_applies_is_used() {
        let e = env(&[
            ("HTTPS_PROXY", "http://user:secret@proxy.corp:3128"),
            ("NO_PROXY", "example.com"),
        ]);
        let proxy = choose_proxy(&server(), None, e).unwrap().unwrap();
        assert_eq!(proxy.source, ProxySource::Env("HTTPS_PROXY"));
        assert_eq!(proxy.uri.to_string(), "http://proxy.corp:3128/");
        assert!(proxy.auth.is_some());
        // HTTP_PROXY is for http:// servers only.
        let e = env(&[("HTTP_PROXY", "http://proxy.corp:3128")]);
        assert!(choose_proxy(&server(), None, e).unwrap().is_none());
    }

    /// A kubeconfig's proxy-url applies whatever NO_PROXY says (as in client-go), and an
    /// unsupported proxy is refused naming where it came from.
    #[test]
    fn kubeconfig_proxy_url_and_refusals() {
        let e = env(&[("NO_PROXY", "127.0.0.1")]);
        let proxy = choose_proxy(&server(), Some("http://127.0.0.1:3128"), e)
            .unwrap()
            .unwrap();
        assert_eq!(proxy.source, ProxySource::Kubeconfig);

        let e = env(&[]);
        let err = choose_proxy(&server(), Some("socks5://127.0.0.1:1080"), e)
            .unwrap_err()
            .to_string();
        assert!(err.contains("proxy-url in the kubeconfig"), "{err}");
        assert!(err.contains("socks5://"), "{err}");

        let e = env(&[("HTTPS_PROXY", "socks5://u:pw@127.0.0.1:1080")]);
        let err = choose_proxy(&server(), None, e).unwrap_err().to_string();
        assert!(err.contains("HTTPS_PROXY in the environment"), "{err}");
        assert!(err.contains("NO_PROXY"), "{err}");
        assert!(!err.contains("pw"), "{err}");

        let e = env(&[("https_proxy", "ftp://proxy:21")]);
        let err = choose_proxy(&server(), None, e).unwrap_err().to_string();
        assert!(err.contains("https_proxy in the environment"), "{err}");
    }

    /// Every connection the connector makes has keepalive and TCP_NODELAY on.
    #[tokio::test]
    async fn connections_have_keepalive_and_nodelay() {
        use tower::ServiceExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let connection = tcp_connector(None).oneshot(uri).await.unwrap();
        let stream = connection.inner();
        let socket = socket2::SockRef::from(stream);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), KEEPALIVE_RETRIES);
        assert!(stream.nodelay().unwrap());
    }
}
