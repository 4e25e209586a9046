//! The flags, and the settings built from them: what was typed ([`Args`]), then what it means
//! ([`Settings`]), with the rules that involve more than one flag in one place.

use std::path::PathBuf;

use clap::Parser;
use rand::Rng;

use crate::faults::Fault;
use crate::support::libtest::Libtest;

const EXAMPLES: &str = "\
Examples:
  cargo test --test chaos                      one trial of each fault (what `cargo test` runs)
  cargo test --test chaos -- --list            the faults, and what each does
  cargo test --test chaos -- --only sigstop_leader,partition_leader --trials 5
  cargo test --test chaos -- --only kill9_leader --trials 20 --seed 1123459553
                                               replay a run's random choices (CHAOS.md lists
                                               them; the timing of processes is not replayed)
  cargo test --test chaos -- --render-only chaos/results.json
                                               CHAOS.md again from the results file, no trial
  make chaos                                   20 trials of each fault into chaos/results.json,
                                               then CHAOS.md from it";

/// Randomized faults against real k8sensus replicas and a real kube-apiserver, every trial
/// checked for two leaders working at once.
#[derive(Parser, Debug)]
#[command(name = "chaos", bin_name = "cargo test --test chaos --", after_help = EXAMPLES)]
pub struct Args {
    /// Trials of each fault
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub trials: u32,

    /// Run only these faults (comma-separated, or the flag repeated; --list names them)
    #[arg(long, value_name = "FAULT[,FAULT]", value_delimiter = ',', value_parser = parse_fault)]
    pub only: Vec<Fault>,

    /// The master seed every trial's random choices derive from [default: random]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Write the results here, and a failed trial's logs next to them [default: a scratch
    /// file under target/, overwritten each run]
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Trials run at once (the kube-apiserver restarts always run alone)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,

    /// Write every trial's logs next to the results, not only a failed trial's
    #[arg(long)]
    pub keep_logs: bool,

    /// List the faults, and what each does, and exit
    #[arg(long)]
    pub list: bool,

    /// Run no trial: write CHAOS.md from this results file (what `make chaos` does after its
    /// trials)
    #[arg(long, value_name = "RESULTS",
          conflicts_with_all = ["trials", "only", "seed", "out", "parallel", "keep_logs", "list"])]
    pub render_only: Option<PathBuf>,

    /// With --render-only: write CHAOS.md here [default: CHAOS.md at the repository's root]
    #[arg(long, value_name = "PATH", requires = "render_only")]
    pub render_to: Option<PathBuf>,

    #[command(flatten)]
    pub libtest: Libtest,
}

fn parse_fault(name: &str) -> Result<Fault, String> {
    Fault::by_name(name.trim()).ok_or_else(|| {
        let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        format!(
            "no fault is named {name:?}; the faults are {}",
            names.join(", ")
        )
    })
}

/// The environment variables that set the suite before it took flags.
const RETIRED_VARIABLES: [(&str, &str); 6] = [
    ("K8SENSUS_CHAOS_TRIALS", "--trials N"),
    ("K8SENSUS_CHAOS_ONLY", "--only FAULT[,FAULT]"),
    ("K8SENSUS_CHAOS_SEED", "--seed S"),
    ("K8SENSUS_CHAOS_PARALLEL", "--parallel N"),
    ("K8SENSUS_CHAOS_RESULTS", "--out PATH"),
    ("K8SENSUS_CHAOS_KEEP_LOGS", "--keep-logs"),
];

/// What a run does, checked.
pub struct Settings {
    pub trials: usize,
    /// The faults to run, in the order given (the catalogue's by default).
    pub faults: Vec<Fault>,
    pub seed: u64,
    pub parallel: usize,
    pub out: PathBuf,
    /// Whether `out` is the default scratch file (no `--out`).
    pub scratch: bool,
    pub keep_logs: bool,
    pub list: bool,
    /// `--render-only`: CHAOS.md from a results file, instead of trials.
    pub render: Option<Render>,
}

/// Where `--render-only` reads the results, and where it writes CHAOS.md.
pub struct Render {
    pub results: PathBuf,
    pub to: PathBuf,
}

impl TryFrom<Args> for Settings {
    type Error = String;

    /// Fails on a variable of the old interface, rather than silently ignoring it.
    fn try_from(args: Args) -> Result<Self, String> {
        for (name, flag) in RETIRED_VARIABLES {
            if std::env::var_os(name).is_some() {
                return Err(format!(
                    "{name} is no longer read: give the suite {flag} instead \
                     (`cargo test --test chaos -- --help` lists the flags)"
                ));
            }
        }
        let mut faults: Vec<Fault> = Vec::new();
        let chosen = if args.only.is_empty() {
            Fault::ALL.to_vec()
        } else {
            args.only
        };
        for fault in chosen {
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        // `cargo test NAME` selects faults by name, as libtest selects tests.
        faults.retain(|f| args.libtest.selects(f.name()));
        let scratch = args.out.is_none();
        // The smoke run's results stay inside target/ (overwritten each run), not in /tmp.
        let out = args.out.unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos-smoke/results.json")
        });
        Ok(Settings {
            trials: args.trials as usize,
            faults,
            seed: args
                .seed
                .unwrap_or_else(|| rand::rng().random::<u32>() as u64),
            parallel: args.parallel as usize,
            out,
            scratch,
            keep_logs: args.keep_logs,
            list: args.list,
            render: args.render_only.map(|results| Render {
                results,
                to: args
                    .render_to
                    .unwrap_or_else(|| PathBuf::from(crate::REPO).join("CHAOS.md")),
            }),
        })
    }
}

impl Settings {
    /// The seed of one trial, from the master seed (splitmix64 of a mix of the three).
    pub fn trial_seed(&self, fault: Fault, index: usize) -> u64 {
        let mut z = self
            .seed
            .wrapping_add((fault as u64) << 32)
            .wrapping_add(index as u64)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Where a trial's logs are written: next to the results.
    pub fn log_dir(&self) -> PathBuf {
        self.out.parent().map(PathBuf::from).unwrap_or_default()
    }

    /// The command of this run, for the results: the flags that choose what runs.
    pub fn command(&self) -> String {
        let mut command = format!(
            "cargo test --locked --test chaos -- --trials {}",
            self.trials
        );
        if self.faults != Fault::ALL {
            let names: Vec<&str> = self.faults.iter().map(|f| f.name()).collect();
            command.push_str(&format!(" --only {}", names.join(",")));
        }
        command
    }

    /// The command that replays `fault`'s trials of this run, with the same random choices.
    pub fn reproduce(&self, fault: Fault) -> String {
        format!(
            "cargo test --locked --test chaos -- --only {} --trials {} --seed {}",
            fault.name(),
            self.trials,
            self.seed
        )
    }
}
