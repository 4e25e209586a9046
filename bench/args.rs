//! The flags, and the settings built from them: what was typed ([`Args`]), then what it means
//! ([`Settings`]), with the rules that involve more than one flag in one place.

use std::path::PathBuf;

use clap::Parser;

use crate::support::REPO;
use crate::support::libtest::Libtest;

const EXAMPLES: &str = "\
Examples:
  cargo test --test bench                      a short smoke run of k8sensus alone (what
                                               `cargo test` runs), results in a scratch file
  python3 bench/run.py                         the benchmark (`make bench`): builds both
                                               electors, then runs this program with their
                                               binaries, then the scale part, then renders
  python3 bench/cluster.py                     the cluster part (`make bench-cluster`, as
                                               root): builds the client-go image, then runs
                                               this program with --cluster";

/// The benchmark's local part: k8sensus (and the client-go reference, when given) as local
/// processes on a real kube-apiserver with an audit log, measured from the outside.
#[derive(Parser, Debug)]
#[command(name = "bench", bin_name = "cargo test --test bench --", after_help = EXAMPLES)]
pub struct Args {
    /// The k8sensus binary [default: the one cargo built for this test]
    #[arg(long, value_name = "PATH")]
    pub k8sensus_bin: Option<PathBuf>,
    /// The client-go reference (bench/client-go-ref, as bench/run.py builds it); without it
    /// only k8sensus is measured
    #[arg(long, value_name = "PATH")]
    pub client_go_bin: Option<PathBuf>,
    /// The control plane's binaries, as `hack/control-plane/controlplane.py build` prints
    /// them [default: controlplane.py's cache on this machine; `make control-plane-bin`
    /// builds it]
    #[arg(long, value_name = "DIR")]
    pub control_plane_bin: Option<PathBuf>,
    /// Crash trials per implementation, shared between its lanes
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub crash_trials: usize,
    /// Replica sets per implementation that run crash trials side by side, each on its own
    /// Lease; the first one then runs the graceful trials
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub lanes: usize,
    /// Graceful trials per implementation
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub graceful_trials: usize,
    /// Crash trials with 4s/3s/0.5s timings
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub short_crash_trials: usize,
    /// Graceful trials with 4s/3s/0.5s timings
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub short_graceful_trials: usize,
    /// The steady-state window, seconds (the benchmark's definition needs at least 60)
    #[arg(long, value_name = "S", default_value_t = 20.0)]
    pub steady_seconds: f64,
    /// Runs of first leadership on an empty namespace, per implementation
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub first_runs: usize,
    /// Skip the short-timing graceful trials if they would end the run past this
    #[arg(long, value_name = "MIN", default_value_t = 28.0)]
    pub budget_minutes: f64,
    /// The seed of every random choice (the trials' offsets; the namespaces' names)
    /// [default: random]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Write the local part's results here [default: a scratch file under target/]
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The replicas' logs, the control plane's messages and the audit log go here
    /// [default: bench/.logs; with no --out, a scratch directory under target/]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// The command line the results record [default: this program's]
    #[arg(long, value_name = "TEXT")]
    pub command: Option<String>,
    /// When the whole run began, seconds since the epoch (bench/run.py's start): progress
    /// lines, the budget and duration_s count from it [default: now]
    #[arg(long, value_name = "EPOCH")]
    pub since: Option<f64>,
    /// Print the source tree as the results record it (commit, changed paths, a hash of the
    /// build inputs) as JSON, and exit: bench/run.py takes it before and after `make build`
    #[arg(long)]
    pub source_snapshot: bool,
    #[command(flatten)]
    pub scale: crate::scale::args::ScaleArgs,
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,
    #[command(flatten)]
    pub libtest: Libtest,
}

/// The name a libtest filter is matched against.
const TEST_NAME: &str = "bench_local";

/// What a run does, checked.
pub struct Settings {
    pub k8sensus_bin: PathBuf,
    pub client_go_bin: Option<PathBuf>,
    pub control_plane_bin: Option<PathBuf>,
    pub crash_trials: usize,
    pub lanes: usize,
    pub graceful_trials: usize,
    pub short_crash_trials: usize,
    pub short_graceful_trials: usize,
    pub steady_seconds: f64,
    pub first_runs: usize,
    pub budget_minutes: f64,
    pub seed: u64,
    pub out: PathBuf,
    /// Whether `out` is the default scratch file (no `--out`).
    pub scratch: bool,
    pub log_dir: PathBuf,
    pub command: String,
    pub since: f64,
    /// Whether a libtest filter or `--ignored` leaves nothing to run.
    pub nothing_to_run: bool,
    /// The scale part's.
    pub scale: crate::scale::args::ScaleSettings,
}

impl Settings {
    /// The part this run measures, as its progress lines name it.
    pub fn part(&self) -> &'static str {
        if self.scale.only {
            "scale part"
        } else {
            "local part"
        }
    }
}

impl TryFrom<Args> for Settings {
    type Error = String;

    fn try_from(args: Args) -> Result<Self, String> {
        if args.lanes < 1 {
            return Err("--lanes must be at least 1".into());
        }
        if args.steady_seconds <= 0.0 {
            return Err("--steady-seconds must be positive".into());
        }
        let nothing_to_run = !args.libtest.selects(TEST_NAME);
        let scratch = args.out.is_none();
        // cargo's scratch directory for integration tests (target/tmp).
        let scratch_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
        let now = crate::support::lease_watch::epoch_now();
        Ok(Settings {
            k8sensus_bin: args
                .k8sensus_bin
                .unwrap_or_else(|| PathBuf::from(crate::support::BIN)),
            client_go_bin: args.client_go_bin,
            control_plane_bin: args.control_plane_bin,
            crash_trials: args.crash_trials,
            lanes: args.lanes,
            graceful_trials: args.graceful_trials,
            short_crash_trials: args.short_crash_trials,
            short_graceful_trials: args.short_graceful_trials,
            steady_seconds: args.steady_seconds,
            first_runs: args.first_runs,
            budget_minutes: args.budget_minutes,
            seed: args
                .seed
                .unwrap_or_else(|| rand::random::<u64>() % (1 << 30)),
            out: args.out.unwrap_or_else(|| scratch_dir.join("results.json")),
            scratch,
            log_dir: args.log_dir.unwrap_or_else(|| {
                if scratch {
                    scratch_dir.join("logs")
                } else {
                    PathBuf::from(REPO).join("bench/.logs")
                }
            }),
            command: args.command.unwrap_or_else(|| {
                std::iter::once("cargo test --test bench --".to_string())
                    .chain(std::env::args().skip(1))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            since: args.since.unwrap_or(now),
            nothing_to_run,
            scale: crate::scale::args::ScaleSettings::try_from(args.scale)?,
        })
    }
}
