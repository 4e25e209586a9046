//! The `k8sensus` binary. Exit status: 0 after a clean shutdown, 2 for bad usage, 1 otherwise.

use std::process::ExitCode;

use clap::Parser;
use k8sensus::{app, cli::Cli, config::Config, shutdown, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse(); // prints usage errors itself and exits with status 2
    telemetry::init(cli.log_format);
    let config = match Config::from_cli(cli, || gethostname::gethostname().into_string().ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread is plenty for one Lease, and keeps the footprint small.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = runtime.map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(async {
            let stop = shutdown::on_signals()
                .map_err(|e| format!("cannot install signal handlers: {e}"))?;
            app::run(config, stop.cancelled_owned())
                .await
                .map_err(|e| e.to_string())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
