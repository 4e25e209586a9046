//! One run's shared state ([`Bench`]): the control plane with its audit log, the admin
//! client, the driver's watch on every Lease, the implementations, the timeline's markers and
//! the load sampler; and the steps around the measuring (start, stop everything).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::args::Settings;
use crate::machine_load::LoadSampler;
use crate::progress::log;
use crate::replicas::Markers;
use crate::support::audit::audit_bin_dir;
use crate::support::control_plane::{
    ControlPlane, ControlPlaneOptions, client_for, control_plane_bin,
};
use crate::support::lease_watch::{LeaseWatcher, epoch_now};
use crate::support::provenance::{SourceSnapshot, load_average};
use crate::support::replica::Implementation;

/// The k8sensus implementation's key, in identities and results.
pub const K8SENSUS: &str = "k8sensus";
/// The client-go reference's.
pub const CLIENT_GO: &str = "client-go";

/// The key results.json files an implementation under (`client-go` → `client_go`).
pub fn results_key(implementation: &Implementation) -> String {
    implementation.key.replace('-', "_")
}

/// A control plane of the run's own: etcd + kube-apiserver with an audit log, its admin
/// client, and the driver's watch on every Lease named `k8sensus-lease` on it. The scale
/// part runs several at once.
pub struct Plane {
    pub cp: ControlPlane,
    pub audit_log: PathBuf,
    pub admin: kube::Client,
    pub watcher: LeaseWatcher,
}

impl Plane {
    /// Starts one in `work/<name>` from the binaries in `real` (kube-apiserver wrapped to
    /// write `work/<audit_name>`), the runner's messages in `log_dir/<log_name>`, and its
    /// watch. Blocks until the watch runs.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        real: &Path,
        work: &Path,
        name: &str,
        audit_name: &str,
        log_file: &Path,
    ) -> Result<Plane, String> {
        let audit_log = work.join(audit_name);
        let bin_dir = audit_bin_dir(real, &work.join(format!("{name}-bin")), &audit_log)?;
        let cp = ControlPlane::start_with(
            &work.join(name),
            &ControlPlaneOptions {
                bin_dir: Some(bin_dir),
                log: Some(log_file.to_path_buf()),
            },
        );
        let admin = rt.block_on(client_for(&cp.kubeconfig));
        let watcher = LeaseWatcher::start(&cp.kubeconfig, None);
        watcher.wait_started(
            &format!("the driver's watch on {}", cp.server),
            Duration::from_secs(30),
        )?;
        Ok(Plane {
            cp,
            audit_log,
            admin,
            watcher,
        })
    }

    /// Several started at the same time, each `(name, audit_name, log_file)` as
    /// [`Plane::start`] takes them, each from a thread of its own (a control plane takes
    /// seconds to come up, more on a busy machine). In the order given; the first error if any
    /// failed (those that started are stopped when dropped: their runners' lifelines close).
    pub fn start_together(
        rt: &tokio::runtime::Runtime,
        real: &Path,
        work: &Path,
        planes: &[(&str, &str, PathBuf)],
    ) -> Result<Vec<Plane>, String> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = planes
                .iter()
                .map(|(name, audit, log_file)| {
                    scope.spawn(move || Plane::start(rt, real, work, name, audit, log_file))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a control plane did not start (see above)".into()))
                })
                .collect()
        })
    }

    /// Stops its watch and its control plane, keeping its audit log in `log_dir`.
    pub fn stop(&mut self, log_dir: &Path) {
        self.watcher.stop();
        self.cp.let_go();
        self.cp.stop();
        if let Some(name) = self.audit_log.file_name() {
            let _ = std::fs::copy(&self.audit_log, log_dir.join(name));
        }
    }
}

/// What the steps of one run share.
pub struct Bench {
    pub settings: Settings,
    pub rt: tokio::runtime::Runtime,
    /// A private work directory, removed at the end.
    pub work: PathBuf,
    /// The control plane's binaries as built (unwrapped): the scale part starts more
    /// control planes from them.
    #[allow(dead_code)]
    pub cp_bin: PathBuf,
    pub plane: Plane,
    /// k8sensus first, then the client-go reference if the run has it.
    pub impls: Vec<Implementation>,
    pub markers: Markers,
    pub sampler: LoadSampler,
    pub started_at: Timestamp,
    pub started_epoch: f64,
    pub load_at_start: [f64; 3],
    pub source: SourceSnapshot,
}

/// Flags for k8sensus beyond the election's, for whichever version `binary` is: JSON logs,
/// and probes on a free loopback port (the default, :8080 on every interface, would collide
/// between replicas on one host).
pub fn k8sensus_extra_args(binary: &Path) -> Result<Vec<String>, String> {
    let out = std::process::Command::new(binary)
        .arg("--help")
        .output()
        .map_err(|e| format!("cannot run {} --help: {e}", binary.display()))?;
    let help = String::from_utf8_lossy(&out.stdout);
    let mut args = Vec::new();
    if help.contains("--log-format") {
        args.push("--log-format=json".to_string());
    }
    if help.contains("--probe-addr") {
        args.push("--probe-addr=127.0.0.1:0".to_string());
    }
    Ok(args)
}

/// A random-number generator for one stream of choices (a lane's trials, say), from the
/// run's seed and the stream's name: the same seed gives each stream the same choices,
/// whatever order the threads run in.
pub fn rng_for(seed: u64, stream: &str) -> StdRng {
    // FNV-1a of the name, mixed with the seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    StdRng::seed_from_u64(seed ^ h)
}

impl Bench {
    /// The implementations and the control plane's binaries (checked first, so that a run
    /// that cannot start leaves nothing behind), the log and work directories, the load
    /// sampler, then the control plane with its audit log and the driver's watch.
    pub fn start(settings: Settings) -> Result<Bench, String> {
        let started_at = Timestamp::now();
        let started_epoch = epoch_now();
        let load_at_start = load_average();
        let source = SourceSnapshot::now();
        let impls = implementations(&settings)?;
        let cp_bin = match &settings.control_plane_bin {
            Some(dir) => dir.clone(),
            None => control_plane_bin()?,
        };
        prepare_log_dir(&settings)?;
        let sampler = LoadSampler::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build the runtime: {e}"))?;
        let work = fresh_work_dir(&settings)?;
        log(&format!(
            "{}: work dir {}, logs in {}, seed {}",
            settings.part(),
            work.display(),
            settings.log_dir.display(),
            settings.seed
        ));
        let plane = start_plane(&rt, &cp_bin, &work, &settings)?;
        Ok(Bench {
            settings,
            rt,
            work,
            cp_bin,
            plane,
            impls,
            markers: Markers::default(),
            sampler,
            started_at,
            started_epoch,
            load_at_start,
            source,
        })
    }

    /// The run's kube-apiserver's own `process_cpu_seconds_total`.
    pub fn apiserver_cpu_seconds(&self) -> Result<f64, String> {
        self.rt
            .block_on(self.plane.cp.apiserver_cpu_seconds(&self.plane.admin))
    }

    /// The watch stopped, the control plane stopped, its audit log kept in the log
    /// directory and the work directory removed. (Replicas are killed when their sets drop.)
    pub fn stop_everything(&mut self) {
        self.plane.stop(&self.settings.log_dir);
        let _ = std::fs::remove_dir_all(&self.work);
        log(&format!(
            "{}: stopped every process it started",
            self.settings.part()
        ));
    }
}

/// k8sensus, then the client-go reference if the run has it; an error if a binary is
/// missing.
fn implementations(settings: &Settings) -> Result<Vec<Implementation>, String> {
    for bin in std::iter::once(&settings.k8sensus_bin).chain(&settings.client_go_bin) {
        if !bin.is_file() {
            return Err(format!("no binary at {}", bin.display()));
        }
    }
    let mut impls = vec![Implementation {
        key: K8SENSUS.into(),
        bin: settings.k8sensus_bin.clone(),
        extra_args: k8sensus_extra_args(&settings.k8sensus_bin)?,
        env: vec![("LOG_FORMAT".into(), "json".into())],
    }];
    if let Some(bin) = &settings.client_go_bin {
        impls.push(Implementation {
            key: CLIENT_GO.into(),
            bin: bin.clone(),
            extra_args: Vec::new(),
            env: Vec::new(),
        });
    } else {
        log("no --client-go-bin: measuring k8sensus alone");
    }
    Ok(impls)
}

/// The log directory, made; emptied first for the smoke run.
fn prepare_log_dir(settings: &Settings) -> Result<(), String> {
    if settings.scratch {
        // The smoke run's logs are its own: bench/run.py clears bench/.logs itself.
        let _ = std::fs::remove_dir_all(&settings.log_dir);
    }
    std::fs::create_dir_all(&settings.log_dir)
        .map_err(|e| format!("cannot create {}: {e}", settings.log_dir.display()))
}

/// A private work directory under the system's temporary one, named after the process and
/// the seed, made empty.
fn fresh_work_dir(settings: &Settings) -> Result<PathBuf, String> {
    let work = std::env::temp_dir().join(format!(
        "k8sensus-bench-{}-{}",
        std::process::id(),
        settings.seed
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    Ok(work)
}

/// The run's control plane, with its audit log and the driver's watch.
fn start_plane(
    rt: &tokio::runtime::Runtime,
    cp_bin: &Path,
    work: &Path,
    settings: &Settings,
) -> Result<Plane, String> {
    log("starting etcd + kube-apiserver (with an audit log of Lease requests)");
    // One plane here; the scale part starts several with the same call. The scale part
    // alone runs after the local part in the same log directory: its files take names of
    // their own, so that the local part's stay.
    let (audit, runner_log) = if settings.scale.only {
        ("audit-scale.log", "controlplane-scale.log")
    } else {
        ("audit.log", "controlplane.log")
    };
    let plane = Plane::start_together(
        rt,
        cp_bin,
        work,
        &[("cp", audit, settings.log_dir.join(runner_log))],
    )?
    .remove(0);
    log(&format!("control plane ready at {}", plane.cp.server));
    Ok(plane)
}
