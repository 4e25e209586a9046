//! The cluster part's flags, and the settings checked from them (the benchmark's shared
//! flags, such as `--out` and `--seed`, are read here too).

use std::path::{Path, PathBuf};

use super::trials::Counts;
use crate::support::REPO;
use crate::support::lease_watch::epoch_now;

/// The cluster part's own flags, beside the benchmark's shared ones (`--crash-trials` counts
/// container crashes here, `--client-go-bin` is the reference's binary inside its image).
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Run the cluster part (as root): both implementations as Deployments in the one-node
    /// cluster; `--out` is then where the "cluster" section alone is written (bench/cluster.py
    /// merges it into results.json, every other key kept)
    #[arg(long)]
    pub cluster: bool,
    /// Cluster part: `kubectl delete pod <leader>` trials per implementation
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub delete_trials: usize,
    /// Cluster part: `kubectl rollout restart` trials per implementation
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub rollouts: usize,
    /// Cluster part: the client-go reference's image, NAME:TAG, as hack/cluster/images.py
    /// client-go-ref names it
    #[arg(long, value_name = "NAME:TAG")]
    pub client_go_image: Option<String>,
    /// Cluster part: the image's archive, imported into the cluster's containerd
    #[arg(long, value_name = "PATH")]
    pub client_go_archive: Option<PathBuf>,
    /// Cluster part: the reference's binary came from the cache (for the results)
    #[arg(long)]
    pub client_go_cached: bool,
    /// Cluster part: when the build of the image began, seconds since the epoch (for
    /// `build_and_start_s`) [default: this program's start]
    #[arg(long, value_name = "EPOCH")]
    pub build_since: Option<f64>,
}

/// What a cluster run does, checked.
pub struct Settings {
    pub counts: Counts,
    pub client_go_image: String,
    pub client_go_archive: PathBuf,
    pub client_go_bin: PathBuf,
    pub client_go_cached: bool,
    pub seed: u64,
    pub out: PathBuf,
    pub log_dir: PathBuf,
    pub command: String,
    pub since: f64,
    pub build_since: f64,
}

/// The flags the cluster part reads, from the benchmark's.
pub struct Flags<'a> {
    pub cluster: &'a ClusterArgs,
    pub crash_trials: usize,
    pub client_go_bin: Option<&'a Path>,
    pub seed: Option<u64>,
    pub out: Option<&'a Path>,
    pub log_dir: Option<&'a Path>,
    pub command: Option<&'a str>,
    pub since: Option<f64>,
}

impl<'a> Flags<'a> {
    /// The cluster part's flags among the bench program's.
    pub fn of(args: &'a crate::args::Args) -> Self {
        Flags {
            cluster: &args.cluster,
            crash_trials: args.crash_trials,
            client_go_bin: args.client_go_bin.as_deref(),
            seed: args.seed,
            out: args.out.as_deref(),
            log_dir: args.log_dir.as_deref(),
            command: args.command.as_deref(),
            since: args.since,
        }
    }
}

impl TryFrom<Flags<'_>> for Settings {
    type Error = String;

    fn try_from(f: Flags<'_>) -> Result<Self, String> {
        let c = f.cluster;
        let need = |what: &str| format!("--cluster needs {what} (bench/cluster.py passes it)");
        let since = f.since.unwrap_or_else(epoch_now);
        Ok(Settings {
            counts: Counts {
                delete: c.delete_trials,
                crash: f.crash_trials,
                rollout: c.rollouts,
            },
            client_go_image: c
                .client_go_image
                .clone()
                .ok_or_else(|| need("--client-go-image"))?,
            client_go_archive: c
                .client_go_archive
                .clone()
                .ok_or_else(|| need("--client-go-archive"))?,
            client_go_bin: f
                .client_go_bin
                .map(Path::to_path_buf)
                .ok_or_else(|| need("--client-go-bin"))?,
            client_go_cached: c.client_go_cached,
            seed: f
                .seed
                .unwrap_or_else(|| u64::from(rand::random::<u32>() >> 2)),
            out: f
                .out
                .map(Path::to_path_buf)
                .ok_or_else(|| need("--out (the results file to merge into)"))?,
            log_dir: f
                .log_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| Path::new(REPO).join("bench/.logs/cluster")),
            command: f
                .command
                .map(str::to_string)
                .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
            since,
            build_since: c.build_since.unwrap_or_else(epoch_now),
        })
    }
}
