//! The demo program: connect, campaign, run the sample task while leading, and make the
//! election visible: logs that tell the story, probes, metrics, Events, the leader label.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::client::{self, ClientError};
use crate::config::{Config, IdentitySource};
use crate::elector::{ApiError, ElectionError, ElectionStatus, LeaderElector, Leadership};
use crate::events::EventRecorder;
use crate::leader_label::LeaderLabel;
use crate::log_event;
use crate::metrics::Metrics;
use crate::probes::{self, ProbeState};
use crate::sample_task;

/// Why the program stopped with an error; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(
        "cannot serve probes on {addr} (--probe-addr): {source}; pick another address, for example --probe-addr 127.0.0.1:0"
    )]
    ProbeAddr {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0}; apply rbac.yaml (kubectl apply -f rbac.yaml) to let the k8sensus ServiceAccount get, create and update this lease"
    )]
    Forbidden(ElectionError),
    #[error("{0}; check the credentials in the kubeconfig or the pod's ServiceAccount token")]
    Unauthorized(ElectionError),
    #[error(transparent)]
    Election(ElectionError),
    #[error(
        "the client certificate from the kubeconfig's exec plugin expires at {0}: k8sensus stopped its work and released the lease before then, and exits so that it is started again with a fresh certificate (a pod restarts on its own)"
    )]
    CertificateExpired(Timestamp),
}

impl From<ElectionError> for AppError {
    fn from(e: ElectionError) -> Self {
        match &e {
            ElectionError::Api(ApiError::Forbidden { .. })
            | ElectionError::StillRefused {
                error: ApiError::Forbidden { .. },
                ..
            } => AppError::Forbidden(e),
            ElectionError::Api(ApiError::Unauthorized { .. })
            | ElectionError::StillRefused {
                error: ApiError::Unauthorized { .. },
                ..
            } => AppError::Unauthorized(e),
            _ => AppError::Election(e),
        }
    }
}

/// What the leader's work needs besides its [`Leadership`].
struct LeaderContext {
    /// The pod to label (`--label-leader-pod`).
    pod_name: String,
    task_period: Duration,
    status: watch::Receiver<ElectionStatus>,
    events: EventRecorder,
    label: Option<LeaderLabel>,
    /// The "stopped leading" Events of terms that have ended. They are written beside the
    /// release rather than before it: an Event is for people, not for the election, and a
    /// standby should not wait for it to take over.
    endings: Mutex<JoinSet<()>>,
}

impl LeaderContext {
    /// Waits (at most `limit`) for the Events of ended terms, before the process exits.
    async fn finish_endings(&self, limit: Duration) {
        let mut endings =
            std::mem::take(&mut *self.endings.lock().unwrap_or_else(|e| e.into_inner()));
        let all = async { while endings.join_next().await.is_some() {} };
        if tokio::time::timeout(limit, all).await.is_err() {
            warn!("gave up waiting to record the last term's \"stopped leading\" Event");
        }
    }
}

/// Runs until `shutdown` resolves (then stops the work, releases the Lease and returns
/// `Ok`), or until something fails that retrying cannot fix.
///
/// # Errors
///
/// [`AppError`]: the API server cannot be reached or configured, the probe address cannot be
/// bound, or the election ended with an error (see [`ElectionError`]).
///
/// # Cancel safety
///
/// Not cancel safe: resolve `shutdown` and await it instead. Dropping it leaves the Lease
/// held until it expires (see [`LeaderElector::run`]).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let election = config.election.clone();
    log_start(&config);

    // Bind first: a taken port is a configuration error, reported before any API call.
    let listener = probes::bind(config.probe_addr)
        .await
        .map_err(|source| AppError::ProbeAddr {
            addr: config.probe_addr,
            source,
        })?;
    let api_server = client::connect(election.request_timeout).await?;
    let client = api_server.client;
    let metrics = Arc::new(Metrics::new(&election.lease_name));
    let elector = LeaderElector::with_hooks(client.clone(), election.clone(), metrics.clone())
        .map_err(ElectionError::from)?;
    let probe_state = Arc::new(ProbeState::new(
        elector.status(),
        metrics,
        election.timings.lease_duration,
    ));
    // Two tokens: `stop` starts the shutdown of the election; the probe server stays up until
    // the election has finished (so /readyz can say "shutting down" meanwhile).
    let stop = CancellationToken::new();
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(probes::serve(
        listener,
        probe_state.clone(),
        stop_server.clone(),
    ));

    let context = leader_context(&config, client, &elector).await;
    let announcer = tokio::spawn(announce_leaders(
        elector.status(),
        election.identity.clone(),
    ));
    probe_state.set_elector_running(true);
    let expiry = certificate_expiry(api_server.cert_expires, election.timings.renew_deadline);
    let stopped = campaign(&elector, &context, &probe_state, stop, shutdown, expiry).await;

    context.finish_endings(election.request_timeout).await;
    probe_state.set_elector_running(false);
    stop_server.cancel();
    announcer.abort();
    let _ = server.await;
    if let Some(at) = stopped? {
        return Err(AppError::CertificateExpired(at));
    }
    info!("k8sensus stopped");
    Ok(())
}

/// The first lines of the log: the version, the identity (with a warning when it is only the
/// host name's), the Lease and the timings.
fn log_start(config: &Config) {
    let election = &config.election;
    info!(version = env!("CARGO_PKG_VERSION"), identity = %election.identity,
        "k8sensus starting: Kubernetes Lease leader election");
    if config.identity_source == IdentitySource::Hostname {
        warn!(identity = %election.identity,
            "POD_NAME is not set: using the host name plus a random suffix as identity, so that two runs on one machine never share one; every replica needs a unique identity");
    }
    info!(
        lease = %election.lease_ref(),
        identity = %election.identity,
        lease_duration = %humantime::format_duration(election.timings.lease_duration),
        renew_deadline = %humantime::format_duration(election.timings.renew_deadline),
        retry_period = %humantime::format_duration(election.timings.retry_period),
        "lease metadata: name={} namespace={}", election.lease_name, election.namespace
    );
}

/// What every term's work gets: the Event recorder, and the pod label if asked for (cleared
/// first).
async fn leader_context(
    config: &Config,
    client: kube::Client,
    elector: &LeaderElector,
) -> Arc<LeaderContext> {
    let election = &config.election;
    let label = config.label_leader_pod.then(|| {
        LeaderLabel::new(
            client.clone(),
            &election.namespace,
            election.request_timeout,
        )
    });
    if let Some(label) = &label {
        // A container restarted after a crash finds its pod still labelled: clear it first.
        label.set(&config.pod_name, false).await;
    }
    Arc::new(LeaderContext {
        pod_name: config.pod_name.clone(),
        task_period: config.task_period,
        status: elector.status(),
        events: EventRecorder::new(
            client,
            &election.namespace,
            &election.lease_name,
            &election.identity,
            election.request_timeout,
        ),
        label,
        endings: Mutex::default(),
    })
}

/// Campaigns, with [`leader_work`] for each term, until the election ends on its own, or
/// `shutdown` resolves, or the client certificate is about to expire: in those two cases it
/// cancels `stop` and waits for the election to release the Lease. Returns the election's
/// result: `Ok(Some(expiry))` if the certificate's expiry is why it stopped.
async fn campaign(
    elector: &LeaderElector,
    context: &Arc<LeaderContext>,
    probe_state: &ProbeState,
    stop: CancellationToken,
    shutdown: impl Future<Output = ()>,
    expiry: impl Future<Output = Timestamp>,
) -> Result<Option<Timestamp>, ElectionError> {
    let for_terms = context.clone();
    let running = elector.run(stop.clone(), move |leadership| {
        leader_work(leadership, for_terms.clone())
    });
    tokio::pin!(running);
    let mut expired = None;
    let result = tokio::select! {
        result = &mut running => result,
        _ = shutdown => {
            probe_state.set_shutting_down();
            stop.cancel();
            running.await
        }
        at = expiry => {
            warn!(expires = %at, "the client certificate from the exec plugin is about to expire: shutting down");
            expired = Some(at);
            probe_state.set_shutting_down();
            stop.cancel();
            running.await
        }
    };
    result.map(|()| expired)
}

/// Resolves a renew deadline before `expires` (time enough to stop the work and release the
/// Lease while the certificate is still good), or never if there is no expiry. A client
/// certificate cannot be renewed inside the client's TLS settings, so the way to a fresh one
/// is a fresh start.
async fn certificate_expiry(expires: Option<Timestamp>, lead_time: Duration) -> Timestamp {
    let Some(at) = expires else {
        return std::future::pending().await;
    };
    let left = Timestamp::now().duration_until(at);
    let wait = Duration::try_from(left)
        .unwrap_or(Duration::ZERO)
        .saturating_sub(lead_time);
    info!(expires = %at, "the exec plugin's client certificate expires at {at}; k8sensus will shut down gracefully before then");
    tokio::time::sleep(wait).await;
    at
}

/// The leader's work for one term: the sample task, with the Events and the pod label around
/// it. The elector awaits this whole future before it releases the Lease, so the label is
/// off and the "stopped leading" Event is written before anyone else can lead.
async fn leader_work(leadership: Leadership, ctx: Arc<LeaderContext>) {
    let (lease_uid, previous) = {
        let status = ctx.status.borrow();
        (status.lease_uid.clone(), status.previous_leader.clone())
    };
    let announce = async {
        let label = async {
            if let Some(label) = &ctx.label {
                // A leader that crashed cannot take its label off: its successor does.
                if let Some(previous) = &previous {
                    label.set(previous, false).await;
                }
                label.set(&ctx.pod_name, true).await;
            }
        };
        tokio::join!(ctx.events.record("became leader", lease_uid.clone()), label);
    };
    tokio::join!(announce, sample_task::run(leadership, ctx.task_period));
    // The work has stopped. The label comes off before the elector releases the Lease, so
    // that at most one pod carries it; the Event is written beside the release.
    let event = {
        let events = ctx.events.clone();
        async move { events.record("stopped leading", lease_uid).await }
    };
    {
        let mut endings = ctx.endings.lock().unwrap_or_else(|e| e.into_inner());
        while endings.try_join_next().is_some() {} // forget the Events of earlier terms
        endings.spawn(event);
    }
    if let Some(label) = &ctx.label {
        label.set(&ctx.pod_name, false).await;
    }
}

/// Logs each change of leader, as the walkthrough's OnNewLeader callback does.
async fn announce_leaders(mut status: watch::Receiver<ElectionStatus>, identity: String) {
    // The leader's name and whether it is this process: a record naming our identity may
    // have been written by another process with the same identity.
    let mut announced: Option<(String, bool)> = None;
    loop {
        let (leader, leading) = {
            let s = status.borrow_and_update();
            (s.leader.clone(), s.leading)
        };
        let current = leader.map(|l| {
            let mine = l == identity && leading;
            (l, mine)
        });
        if let Some((leader, mine)) = current.filter(|c| announced.as_ref() != Some(c)) {
            // After we step down the Lease still names us: that is our own old record.
            let stepped_down = announced.as_ref().is_some_and(|(l, m)| *l == leader && *m);
            if mine {
                info!(holder = %leader, event = log_event::NEW_LEADER, "I'm the new leader!");
            } else if stepped_down {
            } else if leader == identity {
                info!(holder = %leader, event = log_event::NEW_LEADER, "New leader is: {leader} (another process with this replica's identity)");
            } else {
                info!(holder = %leader, event = log_event::NEW_LEADER, "New leader is: {leader}");
            }
            announced = Some((leader, mine));
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
