//! The HTTP endpoint Kubernetes probes: `/healthz` (liveness), `/readyz` (readiness) and
//! `/metrics` (Prometheus).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::elector::ElectionStatus;
use crate::metrics::Metrics;

/// How long past the lease duration a leader may go without a successful renewal before
/// `/healthz` fails (client-go's HealthzAdaptor takes such a timeout; 10 s is a common choice).
pub const HEALTH_MARGIN: Duration = Duration::from_secs(10);

/// What the probes look at.
pub struct ProbeState {
    status: watch::Receiver<ElectionStatus>,
    metrics: Arc<Metrics>,
    lease_duration: Duration,
    /// Set while the elector runs.
    elector_running: AtomicBool,
    /// Set once shutdown has begun.
    shutting_down: AtomicBool,
}

impl ProbeState {
    pub fn new(
        status: watch::Receiver<ElectionStatus>,
        metrics: Arc<Metrics>,
        lease_duration: Duration,
    ) -> Self {
        Self {
            status,
            metrics,
            lease_duration,
            elector_running: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    pub fn set_elector_running(&self, running: bool) {
        self.elector_running.store(running, Ordering::SeqCst);
    }

    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Liveness. See [`health`]. An elector that stopped because we are shutting down has
    /// not died: during shutdown the elector counts as running.
    pub fn healthz(&self) -> Result<(), String> {
        health(
            self.elector_running.load(Ordering::SeqCst)
                || self.shutting_down.load(Ordering::SeqCst),
            &self.status.borrow(),
            Instant::now(),
            self.lease_duration,
        )
    }

    /// Readiness: the elector runs and we are not shutting down. Standbys are ready too: being
    /// ready says the process works, not that it leads.
    pub fn readyz(&self) -> Result<(), String> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err("shutting down".into());
        }
        if !self.elector_running.load(Ordering::SeqCst) {
            return Err("the elector is not running yet".into());
        }
        Ok(())
    }
}

/// The liveness rule. Unhealthy when the elector is not running, or when this replica still
/// believes it leads but has not renewed for longer than the lease duration plus a margin.
///
/// The second case cannot happen while the elector works, because it steps down at the renew
/// deadline; it catches an elector that is stuck (client-go's watchdog). A leader cut off from
/// the API server is *not* unhealthy: it steps down on its own, and restarting it would not
/// bring the network back.
pub fn health(
    elector_running: bool,
    status: &ElectionStatus,
    now: Instant,
    lease_duration: Duration,
) -> Result<(), String> {
    if !elector_running {
        return Err("the elector is not running".into());
    }
    if let (true, Some(last)) = (status.leading, status.last_renewal) {
        let since = now.saturating_duration_since(last);
        if since > lease_duration + HEALTH_MARGIN {
            return Err(format!(
                "leading without a successful renewal for {}",
                humantime::format_duration(Duration::from_millis(since.as_millis() as u64))
            ));
        }
    }
    Ok(())
}

/// How long a client may take to send a request's headers, on a new connection or between
/// requests on a kept-alive one. A connection that sends nothing is closed after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this many connections are served at once; further ones wait in the listen
/// backlog. The kubelet needs one or two; this keeps idle or slow clients from piling up in a
/// pod with a small memory limit.
pub const MAX_CONNECTIONS: usize = 16;

/// Binds the probe address. Done before anything else, so that a taken port is reported at
/// once.
///
/// The unspecified IPv6 address (`[::]`, which `--probe-addr :PORT` means) is bound
/// dual-stack, so the kubelet reaches the probes over IPv4 and IPv6 alike; on a host without
/// IPv6 it falls back to `0.0.0.0`.
///
/// # Errors
///
/// The address cannot be bound (taken, or not ours); the error says which.
///
/// # Cancel safety
///
/// Cancel safe: dropped before it resolves, nothing stays bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        match bind_dual_stack(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) if ipv6_is_absent(&e) => {
                info!(error = %e, "no IPv6 on this host: serving the probes on IPv4 only");
                let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
                return TcpListener::bind(v4).await;
            }
            Err(e) => return Err(e),
        }
    }
    TcpListener::bind(addr).await
}

fn bind_dual_stack(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, None)?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

fn ipv6_is_absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::AddrNotAvailable
        || e.raw_os_error() == Some(rustix::io::Errno::AFNOSUPPORT.raw_os_error())
}

/// Serves the probes until `stop` is cancelled. Each connection must send its request
/// headers within [`HEADER_READ_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are open at once.
///
/// # Cancel safety
///
/// Dropping it stops accepting; connections already accepted are served on their own
/// tasks until they finish or time out. Cancel `stop` for the orderly end.
pub async fn serve(listener: TcpListener, state: Arc<ProbeState>, stop: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        info!(probe_addr = %addr, "serving /healthz, /readyz and /metrics on http://{addr}");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => return,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(state: &ProbeState, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    let verdict = |result: Result<(), String>, failure: StatusCode| match result {
        Ok(()) => text(StatusCode::OK, "ok\n".into()),
        Err(why) => text(failure, format!("{why}\n")),
    };
    match request.uri().path() {
        "/healthz" | "/livez" => verdict(state.healthz(), StatusCode::INTERNAL_SERVER_ERROR),
        "/readyz" => verdict(state.readyz(), StatusCode::SERVICE_UNAVAILABLE),
        "/metrics" => {
            let body = state.metrics.render(&state.status.borrow());
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "try /healthz, /readyz or /metrics\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const LD: Duration = Duration::from_secs(15);

    /// Healthy while the elector runs and a leader keeps renewing; unhealthy when the elector
    /// stopped, or a leader has not renewed for the lease duration plus the margin.
    #[tokio::test(start_paused = true)]
    async fn health_rule() {
        let t0 = Instant::now();
        let standby = ElectionStatus::default();
        assert!(health(true, &standby, t0, LD).is_ok());
        assert!(health(false, &standby, t0, LD).is_err());

        let leader = ElectionStatus {
            leading: true,
            last_renewal: Some(t0),
            ..Default::default()
        };
        assert!(health(true, &leader, t0 + LD + HEALTH_MARGIN, LD).is_ok());
        let stale = health(
            true,
            &leader,
            t0 + LD + HEALTH_MARGIN + Duration::from_millis(1),
            LD,
        );
        assert!(stale.unwrap_err().contains("without a successful renewal"));
        // A standby is never stale: it has no renewals to make.
        assert!(health(true, &standby, t0 + Duration::from_secs(3600), LD).is_ok());
    }

    /// Idle connections are closed after the header timeout, and no more than
    /// MAX_CONNECTIONS are served at once: a request behind that many idle connections waits
    /// until the timeout frees a slot, then is answered.
    #[tokio::test]
    async fn idle_connections_are_bounded_in_number_and_time() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_tx, status) = watch::channel(ElectionStatus::default());
        let state = Arc::new(ProbeState::new(status, Arc::new(Metrics::new("l")), LD));
        state.set_elector_running(true);
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, state, stop.clone()));

        let opened = Instant::now();
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        let mut late = tokio::net::TcpStream::connect(addr).await.unwrap();
        late.write_all(b"GET /healthz HTTP/1.0\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        late.read_to_string(&mut answer).await.unwrap();
        let waited = opened.elapsed();
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        assert!(
            waited >= HEADER_READ_TIMEOUT - Duration::from_millis(500),
            "answered after {waited:?}: the connection bound did not hold"
        );
        let mut buf = [0u8; 1];
        assert_eq!(
            idle[0].read(&mut buf).await.unwrap(),
            0,
            "idle connection closed"
        );
        assert!(opened.elapsed() < HEADER_READ_TIMEOUT + Duration::from_secs(2));
        stop.cancel();
    }
}
