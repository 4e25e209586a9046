//! The `k8sensus` binary. Exit status: 0 after a clean shutdown, 2 for bad usage, 1 otherwise.
//!
//! A closed stdout or stderr never panics: see [`telemetry::output_closed`] for what happens.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use k8sensus::cli::{Cli, Command, LogFormat};
use k8sensus::config::{self, Config};
use k8sensus::{app, shutdown, status, telemetry};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

fn main() -> ExitCode {
    let cli = Cli::parse(); // prints usage errors itself and exits with status 2
    if let Some(Command::Status(args)) = cli.command {
        telemetry::init(LogFormat::Plain, "warn");
        let (lease_name, lease_namespace) = (
            args.lease.lease_name.unwrap_or_default(),
            args.lease.lease_namespace,
        );
        let names = config::check_dns1123_subdomain(&lease_name)
            .map_err(|m| format!("invalid value for --lease-name: {:?} {m}", lease_name))
            .and_then(|()| {
                config::check_dns1123_label(&lease_namespace).map_err(|m| {
                    format!(
                        "invalid value for --lease-namespace: {:?} {m}",
                        lease_namespace
                    )
                })
            });
        if let Err(e) = names {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return ExitCode::from(2);
        }
        return finish(block_on(async {
            status::run(&lease_namespace, &lease_name, args.watch)
                .await
                .map_err(|e| e.to_string())
        }));
    }

    telemetry::init(cli.run.log_format, "info");
    let config = match Config::from_cli(cli.run, || gethostname::gethostname().into_string().ok()) {
        Ok(config) => config,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return ExitCode::from(2);
        }
    };
    finish(block_on(async {
        let mut signals = shutdown::Signals::install()
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let stop = CancellationToken::new();
        // Nobody reads our logs any more: shut down as on SIGTERM.
        let closed = telemetry::output_closed();
        let on_close = stop.clone();
        tokio::spawn(async move {
            closed.cancelled().await;
            on_close.cancel();
        });
        let app = app::run(config, stop.clone().cancelled_owned());
        tokio::pin!(app);
        // The first signal starts the orderly shutdown; the app then stops its work, releases
        // the Lease and returns.
        tokio::select! {
            result = &mut app => return result.map_err(|e| e.to_string()),
            name = signals.next() => {
                info!("received {name}: shutting down (send it again to exit at once)");
                stop.cancel();
            }
        }
        // A second signal: the orderly path is stuck, or the user will not wait for it.
        tokio::select! {
            result = &mut app => result.map_err(|e| e.to_string()),
            name = signals.next() => {
                warn!("received {name} again: exiting at once, without releasing the lease");
                Err(format!("stopped by a second {name}; the lease was not released and expires after its lease duration"))
            }
        }
    }))
}

/// One thread is plenty for one Lease, and keeps the footprint small.
fn block_on(work: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(work);
    // Whatever is left (a stuck work after a second signal, the probe server) is abandoned,
    // not waited for: the process is about to exit.
    runtime.shutdown_background();
    result
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
