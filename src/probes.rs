//! The HTTP endpoint Kubernetes probes: `/healthz` (liveness), `/readyz` (readiness) and
//! `/metrics` (Prometheus).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
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

/// Binds the probe address. Done before anything else, so that a taken port is reported at
/// once.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the probes until `stop` is cancelled.
pub async fn serve(listener: TcpListener, state: Arc<ProbeState>, stop: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        info!(probe_addr = %addr, "serving /healthz, /readyz and /metrics on http://{addr}");
    }
    loop {
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
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
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
}
