#!/usr/bin/env python3
"""k8sensus vs client-go in a real one-node cluster: delete the leader pod, roll out, crash it.

    python3 bench/cluster.py        (or `make bench-cluster`; `make bench` runs it after run.py)

What it does, unattended (about 15 minutes on a 2-core machine once the binaries and the
images are cached; a cold first run also builds them, see hack/cluster/README.md):

1. builds client-go-ref as bench/run.py does (a static Go binary, cached) and wraps it into
   an image on the distroless stand-in (`hack/cluster/images.py client-go-ref`, cached);
2. starts the one-node cluster (`hack/cluster/cluster.py run --lifeline-stdin`, which builds
   or finds k8sensus:0.1.0 from the Dockerfile) with that image imported too;
3. deploys k8sensus exactly as the README does (`kubectl apply -k .`, namespace `k8sensus`)
   and the reference from an overlay of the same kustomization (namespace `client-go`):
   the same Namespace, RBAC, Deployment (3 replicas, maxSurge 1, maxUnavailable 0, the
   probes on :8080, the 15s/10s/2s defaults, a task every 10 s), with only the image and
   the arguments changed. Each has its own Lease, k8sensus-lease in its own namespace;
4. measures, per implementation (both deployments run at the same time, see "Alongside"):
   - apply: `kubectl apply` on an empty namespace to the first work;
   - delete: `kubectl delete pod <leader>` to the new holder's acquireTime, and to the new
     leader's first work (20 trials);
   - rollout: `kubectl rollout restart` (5 trials): the handovers, the leaderless time from
     one term's end of work to the next term's start, and any overlap of two terms;
   - crash: SIGKILL of the leader's container process (its host PID from containerd), so
     that the kubelet restarts the container, to the next work by any pod (20 trials);
     each crashed pod is then deleted, so that the next trial's leader is a pod the kubelet
     has no restart back-off for;
5. merges its section, "cluster", into bench/results.json (every other key kept) and runs
   bench/render.py.

Work is read from the pods' own log lines, from the kubelet's log files under the cluster's
state directory (DIR/pod-logs), tailed every 50 ms so that a deleted pod's last lines are
kept: the start of a term's work (`event` work_started), each run (work_run, or the message
"... is running sample task.") and its stop (work_stopped), each with `mono_ns`, the host's
CLOCK_MONOTONIC, which every container shares with this driver. Terms and overlaps follow
tests/support/overlap.rs. The Lease is watched through the API (bench/run.py's LeaseWatcher).

Alongside: the two deployments run at the same time, each through its own sequence of
phases, but the moments that matter are taken in turns: a trial holds the cluster-wide turn
from its fault to the end of the churn it causes (the replacement pod Ready, the rollout
finished, the crashed container running again, the crashed pod replaced), and no other
trial starts a fault meanwhile. Only the quiet waits overlap (a crash trial's wait for the
lease to expire, a settle between trials). Each trial records what the other deployment
was doing when its fault was injected.

Only the standard library, and bench/run.py's helpers by import. Every process it starts
dies with it (PR_SET_PDEATHSIG), and the cluster tears itself down when its stdin closes,
which the finally block does on every exit path (an error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import shutil
import signal
import ssl
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: helpers shared with the local-process benchmark)

from run import BenchError, log  # noqa: E402

REPO = bench.REPO
CLUSTER = REPO / "hack" / "cluster" / "cluster.py"
IMAGES = REPO / "hack" / "cluster" / "images.py"
LOG_DIR = bench.LOG_DIR / "cluster"
LEASE = bench.LEASE
REPLICAS = 3
SELECTOR = "app.kubernetes.io/name=k8sensus"  # the Deployment's selector, in both namespaces
DEPLOYMENT = "k8sensus"
CONTAINER = "k8sensus"  # the container's name in deployment.yaml, in both namespaces
TIMINGS = {"lease_duration_s": 15.0, "renew_deadline_s": 10.0, "retry_period_s": 2.0}  # the defaults
LD = TIMINGS["lease_duration_s"]
RP = TIMINGS["retry_period_s"]
SETTLE = 3.0  # seconds a deployment must look steady before a fault
API_POLL = 0.25  # seconds between two reads of a deployment's pods
LOG_POLL = 0.05  # seconds between two looks at the pods' lines (the tailer reads them as often)
IMPLS = {"k8sensus": {"key": "k8sensus", "ns": "k8sensus"},
         "client_go": {"key": "client-go", "ns": "client-go"}}


# ---------------------------------------------------------------------------
# The cluster: hack/cluster/cluster.py run --lifeline-stdin, and its API
# ---------------------------------------------------------------------------

class Cluster(bench.ControlPlane):
    """The one-node cluster's runner, with bench/run.py's API helpers (request(), the TLS
    context the LeaseWatcher uses) pointed at its API server."""

    def __init__(self, d: Path, images: list[Path]):
        self.dir = d
        self.images = images
        self.proc = None
        self.errlog = None

    def start(self) -> None:
        argv = [sys.executable, str(CLUSTER), "run", "--dir", str(self.dir), "--lifeline-stdin",
                *(f"--image={a}" for a in self.images)]
        log(f"starting the cluster: {shlex.join(argv)} (its progress follows, [cluster] and [images])")
        # stderr passes through: the runner's own progress (a cold image build takes minutes).
        self.proc = bench.spawn(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.wait()
            raise BenchError(f"the cluster did not start (runner exit {self.proc.returncode}); "
                             "see its messages above")
        self.state = json.loads((self.dir / "state.json").read_text())
        self.kubeconfig = self.state["kubeconfig"]
        self.kubectl = self.state["kubectl"]
        self.server = self.state["server"]
        u = urllib.parse.urlparse(self.server)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=self.state["ca_file"])
        self.ctx.load_cert_chain(str(self.dir / "pki" / "admin.crt"), str(self.dir / "pki" / "admin.key"))

    def command(self, cmd: str) -> str:
        """One line of the runner's stdin protocol (status, egress), and its answer."""
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def kubectl_argv(self, *args: str) -> list[str]:
        return [self.kubectl, f"--kubeconfig={self.kubeconfig}", *args]

    def task_pid(self, container_id: str) -> int | None:
        """The host PID of a running container's process, from containerd's task list."""
        out = bench.run_cmd(["ctr", f"--address={self.state['containerd_address']}", "-n", "k8s.io",
                             "tasks", "list"], timeout=30)
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0] == container_id and f[2] == "RUNNING":
                return int(f[1])
        return None

    def stop(self) -> None:
        """Close the lifeline: the runner tears the cluster down and exits (SIGTERM too if
        it is still starting: it reads its stdin only once READY)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        t = time.monotonic()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if not hasattr(self, "state"):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            log("the cluster runner did not stop within 180 s; killing it (its guard cleans up)")
            self.proc.kill()
            self.proc.wait()
        log(f"cluster stopped in {time.monotonic() - t:.1f} s (runner exit {self.proc.returncode})")


class PodWatcher(bench.LeaseWatcher):
    """When the driver's watch first saw each pod of either Deployment marked for deletion:
    the moment the API server accepted a `kubectl delete pod`, without kubectl's own start-up."""

    PATH = "/api/v1/pods?labelSelector=" + urllib.parse.quote(SELECTOR)

    def __init__(self, cp):
        super().__init__(cp)
        self.name = "pod-watch"
        self.deleting: dict[tuple[str, str], float] = {}

    def _record(self, typ: str, obj: dict, t: float) -> None:
        md = obj.get("metadata", {})
        if md.get("deletionTimestamp") or typ == "DELETED":
            with self.lock:
                self.deleting.setdefault((md.get("namespace", ""), md.get("name", "")), t)

    def deletion_seen(self, ns: str, pod: str) -> float | None:
        with self.lock:
            return self.deleting.get((ns, pod))


def leftovers(state: dict) -> list[str]:
    """What a stopped cluster left on the host: processes in its network namespace, mounts
    that name it, its state directory (empty when clean)."""
    found = []
    net = state.get("netns_inode")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == net and \
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(f"process {entry} in the cluster's network namespace")
        except (OSError, IndexError):
            pass
    d = str(Path(state.get("kubeconfig", "/nonexistent")).parent)
    for line in Path("/proc/self/mounts").read_text().splitlines():
        if d in line or "k8sensus" in line.split()[1]:
            found.append(f"mount {line.split()[1]}")
    if Path(d).exists():
        found.append(f"{d} still exists")
    return found


# ---------------------------------------------------------------------------
# Pod logs: the kubelet's files, tailed; terms of work, as tests/support/overlap.rs has them
# ---------------------------------------------------------------------------

def parse_app_line(text: str) -> dict:
    """One log line as a dict: JSON as it is, and k8sensus's plain format
    (`<time> <LEVEL> <message> key=value ...`) turned into the same shape
    (as tests/support/cluster.rs's parse_app_line)."""
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    words = text.split()
    rest = words[2:]

    def is_field(w: str) -> bool:
        k, sep, _ = w.partition("=")
        return bool(sep and k) and all(c in string.ascii_lowercase or c == "_" for c in k)
    first = next((i for i, w in enumerate(rest) if is_field(w)), len(rest))
    obj: dict = {"timestamp": words[0] if words else "", "level": words[1] if len(words) > 1 else "",
                 "message": " ".join(rest[:first])}
    for w in rest[first:]:
        k, sep, v = w.partition("=")
        if sep:
            v = v.strip('"')
            try:
                obj[k] = int(v)
            except ValueError:
                obj[k] = v
    return obj


def kind_of(line: dict) -> str | None:
    """start, run or stop for the lines that mark leader work (either implementation)."""
    ev, msg = line.get("event"), str(line.get("message", ""))
    if ev == "work_started" or msg == "starting the sample task":
        return "start"
    if ev == "work_stopped" or msg == "sample task stopped":
        return "stop"
    if ev == "work_run" or msg.endswith("is running sample task."):
        return "run"
    return None


def cri_time(ts: str) -> float | None:
    """The CRI log line's RFC 3339 time (nanoseconds) as epoch seconds."""
    try:
        base, _, frac = ts.rstrip("Z").partition(".")
        t = dt.datetime.fromisoformat(base).replace(tzinfo=dt.timezone.utc).timestamp()
        return t + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None


class PodLogs(threading.Thread):
    """Every line of every pod's container, from the kubelet's files
    (DIR/pod-logs/<ns>_<pod>_<uid>/<container>/<restart>.log, CRI format), read as they
    grow, so that the lines of a deleted pod are kept after the kubelet removes its files."""

    def __init__(self, root: Path):
        super().__init__(daemon=True, name="pod-logs")
        self.root = root
        self.lock = threading.Lock()
        self.lines: dict[str, list[dict]] = {}  # namespace -> lines, in the order read
        self.offsets: dict[Path, int] = {}
        self.partial: dict[Path, str] = {}
        self.stopping = False
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stopping:
            try:
                self.poll()
            except OSError as e:  # a pod's files removed while we read them
                self.errors.append(repr(e))
            time.sleep(0.05)

    def poll(self) -> None:
        if not self.root.is_dir():
            return
        for pod_dir in self.root.iterdir():
            parts = pod_dir.name.split("_")
            if len(parts) < 3:
                continue
            ns, pod = parts[0], parts[1]
            for f in pod_dir.glob(f"{CONTAINER}/*.log"):
                if not f.stem.isdigit():
                    continue
                try:
                    with open(f, "rb") as fh:
                        fh.seek(self.offsets.get(f, 0))
                        data = fh.read()
                except OSError:
                    continue
                end = data.rfind(b"\n")
                if end < 0:
                    continue
                self.offsets[f] = self.offsets.get(f, 0) + end + 1
                got = []
                for raw in data[:end].decode(errors="replace").split("\n"):
                    ts, stream, rest = (raw.split(" ", 2) + ["", ""])[:3]
                    tag, _, text = rest.partition(" ")
                    acc = self.partial.get(f, "") + text
                    if tag != "F":
                        self.partial[f] = acc
                        continue
                    self.partial[f] = ""
                    obj = parse_app_line(acc)
                    mono = obj.get("mono_ns")
                    got.append({"pod": pod, "restart": int(f.stem), "cri_t": cri_time(ts),
                                "read_t": time.time(), "text": acc, "json": obj,
                                "mono": mono if isinstance(mono, int) else None,
                                "kind": kind_of(obj), "ended": obj.get("ended_mono_ns")})
                if got:
                    with self.lock:
                        self.lines.setdefault(ns, []).extend(got)

    def of(self, ns: str) -> list[dict]:
        with self.lock:
            return list(self.lines.get(ns, []))

    def first_work_after(self, ns: str, mono: int, pod: str | None = None) -> dict | None:
        """The earliest start or run of leader work after `mono` (in `ns`, by `pod` if given)."""
        best = None
        for line in self.of(ns):
            if line["kind"] in ("start", "run") and line["mono"] and line["mono"] > mono \
                    and (pod is None or line["pod"] == pod) and (best is None or line["mono"] < best["mono"]):
                best = line
        return best

    def working(self, ns: str, pod: str) -> bool:
        """Whether `pod`'s current container is inside a term of work (started, not stopped)."""
        mine = [x for x in self.of(ns) if x["pod"] == pod]
        if not mine:
            return False
        latest = max(x["restart"] for x in mine)
        marks = [x for x in mine if x["restart"] == latest and x["kind"]]
        return bool(marks) and marks[-1]["kind"] in ("start", "run")

    def first_line(self, ns: str, pod: str, restart: int) -> dict | None:
        return next((x for x in self.of(ns) if x["pod"] == pod and x["restart"] == restart), None)

    def stopped_after(self, ns: str, pod: str, mono: int) -> dict | None:
        return next((x for x in self.of(ns) if x["pod"] == pod and x["kind"] == "stop"
                     and x["mono"] and x["mono"] >= mono), None)

    def save(self, d: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        with self.lock:
            for ns, lines in self.lines.items():
                for pod in sorted({x["pod"] for x in lines}):
                    (d / f"{ns}_{pod}.log").write_text(
                        "".join(f"[{x['restart']}] {x['text']}\n" for x in lines if x["pod"] == pod))


def terms(lines: list[dict]) -> list[dict]:
    """The terms of leader work in one namespace's lines (tests/support/overlap.rs's
    terms_in_logs, per pod): a term runs from its start line to its stop line's
    `ended_mono_ns` (the earlier of the stop and the term's deadline) and never ends before
    its last run; a term with no stop line (the process was killed) ends at its last line."""
    out = []
    for pod in sorted({x["pod"] for x in lines}):
        mine = sorted((x for x in lines if x["pod"] == pod and x["mono"]), key=lambda x: x["mono"])
        cur, last_work = None, 0
        for x in mine:
            m, k = x["mono"], x["kind"]
            if k == "start" or (k == "run" and cur is None):
                cur = {"pod": pod, "first_ns": m, "last_ns": m, "runs": int(k == "run"),
                       "stopped": False, "token": x["json"].get("fencing_token")}
                out.append(cur)
                last_work = m
                continue
            if cur is None:
                continue
            if k == "stop":
                ended = x["ended"] if isinstance(x["ended"], int) else m
                cur["last_ns"] = max(min(ended, m), last_work)
                cur["stopped"] = True
                cur = None
                continue
            cur["last_ns"] = max(cur["last_ns"], m)
            if k == "run":
                cur["runs"] += 1
                last_work = m
    return sorted(out, key=lambda t: (t["first_ns"], t["last_ns"]))


def overlaps(ts: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of terms that share more than a boundary instant (overlap.rs's find_overlaps)."""
    def inside(t, term):
        return term["first_ns"] < t < term["last_ns"]

    def overlap(a, b):
        ia, ib = a["first_ns"] == a["last_ns"], b["first_ns"] == b["last_ns"]
        if not ia and not ib:
            return max(a["first_ns"], b["first_ns"]) < min(a["last_ns"], b["last_ns"])
        if ia and not ib:
            return inside(a["first_ns"], b)
        if ib and not ia:
            return inside(b["first_ns"], a)
        return a["first_ns"] == b["first_ns"]
    found = []
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            if b["first_ns"] > a["last_ns"]:
                break
            if a is not b and overlap(a, b):
                found.append((a, b))
    return found


# ---------------------------------------------------------------------------
# A Deployment under test, and the cluster-wide turn
# ---------------------------------------------------------------------------

def is_ready(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or [])


def container_status(pod: dict) -> dict:
    return next((c for c in (pod.get("status") or {}).get("containerStatuses") or []
                 if c.get("name") == CONTAINER), {})


class Turn:
    """Who may inject a fault now: one trial at a time holds the turn from its fault to the
    end of the churn it causes."""

    def __init__(self):
        self.owner = None

    def take(self, dep):
        while self.owner not in (None, dep):
            yield
        self.owner = dep

    def give(self, dep) -> None:
        if self.owner is dep:
            self.owner = None


class Deployment:
    """One implementation's Deployment: its namespace, its pods (read through the API, at
    most every API_POLL s), its Lease (the watcher) and its log lines."""

    def __init__(self, impl: dict, cluster: Cluster, watcher, pod_watcher: PodWatcher, logs: PodLogs,
                 turn: Turn, sampler):
        self.impl, self.key, self.ns = impl, impl["key"], impl["ns"]
        self.pod_watcher = pod_watcher
        self.cluster, self.watcher, self.logs, self.turn, self.sampler = cluster, watcher, logs, turn, sampler
        self.activity = "idle"
        self.other: Deployment | None = None
        self._pods, self._pods_t = {}, 0.0
        self.results: dict[str, list] = {"delete": [], "crash": [], "rollout": []}
        self.apply: dict = {}

    def pods(self, fresh: bool = False) -> dict[str, dict]:
        if fresh or time.monotonic() - self._pods_t > API_POLL:
            status, body = self.cluster.request(
                "GET", f"/api/v1/namespaces/{self.ns}/pods?labelSelector={urllib.parse.quote(SELECTOR)}")
            if status == 200:
                self._pods = {p["metadata"]["name"]: p for p in body.get("items", [])}
                self._pods_t = time.monotonic()
        return self._pods

    def holder(self) -> str:
        ev = self.watcher.latest(self.ns)
        return ev["holder"] if ev else ""

    def steady(self, no_restarts: bool = False) -> dict | None:
        """Three Ready pods and no other; one of them holds the Lease, has renewed it, and is
        working; with no_restarts, the holder's container has never been restarted."""
        pods = self.pods()
        if len(pods) != REPLICAS or not all(is_ready(p) for p in pods.values()):
            return None
        ev = self.watcher.latest(self.ns)
        if not ev or ev["holder"] not in pods or ev["renew"] is None or ev["acquire"] is None \
                or ev["renew"] <= ev["acquire"]:
            return None
        if no_restarts and container_status(pods[ev["holder"]]).get("restartCount", 0) > 0:
            return None
        if not self.logs.working(self.ns, ev["holder"]):
            return None
        return {"holder": ev["holder"], "pods": pods, "event": ev}

    def beside(self) -> str:
        return f"{self.other.key}: {self.other.activity}" if self.other else "nothing"


def g_steady(dep: Deployment, what: str, no_restarts: bool = False, timeout: float = 240):
    """Waits until the deployment has looked steady for SETTLE s, then a random part of a
    retry period more (so that the fault lands anywhere in the renewal cycle). Returns the
    steady state, or None after `timeout`."""
    t0 = time.monotonic()
    since, holder, next_note = None, None, t0 + 30
    while time.monotonic() - t0 < timeout:
        yield from bench.g_sleep(LOG_POLL)
        st = dep.steady(no_restarts)
        now = time.monotonic()
        if st and st["holder"] == holder:
            if now - since >= SETTLE:
                yield from bench.g_sleep(random.uniform(0, RP))
                st = dep.steady(no_restarts)
                if st and st["holder"] == holder:
                    return st
                since, holder = None, None
        else:
            since, holder = now, st["holder"] if st else None
        if now >= next_note:
            log(f"{dep.key}: still waiting for a steady deployment before {what} "
                f"({bench.elapsed(now - t0)}; pods {sorted(dep.pods())}, holder {dep.holder() or 'none'})")
            next_note += 30
    return None


def g_replaced(dep: Deployment, gone: set[str], timeout: float = 120):
    """Until the pods in `gone` have left the API and three Ready pods run."""
    def replaced():
        pods = dep.pods()
        return len(pods) == REPLICAS and not gone & set(pods) and all(is_ready(x) for x in pods.values())
    return (yield from bench.g_wait(replaced, timeout, API_POLL))


def spawn_kubectl(dep: Deployment, *args: str) -> tuple[subprocess.Popen, float, int]:
    """Starts kubectl (not waiting for it); returns it with the wall and monotonic time it
    was started: the instant the fault begins."""
    argv = dep.cluster.kubectl_argv(*args)
    t_wall, t_mono = time.time(), time.monotonic_ns()
    p = bench.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True)
    return p, t_wall, t_mono


def g_kubectl_done(p: subprocess.Popen, what: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while p.poll() is None:
        if time.monotonic() > end:
            bench.kill_group(p)
            raise BenchError(f"kubectl {what} did not return within {timeout:.0f} s")
        yield
    t = time.time()
    if p.returncode != 0:
        raise BenchError(f"kubectl {what} failed (exit {p.returncode}): {p.stderr.read()[-2000:]}")
    return t


# ---------------------------------------------------------------------------
# The trials
# ---------------------------------------------------------------------------

def ms(v) -> str:
    return bench.fs_log(v)


def g_delete_trial(dep: Deployment, k: int, n: int):
    out = dep.results["delete"]
    dep.activity = f"waiting to delete the leader pod ({k + 1}/{n})"
    st = yield from g_steady(dep, "a delete trial")
    if not st:
        out.append({"trial": k, "ok": False, "reason": "no steady deployment"})
        return
    yield from dep.turn.take(dep)
    try:
        dep.activity = f"delete trial {k + 1}"
        old = st["holder"]
        beside = dep.beside()
        idx = dep.watcher.count(dep.ns)
        p, t_wall, t_mono = spawn_kubectl(dep, "delete", "pod", old, "-n", dep.ns, "--wait=false")
        ev = yield from bench.g_wait(bench.new_holder_pred(dep, idx, old), 60, every=0.0)
        kubectl_t = yield from g_kubectl_done(p, f"delete pod {old}")
        work = ev and (yield from bench.g_wait(lambda: dep.logs.first_work_after(dep.ns, t_mono, ev["holder"]), 60,
                                                   LOG_POLL))
        stop = yield from bench.g_wait(lambda: dep.logs.stopped_after(dep.ns, old, t_mono), 10, LOG_POLL)
        accepted = dep.pod_watcher.deletion_seen(dep.ns, old)
        rec = {"trial": k, "ok": bool(ev and work and ev["acquire"]), "old": old, "beside": beside,
               "delete_t": t_wall, "delete_mono_ns": t_mono, "kubectl_returned_s": kubectl_t - t_wall,
               "deletion_seen_s": accepted - t_wall if accepted else None}
        if ev and ev["acquire"] and accepted:
            rec["deletion_seen_to_holder_s"] = ev["acquire"] - accepted
        if ev:
            rel = next((e for e in dep.watcher.since(dep.ns, idx) if e["holder"] == ""), None)
            rec.update(new=ev["holder"], acquire_t=ev["acquire"], seen_t=ev["t"],
                       to_holder_s=ev["acquire"] - t_wall if ev["acquire"] else None,
                       to_holder_seen_s=ev["t"] - t_wall, released=rel is not None,
                       release_seen_s=rel["t"] - t_wall if rel else None, transitions=ev["transitions"])
        if work:
            rec.update(work_mono_ns=work["mono"], to_work_s=(work["mono"] - t_mono) / 1e9)
        if work and stop:
            rec.update(old_stop_mono_ns=stop["mono"], leaderless_s=(work["mono"] - stop["mono"]) / 1e9)
        out.append(rec)
        log(f"delete  {dep.key:9s} trial {k + 1:2d}/{n}: new holder {ms(rec.get('to_holder_s'))}, "
            f"first work {ms(rec.get('to_work_s'))} (the API's deletion seen at {ms(rec['deletion_seen_s'])}; "
            f"beside {beside})")
        done = yield from g_replaced(dep, {old})
        if not done:
            log(f"{dep.key}: the deleted pod {old} was not replaced within 120 s")
    finally:
        dep.turn.give(dep)


def g_crash_trial(dep: Deployment, k: int, n: int):
    out = dep.results["crash"]
    dep.activity = f"waiting to crash the leader's container ({k + 1}/{n})"
    st = yield from g_steady(dep, "a crash trial", no_restarts=True)
    if not st:
        out.append({"trial": k, "ok": False, "reason": "no steady deployment"})
        return
    yield from dep.turn.take(dep)
    try:
        dep.activity = f"crash trial {k + 1} (the kill and the container's restart)"
        old = st["holder"]
        cid = (container_status(st["pods"][old]).get("containerID") or "").removeprefix("containerd://")
        pid = dep.cluster.task_pid(cid) if cid else None
        if pid is None:
            out.append({"trial": k, "ok": False, "old": old, "reason": f"no running task for {cid!r}"})
            return
        beside = dep.beside()
        last_renew = dep.watcher.latest(dep.ns)["renew"]
        idx = dep.watcher.count(dep.ns)
        t_wall, t_mono = time.time(), time.monotonic_ns()
        os.kill(pid, signal.SIGKILL)
        restarted = yield from bench.g_wait(lambda: dep.logs.first_line(dep.ns, old, 1), 60, LOG_POLL)
        dep.turn.give(dep)
        dep.activity = f"crash trial {k + 1} (waiting for a leader to work again)"
        work = yield from bench.g_wait(lambda: dep.logs.first_work_after(dep.ns, t_mono), LD + 45, LOG_POLL)
        rec = {"trial": k, "ok": bool(work), "old": old, "beside": beside, "kill_t": t_wall,
               "kill_mono_ns": t_mono, "host_pid": pid, "last_renew_t": last_renew,
               "kill_after_renew_s": t_wall - last_renew if last_renew else None,
               "restarted_s": (restarted["cri_t"] - t_wall) if restarted and restarted["cri_t"] else None}
        if work:
            rec.update(worker=work["pod"], same_pod=work["pod"] == old, work_mono_ns=work["mono"],
                       to_work_s=(work["mono"] - t_mono) / 1e9,
                       worker_restarted_container=work["restart"] > 0 and work["pod"] == old)
        evs = [e for e in dep.watcher.since(dep.ns, idx) if e["holder"]]
        taken = next((e for e in evs if e["holder"] != old or (e["acquire"] or 0) > t_wall), None)
        renewed = next((e for e in evs if e["holder"] == old and (e["renew"] or 0) > t_wall), None)
        if taken:
            rec.update(new_holder=taken["holder"], acquire_t=taken["acquire"],
                       last_renew_to_acquire_s=taken["acquire"] - last_renew if taken["acquire"] and last_renew else None)
        if renewed:
            rec.update(first_renewal_by_old_holder_s=renewed["renew"] - t_wall)
        out.append(rec)
        who = "none" if not work else ("the restarted container" if rec["same_pod"] else work["pod"])
        log(f"crash   {dep.key:9s} trial {k + 1:2d}/{n}: work again after {ms(rec.get('to_work_s'))} by {who} "
            f"(container restarted after {ms(rec['restarted_s'])}, killed {ms(rec['kill_after_renew_s'])} "
            f"after the last renewal; beside {beside})")
        # The kubelet restarts a container at once only the first time; the next crash of the same
        # pod would wait out a back-off of 10 s and more. Replace the crashed pod.
        yield from dep.turn.take(dep)
        dep.activity = f"crash trial {k + 1} (replacing the crashed pod)"
        p, _, _ = spawn_kubectl(dep, "delete", "pod", old, "-n", dep.ns, "--wait=false")
        yield from g_kubectl_done(p, f"delete pod {old}")
        if not (yield from g_replaced(dep, {old})):
            log(f"{dep.key}: the crashed pod {old} was not replaced within 120 s")
    finally:
        dep.turn.give(dep)


def g_rollout_trial(dep: Deployment, k: int, n: int):
    out = dep.results["rollout"]
    dep.activity = f"waiting to roll out ({k + 1}/{n})"
    st = yield from g_steady(dep, "a rollout")
    if not st:
        out.append({"trial": k, "ok": False, "reason": "no steady deployment"})
        return
    yield from dep.turn.take(dep)
    try:
        dep.activity = f"rollout {k + 1}"
        beside = dep.beside()
        old_pods = set(st["pods"])
        p, t_wall, t_mono = spawn_kubectl(dep, "rollout", "restart", f"deployment/{DEPLOYMENT}", "-n", dep.ns)
        yield from g_kubectl_done(p, "rollout restart")

        def finished():
            pods = dep.pods()
            h = dep.holder()
            if len(pods) != REPLICAS or old_pods & set(pods) or not all(is_ready(x) for x in pods.values()):
                return None
            w = dep.logs.first_work_after(dep.ns, t_mono, h) if h in pods else None
            return w and dep.logs.working(dep.ns, h)
        done = yield from bench.g_wait(finished, 300, API_POLL)
        yield from bench.g_sleep(1.0)  # the last lines of the old pods reach the tailer
        t_end = time.monotonic_ns()
        # The terms that worked during the rollout, the one working when it began included
        # (a term works until its stop line, so its end is after the restart).
        ts = [t for t in terms(dep.logs.of(dep.ns)) if t["last_ns"] >= t_mono and t["first_ns"] <= t_end]
        gaps = [(b["first_ns"] - a["last_ns"]) / 1e9 for a, b in zip(ts, ts[1:])]
        ov = overlaps(ts)
        rec = {"trial": k, "ok": bool(done) and bool(ts), "beside": beside, "restart_t": t_wall,
               "restart_mono_ns": t_mono, "end_mono_ns": t_end, "duration_s": (t_end - t_mono) / 1e9 - 1.0,
               "handovers": max(0, len(ts) - 1), "gaps_s": gaps,
               "leaderless_total_s": sum(g for g in gaps if g > 0), "leaderless_max_s": max(gaps, default=0.0),
               "overlaps": len(ov), "terms": [{k2: t[k2] for k2 in ("pod", "first_ns", "last_ns", "runs", "token")}
                                               for t in ts],
               "old_pods": sorted(old_pods)}
        if ov:
            rec["overlap_detail"] = [f"{a['pod']} [{a['first_ns']}, {a['last_ns']}] and "
                                     f"{b['pod']} [{b['first_ns']}, {b['last_ns']}]" for a, b in ov]
        out.append(rec)
        log(f"rollout {dep.key:9s} trial {k + 1:2d}/{n}: {rec['handovers']} handovers, leaderless "
            f"{ms(rec['leaderless_total_s'])} in all (longest {ms(rec['leaderless_max_s'])}), "
            f"{len(ov)} overlaps, rollout {rec['duration_s']:.1f} s (beside {beside})")
    finally:
        dep.turn.give(dep)


PHASES = {"delete": g_delete_trial, "crash": g_crash_trial, "rollout": g_rollout_trial}


def g_sequence(dep: Deployment, order: list[str], counts: dict[str, int]):
    for phase in order:
        n = counts[phase]
        if not n:
            continue
        t0 = time.time()
        log(f"{dep.key}: {phase} trials, {n}")
        for k in range(n):
            yield from PHASES[phase](dep, k, n)
        dep.sampler.span(f"{dep.key}: {phase} trials", t0, time.time())
    dep.activity = "done (its pods running)"


def apply_and_first_work(dep: Deployment, kustomization: Path) -> None:
    """`kubectl apply -k` on an empty namespace, to the first work, the first holder and
    three Ready pods."""
    dep.activity = "kubectl apply"
    idx = dep.watcher.count(dep.ns)
    argv = dep.cluster.kubectl_argv("apply", "-k", str(kustomization))
    t_wall, t_mono = time.time(), time.monotonic_ns()
    bench.run_cmd(argv)
    work = bench.drive(bench.g_wait(lambda: dep.logs.first_work_after(dep.ns, t_mono), 180, LOG_POLL))
    if not work:
        raise BenchError(f"{dep.key}: no work within 180 s of kubectl apply; pod logs in {LOG_DIR}")
    first = next((e for e in dep.watcher.since(dep.ns, idx) if e["holder"]), None)
    ready = bench.drive(g_replaced(dep, set()))
    dep.apply = {"command": shlex.join(["kubectl", "apply", "-k", os.path.relpath(kustomization, REPO)]),
                 "apply_t": t_wall, "first_work_s": (work["mono"] - t_mono) / 1e9, "first_worker": work["pod"],
                 "first_holder": first["holder"] if first else None,
                 "first_acquire_s": first["acquire"] - t_wall if first and first["acquire"] else None,
                 "three_ready_s": time.time() - t_wall if ready else None}
    if first and first["acquire"]:
        dep.apply["acquire_to_work_s"] = dep.apply["first_work_s"] - dep.apply["first_acquire_s"]
    log(f"apply   {dep.key:9s}: first holder after {ms(dep.apply['first_acquire_s'])}, first work after "
        f"{ms(dep.apply['first_work_s'])}")


# ---------------------------------------------------------------------------
# Building, the overlay for client-go, the results
# ---------------------------------------------------------------------------

def client_go_image() -> tuple[Path, str, Path, bool]:
    binary, cached = bench.build_client_go_ref()
    out = bench.run_cmd([sys.executable, str(IMAGES), "client-go-ref", str(binary)], timeout=1800,
                        heartbeat="building or finding the client-go-ref image", show_stderr=True)
    _, archive, name = out.strip().splitlines()[-1].split()
    return Path(archive), name, binary, cached


def client_go_overlay(work: Path, image: str) -> Path:
    """The project's kustomization, into namespace client-go, with the reference's image and
    arguments: every other field (RBAC, strategy, probes, resources, security) as shipped."""
    d = work / "client-go-overlay"
    d.mkdir()
    name, tag = image.split(":")
    (d / "kustomization.yaml").write_text(f"""\
# bench/cluster.py: the project's kustomization (namespace, RBAC, Deployment, Service, PDB),
# deployed into its own namespace with the client-go reference's image and arguments.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {IMPLS['client_go']['ns']}
resources:
  - {os.path.relpath(REPO, d)}
images:
  - name: k8sensus
    newName: {name}
    newTag: "{tag}"
patches:
  - target: {{kind: Deployment, name: {DEPLOYMENT}}}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value:
          - --lease-name={LEASE}
          - --lease-namespace=$(POD_NAMESPACE)
          - --probe-addr=:8080
""")
    return d


def summary(trials: list[dict], field: str) -> dict:
    return bench.summary(bench.ok_values(trials, field), sum(1 for t in trials if not t.get("ok")))


def section(dep: Deployment) -> dict:
    R = dep.results
    rolls = [t for t in R["rollout"] if t.get("ok")]
    hand = [t["handovers"] for t in rolls]
    whole = terms(dep.logs.of(dep.ns))
    crash_ok = [t for t in R["crash"] if t.get("ok")]
    return {
        "namespace": dep.ns,
        "delete_pod_to_holder_s": summary(R["delete"], "to_holder_s"),
        "delete_pod_to_work_s": summary(R["delete"], "to_work_s"),
        "delete_pod_to_holder_seen_s": summary(R["delete"], "to_holder_seen_s"),
        "delete_pod_deletion_seen_s": summary(R["delete"], "deletion_seen_s"),
        "delete_pod_deletion_seen_to_holder_s": summary(R["delete"], "deletion_seen_to_holder_s"),
        "delete_pod_leaderless_s": summary(R["delete"], "leaderless_s"),
        "container_crash_to_work_s": summary(R["crash"], "to_work_s"),
        "container_crash_restart_s": summary(R["crash"], "restarted_s"),
        "container_crash_worked_again_by": {
            "restarted_container": sum(1 for t in crash_ok if t.get("same_pod")),
            "another_pod": sum(1 for t in crash_ok if not t.get("same_pod"))},
        "apply_to_first_work_s": dep.apply.get("first_work_s"),
        "apply_to_first_holder_s": dep.apply.get("first_acquire_s"),
        "apply": dep.apply,
        "rollout": {
            "trials": len(rolls), "failed_trials": len(R["rollout"]) - len(rolls),
            "handovers": statistics.median(hand) if hand else None,
            "handovers_mean": statistics.mean(hand) if hand else None,
            "handovers_max": max(hand) if hand else None,
            "handovers_per_rollout": hand,
            "leaderless_total_s": summary(R["rollout"], "leaderless_total_s"),
            "leaderless_max_s": summary(R["rollout"], "leaderless_max_s"),
            "overlaps": sum(t["overlaps"] for t in rolls),
            "duration_s": summary(R["rollout"], "duration_s"),
        },
        "overlaps_whole_run": len(overlaps(whole)),
        "terms_whole_run": len(whole),
        "raw": R,
    }


METHOD = {
    "deploy": "k8sensus: `kubectl apply -k .` as the README says (namespace k8sensus); client-go: "
              "an overlay of the same kustomization into namespace client-go that changes only the "
              "image (bench/client-go-ref, a static Go binary on the distroless stand-in) and the "
              "arguments (--lease-namespace=$(POD_NAMESPACE) --probe-addr=:8080, for the same probes); "
              "each has its own Lease, k8sensus-lease in its own namespace. deployment.yaml's "
              "strategy (maxSurge 1, maxUnavailable 0), probes, resources and securityContext, "
              "15s/10s/2s and a task every 10 s for both",
    "apply_to_first_work_s": "from starting `kubectl apply -k` on an empty namespace to the first "
                             "work line (the driver's CLOCK_MONOTONIC against the line's mono_ns); "
                             "k8sensus first, then client-go, one at a time",
    "delete_pod_to_holder_s": "from starting `kubectl delete pod <holder> --wait=false` to the new "
                              "holder's acquireTime (driver and replicas share one wall clock)",
    "delete_pod_to_work_s": "from the same instant to the new holder's first work line (mono_ns)",
    "delete_pod_deletion_seen_s": "from the same instant to the driver's pod watch receiving the pod "
                                  "marked for deletion: kubectl's own start-up and request, and the "
                                  "watch's delivery; *_deletion_seen_to_holder_s is from there to the "
                                  "new holder's acquireTime",
    "container_crash_to_work_s": "SIGKILL (os.kill) of the leader container's host PID, found through "
                                 "containerd (`ctr -n k8s.io tasks list`), to the first work line by "
                                 "any pod after it; the kubelet restarts the container; the crashed "
                                 "pod is then deleted and replaced, so that no trial meets the "
                                 "kubelet's restart back-off",
    "rollout": "`kubectl rollout restart deployment/k8sensus`, until no old pod is left, three new "
               "pods are Ready and a new pod works; the terms of work from the pods' logs (start "
               "line to stop line, mono_ns) that cover that stretch, the one working at its start "
               "included: handovers = terms - 1; leaderless = the next term's start - the previous "
               "term's end, summed (total) and the largest (max); overlaps = pairs of terms "
               "working at once (tests/support/overlap.rs's rule)",
    "alongside": "both deployments run the whole time, in one cluster, each through its own "
                 "sequence of trials; a trial holds a cluster-wide turn from its fault to the end "
                 "of the churn it causes (replacement pod Ready, rollout finished, crashed container "
                 "running again, crashed pod replaced) and no other fault is injected meanwhile, so "
                 "only quiet waits overlap (a crash trial's wait for the lease to expire, the settle "
                 "between trials); every trial records what the other deployment was doing",
    "steady_before_each_fault": f"three Ready pods, a holder that renewed and is working, for {SETTLE:g} s, "
                                f"then a random 0 to {RP:g} s so that the fault lands anywhere in the "
                                "renewal cycle",
    "percentiles": "linear interpolation between closest ranks (bench/run.py's)",
    "logs": "the kubelet's container log files under the cluster's state dir, tailed every 50 ms",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--delete-trials", type=int, default=20)
    ap.add_argument("--crash-trials", type=int, default=20)
    ap.add_argument("--rollouts", type=int, default=5)
    ap.add_argument("--out", default=str(bench.BENCH / "results.json"),
                    help="results file: its \"cluster\" section is replaced, every other key kept")
    ap.add_argument("--no-render", action="store_true", help="do not run bench/render.py at the end")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    command = shlex.join(["python3", os.path.relpath(sys.argv[0], REPO) if not os.path.isabs(sys.argv[0])
                          else sys.argv[0], *sys.argv[1:]])
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    random.seed(seed)

    def on_term(_s, _f):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)
    lock = bench.one_run_at_a_time()
    if lock is None:
        return 1
    if os.geteuid() != 0 or subprocess.run([sys.executable, str(CLUSTER), "check"]).returncode != 0:
        log("error: the cluster cannot run here (see the line above); `make bench-cluster` needs root")
        return 1
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="k8sensus-bench-cluster-"))
    started_at = dt.datetime.now(dt.timezone.utc)
    load_at_start = os.getloadavg()
    cluster = logs = watcher = pod_watcher = None
    sampler = bench.LoadSampler()
    sampler.start()
    left: list[str] = []
    try:
        log(f"work dir {work}, pod logs to {LOG_DIR}, seed {seed}")
        source = bench.source_snapshot()
        sampler.phase("build and start")
        t_build = time.monotonic()
        cg_archive, cg_image, cg_bin, cg_cached = client_go_image()
        log(f"client-go-ref image {cg_image} ({cg_archive.name})")
        cluster = Cluster(work / "cluster", [cg_archive])
        cluster.start()
        t_up = time.monotonic()
        log(f"cluster ready ({bench.elapsed(t_up - t_build)} for the image and the cluster)")
        logs = PodLogs(cluster.dir / "pod-logs")
        logs.start()
        watcher = bench.LeaseWatcher(cluster)
        watcher.start()
        pod_watcher = PodWatcher(cluster)
        pod_watcher.start()
        for w in (watcher, pod_watcher):
            if not w.ready.wait(30):
                raise BenchError(f"the driver's {w.name} did not start: {w.errors[-3:]}")
        turn = Turn()
        deps = {k: Deployment(v, cluster, watcher, pod_watcher, logs, turn, sampler)
                for k, v in IMPLS.items()}
        deps["k8sensus"].other, deps["client_go"].other = deps["client_go"], deps["k8sensus"]

        sampler.phase("apply")
        apply_and_first_work(deps["k8sensus"], REPO)
        apply_and_first_work(deps["client_go"], client_go_overlay(work, cg_image))

        sampler.phase("trials")
        counts = {"delete": args.delete_trials, "crash": args.crash_trials, "rollout": args.rollouts}
        # k8sensus's crash trials spend most of their time waiting for the lease to expire; the
        # reference's other trials use that time.
        orders = {"k8sensus": ["crash", "delete", "rollout"], "client_go": ["delete", "rollout", "crash"]}
        log(f"trials: {counts['delete']} delete, {counts['crash']} crash, {counts['rollout']} rollouts "
            "per implementation, both deployments at once, faults one at a time")
        t_trials = time.monotonic()
        bench.run_all(*[g_sequence(deps[k], orders[k], counts) for k in deps])
        trials_s = time.monotonic() - t_trials
        sampler.phase("")
        egress = cluster.command("egress")
        finished_at = dt.datetime.now(dt.timezone.utc)
        sec = {k: section(d) for k, d in deps.items()}
        sec.update({
            "command": command, "seed": seed,
            "started_at": started_at.isoformat(timespec="seconds"),
            "generated_at": finished_at.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - bench.T0, 1),
            "trials_s": round(trials_s, 1),
            "build_and_start_s": round(t_up - t_build, 1),
            "orders": orders, "timings": TIMINGS, "replicas": REPLICAS, "counts": counts,
            "kubernetes_version": cluster.state.get("kubernetes_version"),
            "images": {"client_go_ref": cg_image, "client_go_ref_archive": cg_archive.name,
                       "client_go_ref_binary_sha256": bench.sha256(cg_bin), "client_go_ref_binary_cached": cg_cached,
                       "k8sensus": "k8sensus:0.1.0 from the Dockerfile (hack/cluster/images.py build)"},
            "source": source,
            "machine": {**bench.machine_info(), "loadavg_at_start": [round(x, 2) for x in load_at_start],
                        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
                        "load_by_phase": sampler.summary()},
            "egress_guard": egress,
            "watch": {w.name: {"reconnects": w.reconnects, "relists": w.relists, "errors": w.errors[-10:]}
                      for w in (watcher, pod_watcher)},
            "pod_log_errors": logs.errors[-10:],
            "method": METHOD,
        })
        out = Path(args.out)
        results = json.loads(out.read_text()) if out.exists() else {}
        results["cluster"] = sec
        out.write_text(json.dumps(results, indent=1) + "\n")
        log(f"wrote the \"cluster\" section of {out}")
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        sampler.stopping = True
        for w in (watcher, pod_watcher):
            if w:
                w.stopping = True
        if logs:
            logs.stopping = True
            logs.save(LOG_DIR)
        state = getattr(cluster, "state", None) if cluster else None
        if cluster:
            cluster.stop()
        if state:
            left = leftovers(state)
            log("nothing of the cluster is left on the host" if not left
                else f"LEFT ON THE HOST: {left}")
        shutil.rmtree(work, ignore_errors=True)
    if left:
        return 1
    if not args.no_render:
        r = subprocess.run([sys.executable, str(bench.BENCH / "render.py"), "--results", args.out])
        if r.returncode != 0:
            return r.returncode
    log(f"done in {(time.monotonic() - bench.T0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
