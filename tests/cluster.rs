//! The walkthrough for real: the manifests on a one-node Kubernetes cluster (etcd,
//! kube-apiserver, controller-manager, scheduler, containerd + runc, kube-proxy and a kubelet,
//! in namespaces of their own: `hack/cluster/cluster.py`), with pods from the image the
//! project's Dockerfile builds.
//!
//! One scenario, in order, on one cluster: deploy into a namespace that enforces Pod Security
//! `restricted`; one leader; delete the leader pod; SIGKILL the leader's container process;
//! `kubectl rollout restart`; then the egress guard's counter is 0 and, after teardown,
//! nothing is left on the host. Bounds are generous; the measured figures belong to
//! `make bench`. It needs root (CI runs as root); elsewhere it says why and passes.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8sensus::log_event::WORK_RUN;
use k8sensus::telemetry::monotonic_ns;
use serde_json::Value;
use support::LogLine;
use support::cluster::{
    Cluster, HostSnapshot, PodLogs, cluster_or_opt_out, wait_clean, wait_for_state,
};
use support::overlap::{Term, find_overlaps};
use support::wait_until;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const NS: &str = "k8sensus";
const LEASE: &str = "k8sensus-lease";
/// The manifests' timings: lease duration 15 s, renew deadline 10 s, retry period 2 s.
const LD: Duration = Duration::from_secs(15);
/// A generous margin on top of the lease duration for "a leader is back".
const MARGIN: Duration = Duration::from_secs(15);

fn step(name: &str, since: Instant) {
    eprintln!(
        "[cluster test] {name}: {:.1} s",
        since.elapsed().as_secs_f64()
    );
}

fn holder(c: &Cluster) -> Option<String> {
    let (ok, out, _) = c.kubectl(&[
        "get",
        "lease",
        LEASE,
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    (ok && !out.trim().is_empty()).then(|| out.trim().to_string())
}

/// The Deployment's pods: name -> the pod object.
fn pods(c: &Cluster) -> HashMap<String, Value> {
    let list = c.kubectl_json(&[
        "get",
        "pods",
        "-n",
        NS,
        "-l",
        "app.kubernetes.io/name=k8sensus",
    ]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p.clone(),
            )
        })
        .collect()
}

fn is_ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn container_id(pod: &Value) -> Option<String> {
    pod["status"]["containerStatuses"][0]["containerID"]
        .as_str()
        .and_then(|s| s.strip_prefix("containerd://"))
        .map(str::to_string)
}

fn labelled_leaders(c: &Cluster) -> Vec<String> {
    let out = c.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        NS,
        "-l",
        "k8sensus.io/role=leader",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    out.split_whitespace().map(str::to_string).collect()
}

/// The pods the leader Service's EndpointSlices list.
fn leader_endpoints(c: &Cluster) -> Vec<String> {
    let slices = c.kubectl_json(&[
        "get",
        "endpointslices",
        "-n",
        NS,
        "-l",
        "kubernetes.io/service-name=k8sensus-leader",
    ]);
    let mut names: Vec<String> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["targetRef"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// How often the pod ran the sample task (the pods log plain text; see support::log).
fn runs(lines: &[LogLine]) -> usize {
    lines.iter().filter(|l| l.is(WORK_RUN)).count()
}

/// Waits until `who` holds the Lease, alone carries the leader label, and alone is behind
/// the leader Service.
fn wait_leader_visible(c: &Cluster, who: &str, limit: Duration) {
    let want = vec![who.to_string()];
    wait_until(
        &format!("{who} to hold the Lease, the label and the EndpointSlice"),
        limit,
        || {
            (holder(c).as_deref() == Some(who)
                && labelled_leaders(c) == want
                && leader_endpoints(c) == want)
                .then_some(())
        },
    );
}

fn assert_no_overlap(logs: &PodLogs, when: &str) -> Vec<Term> {
    let terms = logs.terms(NS);
    let overlaps = find_overlaps(&terms);
    assert!(
        overlaps.is_empty(),
        "{when}: two pods' work overlapped:\n{}",
        overlaps
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    terms
}

/// Prints the terms from the one working at `since_ns` on, and the leaderless gaps between
/// them: from one term's last work run to the next term's first (the work runs every 10 s,
/// so a gap includes up to one task period).
fn print_terms_since(terms: &[Term], since_ns: u64, when: &str) {
    let first = terms
        .iter()
        .filter(|t| t.first_ns <= since_ns)
        .max_by_key(|t| t.first_ns)
        .map(|t| t.first_ns)
        .unwrap_or(0);
    let shown: Vec<&Term> = terms.iter().filter(|t| t.first_ns >= first).collect();
    for (i, t) in shown.iter().enumerate() {
        let gap = i
            .checked_sub(1)
            .map(|j| {
                format!(
                    ", {:.3} s after the previous term's last run",
                    (t.first_ns as f64 - shown[j].last_ns as f64) / 1e9
                )
            })
            .unwrap_or_default();
        eprintln!(
            "[cluster test] {when}: term of {} (fencing token {}), {} runs{gap}",
            t.replica, t.fencing_token, t.runs
        );
    }
}

#[test]
fn cluster_refuses_to_start_without_root() {
    // Without root (as nobody, when the test runs as root): it must fail at once and say
    // why, not hang. pyenv's python3 under /root is not readable by nobody; Debian's is, and
    // `make deps` installs it.
    let python = "/usr/bin/python3";
    assert!(
        Path::new(python).exists(),
        "{python} is missing: run `make deps` (Debian's python3), which this test needs to run the cluster runner as another user"
    );
    let dir = tempdir_for_nobody();
    let t = Instant::now();
    let mut command = std::process::Command::new("setpriv");
    if nix_is_root() {
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    let out = command
        .arg(python)
        .arg(dir.join("cluster/cluster.py"))
        .args(["run", "--dir", "/tmp/k8sensus-nobody-never-created"])
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started as nobody: {stderr}");
    assert!(stderr.contains("needs root"), "no clear reason: {stderr}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    assert!(!Path::new("/tmp/k8sensus-nobody-never-created").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

/// A copy of hack/ that user nobody can read (the repository may sit under /root).
fn tempdir_for_nobody() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("k8sensus-nobody-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for sub in ["cluster", "control-plane"] {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(Path::new(REPO).join("hack").join(sub))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&dir)
        .status()
        .unwrap();
    dir
}

/// One cluster at a time in this test binary: starting one takes most of the machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The cluster cleans up after itself when whoever started it dies without a word (SIGKILL),
/// and when the runner itself is killed with SIGKILL (its guard process does it then).
#[test]
fn cluster_cleans_up_when_its_parent_or_itself_is_killed() {
    if !cluster_or_opt_out() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(REPO).join("hack/cluster/cluster.py");
    let before = HostSnapshot::take();
    let netns = |state: &Value| state["netns_inode"].as_u64().expect("netns_inode");

    // Start a cluster with `starter`, kill the starter once the cluster is up, and wait
    // until nothing of the cluster is left on the host.
    let kill_and_expect_clean = |what: &str, dir: &Path, mut starter: std::process::Child| {
        let state = wait_for_state(dir, Duration::from_secs(600));
        starter.kill().unwrap();
        starter.wait().unwrap();
        match wait_clean(dir, netns(&state), &before, Duration::from_secs(120)) {
            Ok(took) => eprintln!(
                "[cluster test] {what} killed: everything gone {:.1} s later",
                took.as_secs_f64()
            ),
            Err(left) => panic!("after the {what} was killed, left:\n{}", left.join("\n")),
        }
    };

    // The parent: a shell that started the runner and waits for it.
    let dir = std::env::temp_dir().join(format!("k8sensus-cluster-parent-{}", std::process::id()));
    let parent = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "python3 {} run --dir {} >/dev/null; exit 0",
            script.display(),
            dir.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    kill_and_expect_clean("parent", &dir, parent);

    // The runner itself, SIGKILLed: nothing of it runs any more; its guard cleans up.
    let dir = std::env::temp_dir().join(format!("k8sensus-cluster-killed-{}", std::process::id()));
    let runner = Command::new("python3")
        .arg(&script)
        .args(["run", "--dir"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    kill_and_expect_clean("runner", &dir, runner);
}

#[test]
fn walkthrough_on_a_real_cluster() {
    if !cluster_or_opt_out() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = HostSnapshot::take();
    let t = Instant::now();
    let c = Cluster::start();
    step("cluster start (binaries and images cached or built)", t);
    let logs = PodLogs::collect(&c);

    // 1. Deploy as the README does: `kubectl apply -k .` creates the namespace `k8sensus`,
    //    labelled to enforce Pod Security `restricted`, and puts the manifests in it.
    let t = Instant::now();
    let (ok, out, err) = c.kubectl(&["apply", "-k", REPO]);
    assert!(ok, "kubectl apply -k failed: {err}{out}");
    assert!(
        !err.contains("violate PodSecurity"),
        "Pod Security warned: {err}"
    );
    let ns = c.kubectl_json(&["get", "namespace", NS]);
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "the namespace does not enforce restricted: {}",
        ns["metadata"]["labels"]
    );
    c.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/k8sensus",
        "-n",
        NS,
        "--timeout=180s",
    ]);
    let first = wait_until("three Ready pods", Duration::from_secs(120), || {
        let p = pods(&c);
        (p.len() == 3 && p.values().all(is_ready)).then_some(p)
    });
    step("deploy: kubectl apply to three Ready pods", t);
    for (name, pod) in &first {
        let id = container_id(pod).expect("container id");
        let spec = c.container_spec(&id);
        assert_eq!(
            spec["process"]["user"]["uid"], 65532,
            "{name} runs as {}",
            spec["process"]["user"]
        );
        assert_eq!(
            spec["root"]["readonly"], true,
            "{name}'s root filesystem is writable"
        );
        let pid = c.task_pid(&id).expect("running task");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line.split_whitespace().skip(1).all(|u| u == "65532"),
            "{name}'s process (pid {pid}) has {uid_line}"
        );
    }
    // No `event` marks which configuration a replica loaded: this reads the sentence
    // people read.
    wait_until(
        "every pod to log the in-cluster config",
        Duration::from_secs(60),
        || {
            first
                .keys()
                .all(|p| {
                    logs.of(p)
                        .iter()
                        .any(|l| l.message().contains("using the in-cluster config"))
                })
                .then_some(())
        },
    );

    // 2. One leader: the Lease, the only work, the label and the Service agree.
    let t = Instant::now();
    let leader = wait_until("a Lease holder", LD + MARGIN, || holder(&c));
    assert!(first.contains_key(&leader), "holder {leader} is not a pod");
    // The first leader may wait up to one lease duration before its first work (a new Lease).
    wait_until("the leader's first work", LD + MARGIN, || {
        (runs(&logs.of(&leader)) > 0).then_some(())
    });
    wait_leader_visible(&c, &leader, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    for pod in first.keys().filter(|p| **p != leader) {
        assert_eq!(runs(&logs.of(pod)), 0, "standby {pod} ran the sample task");
    }
    assert_eq!(holder(&c).as_deref(), Some(leader.as_str()));
    step("one leader: first work, label and EndpointSlice", t);

    // 3. Delete the leader pod: SIGTERM, release, a standby takes over.
    let t = Instant::now();
    let deleted_ns = monotonic_ns();
    c.kubectl_ok(&["delete", "pod", &leader, "-n", NS, "--wait=false"]);
    let second = wait_until("a new Lease holder", Duration::from_secs(10), || {
        holder(&c).filter(|h| *h != leader)
    });
    eprintln!(
        "[cluster test] delete pod {leader}: {second} holds the Lease after {:.3} s",
        t.elapsed().as_secs_f64()
    );
    wait_leader_visible(&c, &second, Duration::from_secs(30));
    let replacement = wait_until(
        "the replacement pod Ready",
        Duration::from_secs(120),
        || {
            let p = pods(&c);
            p.iter()
                .find(|(n, pod)| !first.contains_key(*n) && is_ready(pod))
                .map(|(n, _)| n.clone())
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(holder(&c).as_deref(), Some(second.as_str()));
    assert!(!labelled_leaders(&c).contains(&replacement));
    assert_eq!(
        runs(&logs.of(&replacement)),
        0,
        "the replacement ran the sample task"
    );
    let terms = assert_no_overlap(&logs, "after deleting the leader pod");
    print_terms_since(&terms, deleted_ns, "delete pod");
    step(
        "delete the leader pod: takeover, label, replacement Ready as a standby",
        t,
    );

    // 4. SIGKILL the leader's container process, found through containerd.
    let t = Instant::now();
    let before_kill = pods(&c);
    let victim = &before_kill[&second];
    let id = container_id(victim).unwrap();
    let restarts = victim["status"]["containerStatuses"][0]["restartCount"]
        .as_i64()
        .unwrap_or(0);
    let pid = c.task_pid(&id).expect("the leader's task");
    let killed_ns = monotonic_ns();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until(
        "the kubelet to restart the container",
        Duration::from_secs(60),
        || {
            let p = pods(&c);
            let pod = p.get(&second)?;
            (pod["status"]["containerStatuses"][0]["restartCount"].as_i64() > Some(restarts)
                && is_ready(pod))
            .then_some(())
        },
    );
    eprintln!(
        "[cluster test] kill -9 of {second}'s container: restarted under the same pod name after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // A leader is back: someone holds the Lease and runs the work after the kill.
    let after = wait_until("a leader working again", LD + MARGIN, || {
        let h = holder(&c)?;
        let worked = logs
            .of(&h)
            .iter()
            .any(|l| l.is(WORK_RUN) && l.mono_ns().is_some_and(|m| m > killed_ns));
        worked.then_some(h)
    });
    eprintln!(
        "[cluster test] after the kill, {after} leads ({}), working {:.1} s after the kill",
        if after == second {
            "the restarted container, same pod name"
        } else {
            "a standby took over"
        },
        t.elapsed().as_secs_f64()
    );
    let terms = assert_no_overlap(&logs, "after killing the leader's container");
    print_terms_since(&terms, killed_ns, "kill -9");
    step(
        "kill the leader's container: restart, a leader back, no overlap",
        t,
    );

    // 5. kubectl rollout restart: a rolling update, no overlap, the final leader is new.
    let t = Instant::now();
    let old: BTreeSet<String> = pods(&c).keys().cloned().collect();
    let started_ns = monotonic_ns();
    c.kubectl_ok(&["rollout", "restart", "deployment/k8sensus", "-n", NS]);
    c.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/k8sensus",
        "-n",
        NS,
        "--timeout=300s",
    ]);
    step("rollout restart: rollout status done", t);
    let final_leader = wait_until(
        "a new pod leading and working",
        LD + MARGIN + MARGIN,
        || {
            let h = holder(&c)?;
            let worked = logs
                .of(&h)
                .iter()
                .any(|l| l.is(WORK_RUN) && l.mono_ns().is_some_and(|m| m > started_ns));
            (!old.contains(&h) && worked).then_some(h)
        },
    );
    let terms = assert_no_overlap(&logs, "rollout restart");
    print_terms_since(&terms, started_ns, "rollout restart");
    eprintln!("[cluster test] rollout restart: the final leader is the new pod {final_leader}");
    step("rollout restart: new leader working, no overlap", t);

    // 6. Clean: nothing left the namespace, and nothing is left on the host.
    assert_eq!(
        c.egress_packets(),
        0,
        "packets tried to leave the cluster's namespace"
    );
    // And the guard does count: one datagram to the default gateway (no host answers it;
    // it is dropped on the node interface before it could go anywhere).
    let holder_pid = c.holder_pid.to_string();
    let _ = Command::new("nsenter")
        .args(["-t", &holder_pid, "-n", "python3", "-c"])
        .arg("import socket\ntry:\n socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.203.0.2', 9))\nexcept OSError:\n pass")
        .status();
    assert!(
        c.egress_packets() >= 1,
        "the egress guard did not count a packet sent out"
    );
    drop(logs);
    let took = c.stop();
    eprintln!("[cluster test] teardown: {:.1} s", took.as_secs_f64());
    let left = c.leftovers(&before);
    assert!(left.is_empty(), "left on the host:\n{}", left.join("\n"));
}
