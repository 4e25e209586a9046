//! A `kube::runtime::Controller` that runs only while this replica leads.
//!
//! kube-rs has no leader election of its own. This is how to combine its controller runtime
//! with `k8sensus::elector`: start the controller when a term of leadership begins, stop it
//! when [`Leadership::ended`] resolves, and pass the term's fencing token to every write.
//!
//! The controller reconciles the ConfigMaps labelled `k8sensus.io/example=controller` in its
//! namespace: it writes who reconciled them into `data.reconciled-by`, and the term's fencing
//! token into the annotation `k8sensus.io/fencing-token`. The ConfigMap itself is the store
//! that remembers the largest token: a leader whose token is smaller than the one already
//! written has been replaced, and refuses to write. Each write carries the resourceVersion it
//! read, so the check and the write are one step for the API server.
//!
//! Besides rbac.yaml's rights on the Lease, the account needs to watch and patch ConfigMaps:
//!
//! ```sh
//! kubectl create role k8sensus-example --verb=get,list,watch,patch --resource=configmaps
//! kubectl create rolebinding k8sensus-example --role=k8sensus-example --serviceaccount=NAMESPACE:k8sensus
//! kubectl create configmap demo && kubectl label configmap demo k8sensus.io/example=controller
//! POD_NAME=one cargo run --example controller
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8sensus::elector::{ElectionConfig, LeaderElector, Leadership};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

const SELECTOR: &str = "k8sensus.io/example=controller";
const TOKEN_ANNOTATION: &str = "k8sensus.io/fencing-token";

/// What every reconcile call gets: the API, who we are, and the current term.
struct Context {
    api: Api<ConfigMap>,
    identity: String,
    term: Leadership,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("not leading any more")]
    NotLeading,
    #[error("a newer leader (fencing token {theirs}) wrote here; ours is {ours}")]
    Fenced { ours: i32, theirs: i32 },
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

async fn reconcile(cm: Arc<ConfigMap>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Checked right before acting: after a pause (GC, SIGSTOP) this is already false.
    if !ctx.term.still_leading() {
        return Err(Error::NotLeading);
    }
    let ours = ctx.term.fencing_token();
    let theirs = cm
        .annotations()
        .get(TOKEN_ANNOTATION)
        .and_then(|t| t.parse::<i32>().ok());
    if let Some(theirs) = theirs.filter(|t| *t > ours) {
        return Err(Error::Fenced { ours, theirs });
    }
    let patch = serde_json::json!({
        "metadata": {
            // The write succeeds only if nobody changed the ConfigMap since we read it.
            "resourceVersion": cm.resource_version(),
            "annotations": { TOKEN_ANNOTATION: ours.to_string() },
        },
        "data": { "reconciled-by": ctx.identity },
    });
    ctx.api
        .patch(
            &cm.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    println!("reconciled {} (fencing token {ours})", cm.name_any());
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(cm: Arc<ConfigMap>, error: &Error, _: Arc<Context>) -> Action {
    println!("could not reconcile {}: {error}", cm.name_any());
    Action::requeue(Duration::from_secs(5))
}

/// One term's work: the controller, from the start of the term until it ends.
async fn run_controller(client: Client, identity: String, term: Leadership) {
    let api = Api::<ConfigMap>::default_namespaced(client);
    // `graceful_shutdown_on` wants a future it can own; a oneshot channel carries the end of
    // the term to it. The controller then finishes the reconciles in flight and stops.
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher_term = term.clone();
    tokio::spawn(async move {
        watcher_term.ended().await;
        let _ = ended_tx.send(());
    });
    println!(
        "leading (fencing token {}): controller started",
        term.fencing_token()
    );
    let context = Arc::new(Context {
        api: api.clone(),
        identity,
        term,
    });
    Controller::new(api, watcher::Config::default().labels(SELECTOR))
        .graceful_shutdown_on(ended_rx.map(|_| ()))
        .run(reconcile, error_policy, context)
        .for_each(|_| async {})
        .await;
    println!("controller stopped");
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_default().await?;
    let identity = std::env::var("POD_NAME")?;
    let config = ElectionConfig::new(
        "k8sensus-lease",
        client.default_namespace().to_string(),
        identity.clone(),
    );
    let elector = LeaderElector::new(client.clone(), config)?;

    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });

    // A new controller for every term: its cache and queue start empty, so nothing carries
    // over from an earlier term, and the elector awaits it before releasing the Lease.
    elector
        .run(shutdown, |term| {
            run_controller(client.clone(), identity.clone(), term)
        })
        .await?;
    Ok(())
}
