//! The demo program: connect, campaign, run the sample task while leading, and tell the
//! story in the logs.

use std::future::Future;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::client::{self, ClientError};
use crate::config::{Config, IdentitySource};
use crate::elector::{ApiError, ElectionError, ElectionStatus, LeaderElector};
use crate::sample_task;

/// Why the program stopped with an error; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(
        "{0}; apply rbac.yaml (kubectl apply -f rbac.yaml) to let the k8sensus ServiceAccount get, create and update this lease"
    )]
    Forbidden(ElectionError),
    #[error("{0}; check the credentials in the kubeconfig or the pod's ServiceAccount token")]
    Unauthorized(ElectionError),
    #[error(transparent)]
    Election(ElectionError),
}

impl From<ElectionError> for AppError {
    fn from(e: ElectionError) -> Self {
        match &e {
            ElectionError::Api(ApiError::Forbidden { .. }) => AppError::Forbidden(e),
            ElectionError::Api(ApiError::Unauthorized { .. }) => AppError::Unauthorized(e),
            _ => AppError::Election(e),
        }
    }
}

/// Runs until `shutdown` resolves (then stops the work, releases the Lease and returns
/// `Ok`), or until something fails that retrying cannot fix.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
    let election = config.election.clone();
    info!(version = env!("CARGO_PKG_VERSION"), identity = %election.identity,
        "k8sensus starting: Kubernetes Lease leader election");
    if config.identity_source == IdentitySource::Hostname {
        warn!(identity = %election.identity,
            "POD_NAME is not set: using the host name as identity; every replica needs a unique one");
    }
    info!(
        lease = %election.lease_ref(),
        identity = %election.identity,
        lease_duration = %humantime::format_duration(election.lease_duration),
        renew_deadline = %humantime::format_duration(election.renew_deadline),
        retry_period = %humantime::format_duration(election.retry_period),
        "lease metadata: name={} namespace={}", election.lease_name, election.namespace
    );

    let client = client::connect(election.request_timeout).await?;
    let elector = LeaderElector::new(client, election).map_err(ElectionError::from)?;

    let stop = CancellationToken::new();
    let announcer = tokio::spawn(announce_leaders(
        elector.status(),
        elector.config().identity.clone(),
    ));
    let period = config.task_period;
    let campaign = elector.run(stop.clone(), move |leadership| {
        sample_task::run(leadership, period)
    });
    tokio::pin!(campaign);
    let result = tokio::select! {
        result = &mut campaign => result,
        _ = shutdown => {
            stop.cancel();
            campaign.await
        }
    };
    announcer.abort();
    result?;
    info!("k8sensus stopped");
    Ok(())
}

/// Logs each change of leader, as the walkthrough's OnNewLeader callback does.
async fn announce_leaders(mut status: watch::Receiver<ElectionStatus>, identity: String) {
    let mut announced: Option<String> = None;
    loop {
        let leader = status.borrow_and_update().leader.clone();
        if let Some(leader) = leader.filter(|l| announced.as_ref() != Some(l)) {
            if leader == identity {
                info!(holder = %leader, "I'm the new leader!");
            } else {
                info!(holder = %leader, "New leader is: {leader}");
            }
            announced = Some(leader);
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
