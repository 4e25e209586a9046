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

use serde_json::Value;

use super::REPO;
use super::control_plane::run_kubectl;
use super::log::{LogLine, parse_line};
use super::runner::Runner;
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
        let runner = Runner::start(
            &script(),
            &dir,
            "Run `make cluster` to see the runner's own output",
        );
        Cluster {
            kubeconfig: runner.path("kubeconfig"),
            kubectl: runner.path("kubectl"),
            containerd_address: runner.path("containerd_address"),
            server: runner.text("server"),
            holder_pid: runner.state["holder_pid"].as_u64().unwrap() as u32,
            netns_inode: runner.state["netns_inode"].as_u64().unwrap(),
            cgroup: runner.text("cgroup"),
            dir,
            runner,
        }
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

/// Every line every pod's container wrote, collected from the kubelet's log files under the
/// cluster's state directory (`<ns>_<pod>_<uid>/<container>/<restart>.log`, CRI format) as
/// they grow, so the lines of a deleted pod are kept after the kubelet removes its files.
pub struct PodLogs {
    lines: Arc<Mutex<HashMap<String, Vec<LogLine>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The app's line inside a CRI log line: `<time> <stream> <P|F> <text>`.
fn cri_text(line: &str) -> Option<(bool, &str)> {
    let mut parts = line.splitn(4, ' ');
    let _time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    Some((tag == "F", parts.next().unwrap_or("")))
}

impl PodLogs {
    pub fn collect(cluster: &Cluster) -> PodLogs {
        let root = cluster.dir.join("pod-logs");
        let lines: Arc<Mutex<HashMap<String, Vec<LogLine>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (lines2, stop2) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut offsets: HashMap<PathBuf, u64> = HashMap::new();
            let mut partial: HashMap<PathBuf, String> = HashMap::new();
            while !stop2.load(Ordering::Relaxed) {
                for pod_dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                    // <namespace>_<pod>_<uid>
                    let name = pod_dir.file_name().to_string_lossy().into_owned();
                    let pod = name.split('_').nth(1).unwrap_or(&name).to_string();
                    let files = std::fs::read_dir(pod_dir.path().join("k8sensus"))
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "log"));
                    for file in files {
                        let offset = offsets.entry(file.clone()).or_insert(0);
                        let Ok(mut f) = std::fs::File::open(&file) else {
                            continue;
                        };
                        if f.seek(SeekFrom::Start(*offset)).is_err() {
                            continue;
                        }
                        let mut buf = String::new();
                        let Ok(n) = f.read_to_string(&mut buf) else {
                            continue;
                        };
                        // Only whole lines; the rest waits for the next round.
                        let Some(end) = buf.rfind('\n') else { continue };
                        *offset += (end + 1) as u64;
                        let _ = n;
                        let mut got = lines2.lock().unwrap();
                        let entry = got.entry(pod.clone()).or_default();
                        for raw in buf[..end].lines() {
                            let Some((full, text)) = cri_text(raw) else {
                                continue;
                            };
                            let acc = partial.entry(file.clone()).or_default();
                            acc.push_str(text);
                            if full {
                                let text = std::mem::take(acc);
                                if let Some(json) = parse_line(&text) {
                                    entry.push(LogLine::new(json));
                                }
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        PodLogs {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    /// Every pod's lines so far.
    pub fn all(&self) -> HashMap<String, Vec<LogLine>> {
        self.lines.lock().unwrap().clone()
    }

    pub fn of(&self, pod: &str) -> Vec<LogLine> {
        self.lines
            .lock()
            .unwrap()
            .get(pod)
            .cloned()
            .unwrap_or_default()
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
