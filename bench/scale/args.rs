//! The scale part's flags (flattened into the program's), as bench/run.py passes them, and
//! its settings, checked.

use std::path::PathBuf;

use super::results::Json;

/// The numbers of candidates measured by default.
pub const SCALE_NS: [usize; 4] = [3, 10, 30, 100];

/// The scale part's flags (flattened into the program's), as bench/run.py passes them.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "At scale (one Lease with N candidates, for each N)")]
pub struct ScaleArgs {
    /// Run only the scale part, and write its section into --out, every other key of that
    /// file kept (`make bench-scale`)
    #[arg(long)]
    pub scale_only: bool,
    /// The numbers of candidates, comma-separated
    #[arg(long, value_name = "N,...", value_delimiter = ',', default_values_t = SCALE_NS)]
    pub scale: Vec<usize>,
    /// Crash trials per implementation and N
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub scale_crash_trials: usize,
    /// Graceful trials per implementation and N
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub scale_graceful_trials: usize,
    /// Each steady-state window at scale, seconds (one per implementation and N, both
    /// implementations' at once, beside the trials, each on a control plane of its own; it
    /// closes at least 185 s after the steady sets have leaders, so that it holds each
    /// k8sensus standby's first resync)
    #[arg(long, value_name = "S", default_value_t = 120.0)]
    pub scale_steady_seconds: f64,
    /// bench/run.py's snapshot of the source its build took, a JSON object, which the
    /// section's `source` records [default: the tree as this run finds it]
    #[arg(long, value_name = "PATH")]
    pub source_json: Option<PathBuf>,
}

/// What the scale part runs, checked.
#[derive(Debug)]
pub struct ScaleSettings {
    /// Whether the run is the scale part alone.
    pub only: bool,
    /// The N, in the order they run.
    pub ns: Vec<usize>,
    pub crash_trials: usize,
    pub graceful_trials: usize,
    pub steady_seconds: f64,
    pub source_json: Option<Json>,
}

impl TryFrom<ScaleArgs> for ScaleSettings {
    type Error = String;

    fn try_from(args: ScaleArgs) -> Result<Self, String> {
        if args.scale_only && args.scale.is_empty() {
            return Err("--scale-only with no N to run".into());
        }
        if args.scale.iter().any(|&n| n < 2) {
            return Err("--scale: every N must be at least 2 (a takeover needs a standby)".into());
        }
        if args.scale_steady_seconds <= 0.0 {
            return Err("--scale-steady-seconds must be positive".into());
        }
        let source_json = match &args.source_json {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                match serde_json::from_str::<Json>(&text) {
                    Ok(object @ Json::Object(_)) => Some(object),
                    _ => return Err(format!("{} is not a JSON object", path.display())),
                }
            }
        };
        Ok(ScaleSettings {
            only: args.scale_only,
            ns: args.scale,
            crash_trials: args.scale_crash_trials,
            graceful_trials: args.scale_graceful_trials,
            steady_seconds: args.scale_steady_seconds,
            source_json,
        })
    }
}
