//! Test support for the one-node cluster (`hack/cluster/cluster.py`): start it with a lifeline
//! on stdin (closing it, or this process dying, tears everything down), run kubectl and ctr
//! against it, collect every pod's log lines as they are written, and check that nothing is
//! left on the host afterwards.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use k8sensus::log_event;
use serde_json::Value;

use super::REPO;
use super::control_plane::run_kubectl;
use super::log::{LogLine, parse_line};
use super::overlap::{Term, terms_by_replica};
use super::runner::{Runner, RunnerOptions};
use super::wait::wait_until;

fn script() -> PathBuf {
    Path::new(REPO).join("hack/cluster/cluster.py")
}

/// Whether a cluster test should run here. The cluster needs root and a few kernel features;
/// without them the test fails with the runner's reason and what to do, never a silent pass.
/// `K8SENSUS_NO_CLUSTER=1` opts out on purpose (a developer without root): the test then says
/// loudly that it did not run.
pub fn cluster_or_opt_out() -> bool {
    let Some(reason) = cannot_run_reason() else {
        return true;
    };
    if std::env::var("K8SENSUS_NO_CLUSTER").is_ok_and(|v| v == "1") {
        eprintln!(
            "NOT RUN (K8SENSUS_NO_CLUSTER=1): the one-node cluster cannot start here: {reason}"
        );
        return false;
    }
    panic!(
        "the one-node cluster cannot start here: {reason}\n\
         run `make deps` and then `make test` as root; to run the other tests without the \
         cluster, set K8SENSUS_NO_CLUSTER=1"
    );
}

/// Why the cluster cannot run here (not root, a missing package or kernel feature), or None.
pub fn cannot_run_reason() -> Option<String> {
    let out = Command::new("python3")
        .arg(script())
        .arg("check")
        .output()
        .expect("python3 runs");
    if out.status.success() {
        None
    } else {
        Some(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// What the host looked like before the cluster started, to compare after it stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct HostSnapshot {
    routes: String,
    rules: String,
    links: String,
    nft_tables: String,
    sysctls: BTreeMap<String, String>,
    mounts: Vec<String>,
    cgroups: Vec<String>,
    paths: BTreeMap<String, bool>,
}

/// The host-wide settings a kubelet, kube-proxy or the CNI plugins would like to change.
const SYSCTLS: &[&str] = &[
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_max",
    "net/ipv4/conf/all/route_localnet",
];
/// Host paths the cluster shadows inside its mount namespace (created if missing, removed).
const SHADOWED: &[&str] = &[
    "/var/lib/cni",
    "/run/containerd",
    "/run/runc",
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/etc/cni",
    "/run/netns",
];

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl HostSnapshot {
    pub fn take() -> Self {
        let sysctls = SYSCTLS
            .iter()
            .map(|k| {
                let v = std::fs::read_to_string(Path::new("/proc/sys").join(k)).unwrap_or_default();
                (k.to_string(), v.trim().to_string())
            })
            .collect();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').nth(4).unwrap_or("").to_string())
            .filter(|p| {
                // What the cluster mounts inside its own namespace, were it to leak out.
                p.starts_with("/proc/sys")
                    || p.starts_with("/etc/")
                    || p.contains("k8sensus-cluster")
                    || p.contains("kubelet")
                    || p.contains("containerd")
                    || SHADOWED.iter().any(|s| p.starts_with(s))
            })
            .collect();
        mounts.sort();
        let mut cgroups = Vec::new();
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for c in std::fs::read_dir(h.path()).into_iter().flatten().flatten() {
                let name = c.file_name().to_string_lossy().into_owned();
                if c.path().is_dir() && (name.starts_with("k8sensus-") || name == "kubepods") {
                    cgroups.push(c.path().display().to_string());
                }
            }
        }
        cgroups.sort();
        HostSnapshot {
            routes: sh("ip", &["route", "show", "table", "all"]),
            rules: sh("ip", &["rule"]),
            links: sh("ip", &["-o", "link", "show"])
                .lines()
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
                .collect::<Vec<_>>()
                .join(","),
            nft_tables: sh("nft", &["list", "tables"]),
            sysctls,
            mounts,
            cgroups,
            paths: SHADOWED
                .iter()
                .map(|p| (p.to_string(), Path::new(p).exists()))
                .collect(),
        }
    }
}

/// A running one-node cluster.
pub struct Cluster {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub containerd_address: PathBuf,
    pub server: String,
    pub holder_pid: u32,
    pub netns_inode: u64,
    pub cgroup: String,
    runner: Runner,
}

impl Cluster {
    /// Starts the cluster (building binaries and images first if they are not cached).
    pub fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!("k8sensus-cluster-{}", std::process::id()));
        Self::start_in(&dir, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the cluster with its state in `dir`, with the image archives in `images`
    /// imported beside k8sensus's (`--image=ARCHIVE`); the runner's error if it does not start.
    pub fn start_in(dir: &Path, images: &[PathBuf]) -> Result<Cluster, String> {
        let extra: Vec<String> = images
            .iter()
            .map(|a| format!("--image={}", a.display()))
            .collect();
        let options = RunnerOptions {
            args: extra,
            ..RunnerOptions::default()
        };
        let runner = Runner::try_start_with(
            &script(),
            dir,
            "Run `make cluster` to see the runner's own output",
            &options,
        )?;
        Ok(Cluster {
            kubeconfig: runner.path("kubeconfig"),
            kubectl: runner.path("kubectl"),
            containerd_address: runner.path("containerd_address"),
            server: runner.text("server"),
            holder_pid: runner.state["holder_pid"].as_u64().unwrap() as u32,
            netns_inode: runner.state["netns_inode"].as_u64().unwrap(),
            cgroup: runner.text("cgroup"),
            dir: dir.to_path_buf(),
            runner,
        })
    }

    /// The runner's `state.json` (`kubernetes_version`, the paths, ...).
    pub fn state(&self) -> &Value {
        &self.runner.state
    }

    /// kubectl as admin, as a command to start (the caller decides how to wait).
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args);
        command
    }

    /// One command over the runner's stdin; returns its `OK ...` answer.
    pub fn command(&self, command: &str) -> String {
        self.runner.command(command)
    }

    /// Packets the egress guard counted (and dropped) on the node interface.
    pub fn egress_packets(&self) -> u64 {
        let answer = self.command("egress");
        answer
            .split_whitespace()
            .find_map(|w| w.strip_prefix("packets="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the counter from {answer:?}"))
    }

    /// kubectl as admin: (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        run_kubectl(&self.kubectl, &self.kubeconfig, args, None)
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed: {err}{out}");
        out
    }

    pub fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&full)).unwrap()
    }

    /// ctr in containerd's k8s.io namespace: (success, stdout).
    pub fn ctr(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ctr")
            .arg(format!("--address={}", self.containerd_address.display()))
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .expect("run ctr");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The host PID of a running container's process, from containerd's task list.
    pub fn task_pid(&self, container_id: &str) -> Option<u32> {
        let (_, out) = self.ctr(&["tasks", "list"]);
        out.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == container_id && f[2] == "RUNNING")
                .then(|| f[1].parse().ok())
                .flatten()
        })
    }

    /// The OCI spec containerd holds for a container.
    pub fn container_spec(&self, container_id: &str) -> Value {
        let (ok, out) = self.ctr(&["containers", "info", container_id]);
        assert!(ok, "ctr containers info {container_id} failed");
        let info: Value = serde_json::from_str(&out).unwrap();
        info["Spec"].clone()
    }

    /// Stops the cluster (closing the lifeline) and waits for the runner; returns how long.
    pub fn stop(&self) -> Duration {
        self.runner.stop(Duration::from_secs(180))
    }

    /// [`Cluster::stop`], returning the error instead of panicking.
    pub fn try_stop(&self) -> Result<Duration, String> {
        self.runner.try_stop(Duration::from_secs(180))
    }

    /// After stop(): what is still on the host that the cluster made (empty when clean).
    pub fn leftovers(&self, before: &HostSnapshot) -> Vec<String> {
        leftovers(&self.dir, self.netns_inode, before)
    }
}

/// What a stopped cluster left on the host: its state directory, a process in its network
/// namespace, or any change to the host's routes, links, nftables, sysctls, mounts, cgroups
/// and shadowed paths since `before` (empty when clean).
pub fn leftovers(dir: &Path, netns_inode: u64, before: &HostSnapshot) -> Vec<String> {
    {
        let mut found = Vec::new();
        if dir.exists() {
            found.push(format!("{} still exists", dir.display()));
        }
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let inode = std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .ok();
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(true);
            if inode == Some(netns_inode) && !zombie {
                found.push(format!(
                    "process {pid} still in the cluster's network namespace"
                ));
            }
        }
        let after = HostSnapshot::take();
        if after != *before {
            found.push(format!(
                "the host changed:\nbefore: {before:#?}\nafter: {after:#?}"
            ));
        }
        found
    }
}

/// Polls until `dir/state.json` exists (the cluster is up) and returns it.
pub fn wait_for_state(dir: &Path, limit: Duration) -> Value {
    wait_until("the cluster's state.json", limit, || {
        std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    })
}

/// Polls until nothing of the cluster is left on the host; returns how long it took, or the
/// leftovers after `limit`.
pub fn wait_clean(
    dir: &Path,
    netns_inode: u64,
    before: &HostSnapshot,
    limit: Duration,
) -> Result<Duration, Vec<String>> {
    let t = Instant::now();
    loop {
        let left = leftovers(dir, netns_inode, before);
        if left.is_empty() {
            return Ok(t.elapsed());
        }
        if t.elapsed() > limit {
            return Err(left);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

// -------------------------------------------------------------------------------------------
// Pod logs, straight from the kubelet's log files
// -------------------------------------------------------------------------------------------

/// How often the tailer looks at the kubelet's files: often enough that a deleted pod's last
/// lines are read before the kubelet removes them, and that a line's arrival is seen within
/// 50 ms.
pub const POD_LOG_POLL: Duration = Duration::from_millis(50);

/// The container whose lines are read, by its name in deployment.yaml (the same in every
/// namespace that deploys it).
const CONTAINER: &str = "k8sensus";

/// Which part of a term of leader work a line marks, by its `event` (k8sensus and the client-go
/// reference log the same three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Start,
    Run,
    Stop,
}

/// One line a pod's container wrote, as the kubelet's log file has it.
#[derive(Clone, Debug)]
pub struct PodLine {
    pub namespace: String,
    pub pod: String,
    /// The container's restart count: the file's name (`0.log`, `1.log`, ...).
    pub restart: u32,
    /// The CRI line's time (when the runtime read the line from the container), in seconds
    /// since the epoch.
    pub cri_time: Option<f64>,
    /// The line as the container wrote it.
    pub text: String,
    /// The line as data, if it is a log line of k8sensus's or the reference's (either format).
    pub line: Option<LogLine>,
}

impl PodLine {
    /// CLOCK_MONOTONIC when the line was written (`mono_ns`), if logged.
    pub fn mono_ns(&self) -> Option<u64> {
        self.line.as_ref().and_then(LogLine::mono_ns)
    }

    /// The part of leader work the line marks, if any.
    pub fn work(&self) -> Option<Work> {
        let line = self.line.as_ref()?;
        match line.event()? {
            log_event::WORK_STARTED => Some(Work::Start),
            log_event::WORK_RUN => Some(Work::Run),
            log_event::WORK_STOPPED => Some(Work::Stop),
            _ => None,
        }
    }

    /// Whether the line starts or runs leader work.
    pub fn is_work(&self) -> bool {
        matches!(self.work(), Some(Work::Start | Work::Run))
    }
}

/// A CRI log line's RFC 3339 time as seconds since the epoch.
pub fn cri_time(text: &str) -> Option<f64> {
    let t: Timestamp = text.parse().ok()?;
    Some(t.as_nanosecond() as f64 / 1e9)
}

/// The parts of a CRI log line: `<time> <stream> <P|F> <text>` (P: a partial line, continued
/// by the next).
fn cri_parts(line: &str) -> Option<(&str, bool, &str)> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    Some((time, tag == "F", parts.next().unwrap_or("")))
}

/// Reads the kubelet's log files under a root as they grow: complete lines only, partial CRI
/// lines joined.
pub struct Tailer {
    root: PathBuf,
    offsets: HashMap<PathBuf, u64>,
    partial: HashMap<PathBuf, String>,
}

impl Tailer {
    pub fn new(root: PathBuf) -> Self {
        Tailer {
            root,
            offsets: HashMap::new(),
            partial: HashMap::new(),
        }
    }

    /// The lines written since the last call (in each file's order), and an error if the
    /// root could not be listed. The root not existing yet is no error.
    pub fn poll(&mut self) -> (Vec<PodLine>, Option<String>) {
        let mut got = Vec::new();
        let dirs = match std::fs::read_dir(&self.root) {
            Ok(dirs) => dirs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (got, None),
            Err(e) => return (got, Some(format!("{}: {e}", self.root.display()))),
        };
        for pod_dir in dirs.flatten() {
            // <namespace>_<pod>_<uid>
            let name = pod_dir.file_name().to_string_lossy().into_owned();
            let mut parts = name.split('_');
            let (Some(namespace), Some(pod), Some(_uid)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(pod_dir.path().join(CONTAINER))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
                .collect();
            files.sort();
            for (restart, file) in files {
                self.read_file(namespace, pod, restart, &file, &mut got);
            }
        }
        (got, None)
    }

    fn read_file(
        &mut self,
        namespace: &str,
        pod: &str,
        restart: u32,
        file: &Path,
        got: &mut Vec<PodLine>,
    ) {
        let offset = self.offsets.entry(file.to_path_buf()).or_insert(0);
        let Ok(mut f) = std::fs::File::open(file) else {
            return;
        };
        if f.seek(SeekFrom::Start(*offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        // Only whole lines; the rest waits for the next round.
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        *offset += (end + 1) as u64;
        let text = String::from_utf8_lossy(&buf[..end]);
        for raw in text.split('\n') {
            let Some((time, full, text)) = cri_parts(raw) else {
                continue;
            };
            let acc = self.partial.entry(file.to_path_buf()).or_default();
            acc.push_str(text);
            if !full {
                continue;
            }
            let text = std::mem::take(acc);
            got.push(PodLine {
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                restart,
                cri_time: cri_time(time),
                line: parse_line(&text).map(LogLine::new),
                text,
            });
        }
    }
}

/// Every line every pod's container wrote, collected from the kubelet's log files under the
/// cluster's state directory (`<ns>_<pod>_<uid>/<container>/<restart>.log`, CRI format) every
/// [`POD_LOG_POLL`], so the lines of a deleted pod are kept after the kubelet removes its
/// files. The queries answer under the lock, copying only what they return.
pub struct PodLogs {
    lines: Arc<Mutex<Vec<PodLine>>>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PodLogs {
    /// Tails the cluster's pod logs until dropped.
    pub fn collect(cluster: &Cluster) -> PodLogs {
        Self::tail(cluster.dir.join("pod-logs"))
    }

    /// Tails the kubelet's log files under `root` until dropped.
    pub fn tail(root: PathBuf) -> PodLogs {
        let lines: Arc<Mutex<Vec<PodLine>>> = Arc::default();
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (lines2, errors2, stop2) = (lines.clone(), errors.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut tailer = Tailer::new(root);
            while !stop2.load(Ordering::Relaxed) {
                let (got, error) = tailer.poll();
                lines2.lock().unwrap().extend(got);
                errors2.lock().unwrap().extend(error);
                std::thread::sleep(POD_LOG_POLL);
            }
        });
        PodLogs {
            lines,
            errors,
            stop,
            thread: Some(thread),
        }
    }

    /// Runs `f` on every line so far, in the order read, under the lock.
    pub fn with_lines<T>(&self, f: impl FnOnce(&[PodLine]) -> T) -> T {
        f(&self.lines.lock().unwrap())
    }

    /// Every pod's log lines so far, by pod.
    pub fn all(&self) -> HashMap<String, Vec<LogLine>> {
        let mut by_pod: HashMap<String, Vec<LogLine>> = HashMap::new();
        self.with_lines(|lines| {
            for l in lines {
                if let Some(line) = &l.line {
                    by_pod.entry(l.pod.clone()).or_default().push(line.clone());
                }
            }
        });
        by_pod
    }

    /// One pod's log lines so far.
    pub fn of(&self, pod: &str) -> Vec<LogLine> {
        self.with_lines(|lines| {
            lines
                .iter()
                .filter(|l| l.pod == pod)
                .filter_map(|l| l.line.clone())
                .collect()
        })
    }

    /// The terms of leader work in namespace `ns` (see [`super::overlap`]), by start.
    pub fn terms(&self, ns: &str) -> Vec<Term> {
        self.with_lines(|lines| {
            terms_by_replica(
                lines
                    .iter()
                    .filter(|l| l.namespace == ns)
                    .filter_map(|l| Some((l.pod.as_str(), l.line.as_ref()?))),
            )
        })
    }

    /// The earliest start or run of leader work in `ns` after `mono_ns` (by `pod` if given).
    pub fn first_work_after(&self, ns: &str, mono_ns: u64, pod: Option<&str>) -> Option<PodLine> {
        self.with_lines(|lines| {
            lines
                .iter()
                .filter(|l| l.namespace == ns && pod.is_none_or(|p| l.pod == p) && l.is_work())
                .filter(|l| l.mono_ns().is_some_and(|m| m > mono_ns))
                .min_by_key(|l| l.mono_ns())
                .cloned()
        })
    }

    /// Whether `pod`'s current container (its latest restart) is inside a term of work: its
    /// last work line starts or runs it.
    pub fn working(&self, ns: &str, pod: &str) -> bool {
        self.with_lines(|lines| {
            let mine = || lines.iter().filter(|l| l.namespace == ns && l.pod == pod);
            let Some(latest) = mine().map(|l| l.restart).max() else {
                return false;
            };
            mine()
                .filter(|l| l.restart == latest)
                .rev()
                .find_map(PodLine::work)
                .is_some_and(|w| w != Work::Stop)
        })
    }

    /// The first line of `pod`'s container after `restart` restarts.
    pub fn first_line(&self, ns: &str, pod: &str, restart: u32) -> Option<PodLine> {
        self.with_lines(|lines| {
            lines
                .iter()
                .find(|l| l.namespace == ns && l.pod == pod && l.restart == restart)
                .cloned()
        })
    }

    /// `pod`'s first line that stops its work at or after `mono_ns`.
    pub fn stopped_after(&self, ns: &str, pod: &str, mono_ns: u64) -> Option<PodLine> {
        self.with_lines(|lines| {
            lines
                .iter()
                .find(|l| {
                    l.namespace == ns
                        && l.pod == pod
                        && l.work() == Some(Work::Stop)
                        && l.mono_ns().is_some_and(|m| m >= mono_ns)
                })
                .cloned()
        })
    }

    /// The errors met listing the files (the last `n`).
    pub fn errors(&self, n: usize) -> Vec<String> {
        let errors = self.errors.lock().unwrap();
        errors[errors.len().saturating_sub(n)..].to_vec()
    }

    /// Writes each pod's lines to `dir/<ns>_<pod>.log`, each prefixed with `[restart]`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        self.with_lines(|lines| {
            for l in lines {
                let text = files
                    .entry(format!("{}_{}.log", l.namespace, l.pod))
                    .or_default();
                text.push_str(&format!("[{}] {}\n", l.restart, l.text));
            }
        });
        for (name, text) in files {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }
}

impl Drop for PodLogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
