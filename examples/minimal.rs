//! The fewest lines that elect a leader and run work only while leading.
//!
//! Run two or three at once, each with its own name, against any cluster your kubeconfig
//! reaches (the account needs rbac.yaml's rights on the Lease `k8sensus-lease`):
//!
//! ```sh
//! POD_NAME=one cargo run --example minimal
//! POD_NAME=two cargo run --example minimal
//! ```
//!
//! One prints `leading`; Ctrl-C it and another takes over at once.

use k8sensus::elector::{ElectionConfig, LeaderElector};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await?;
    let namespace = client.default_namespace().to_string();
    let config = ElectionConfig::new("k8sensus-lease", namespace, std::env::var("POD_NAME")?);
    let elector = LeaderElector::new(client, config)?;

    // Ctrl-C ends the election: the work is stopped first, then the Lease is released.
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });

    elector
        .run(shutdown, |term| async move {
            println!("leading (fencing token {})", term.fencing_token());
            term.ended().await; // the work: here, nothing but waiting for the term to end
            println!("stopped leading");
        })
        .await?;
    Ok(())
}
