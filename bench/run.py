#!/usr/bin/env python3
"""k8sensus vs client-go: failover time, API load, memory and size, on one real API server.

    python3 bench/run.py            (or `make bench`)

What it does, unattended (in about 9 minutes on a 2-core machine once both
electors and the control plane are built, plus the scale part):

1. builds both electors if needed: `make build` (target/release/k8sensus) and
   bench/client-go-ref (client-go's tools/leaderelection with a LeaseLock), the
   latter cached outside the repository like the control plane binaries;
2. starts its own etcd + kube-apiserver (hack/control-plane/controlplane.py run
   --lifeline-stdin) with an audit log of every Lease request made by a
   ServiceAccount (a wrapper around kube-apiserver, see audit_wrapper());
3. gives each replica set its own namespace, rbac.yaml applied there, and
   one ServiceAccount per replica (so that the audit log attributes every
   request to a replica); per implementation: one set left alone for the
   steady-state window, and --lanes sets (default 2) that share the crash
   trials; the first lane then runs the graceful trials;
4. measures, from the outside, through a watch on the Leases and the audit log:
   steady-state API load and memory (on the untouched sets, while the trials
   run on the others), crash failover (kill -9 of the leader), graceful
   handoff (SIGTERM to the leader, one trial at a time), first leadership on
   an empty namespace; with 15s/10s/2s timings and, if asked for
   (--short-crash-trials, --short-graceful-trials), labelled apart, with
   4s/3s/0.5s;
5. at scale (--scale, default N = 3, 10, 30, 100; skipped with --no-scale, run
   alone with --scale-only or `make bench-scale`): for each N, one set of N
   replicas per implementation on one Lease each; crash trials on both at once,
   graceful trials alternating, then a steady-state window on each set alone
   (requests per standby, kube-apiserver CPU seconds from its own /metrics,
   RSS), and the requests each takeover caused, from the audit log; about 30
   minutes with the defaults;
6. writes bench/results.json (--scale-only: only its "scale" section, every other
   key kept) and runs bench/render.py (BENCHMARKS.md, bench/*.svg).

Only the standard library. Every process it starts is tied to it with
PR_SET_PDEATHSIG (they are all started from the main thread, since the signal
follows the thread that forked) and stopped in a finally block.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import fcntl
import hashlib
import http.client
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LOG_DIR = BENCH / ".logs"
CONTROLPLANE = REPO / "hack" / "control-plane" / "controlplane.py"
CLIENT_GO_SRC = BENCH / "client-go-ref"
RUST_BIN = REPO / "target" / "release" / "k8sensus"
LEASE = "k8sensus-lease"
REPLICAS = 3
POLL = 0.005  # the scheduler's tick, seconds

T0 = time.monotonic()


def log(msg: str) -> None:
    e = time.monotonic() - T0
    print(f"[bench {int(e // 60):02d}:{e % 60:04.1f}] {msg}", flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------
# Child processes: own process group, SIGKILL when we die
# ---------------------------------------------------------------------------

_LIBC = ctypes.CDLL(None, use_errno=True)
_PARENT_PID = os.getpid()
_MAIN_THREAD = threading.main_thread()
PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    os.setpgid(0, 0)  # a terminal's Ctrl-C reaches us only; we stop the children in order
    if _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(127)
    if os.getppid() != _PARENT_PID:
        os.kill(os.getpid(), signal.SIGKILL)


def spawn(argv, **kw) -> subprocess.Popen:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits: fork only from
    # the main thread, which lives as long as the run.
    assert threading.current_thread() is _MAIN_THREAD
    return subprocess.Popen(argv, preexec_fn=_child_setup, **kw)


def kill_group(p: subprocess.Popen) -> None:
    """SIGKILL a child's whole process group (make -> cargo -> rustc, go -> compile),
    which spawn() made its own: PR_SET_PDEATHSIG only covers the child itself."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


HEARTBEAT = 30.0  # seconds between "still running" lines of a long step


def elapsed(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def run_cmd(argv, *, input=None, cwd=REPO, env=None, timeout=600, heartbeat: str | None = None,
            show_stderr: bool = False) -> str:
    """Run a command to completion and return its stdout; raise BenchError with its output on
    failure. A `heartbeat` names the step in a line every HEARTBEAT s, so that a long build
    does not look hung; `show_stderr` passes the command's stderr (its own progress) through."""
    p = spawn(argv, cwd=cwd, env=env, stdin=subprocess.PIPE if input is not None else
              subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=None if show_stderr else subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        while True:
            left = timeout - (time.monotonic() - start)
            try:
                out, err = p.communicate(input, timeout=max(0.1, min(HEARTBEAT, left)))
                break
            except subprocess.TimeoutExpired:
                input = None  # sent with the first call; communicate() keeps what is pending
                if time.monotonic() - start >= timeout:
                    raise BenchError(f"timed out after {timeout:.0f} s: {shlex.join(map(str, argv))}")
                if heartbeat:
                    log(f"  ... still {heartbeat} ({elapsed(time.monotonic() - start)})")
    except BaseException:
        kill_group(p)
        raise
    if p.returncode != 0:
        raise BenchError(f"command failed (exit {p.returncode}): {shlex.join(map(str, argv))}\n"
                         f"{out[-3000:]}{(err or '')[-3000:]}")
    return out


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------

def cache_root() -> Path:
    base = os.environ.get("K8SENSUS_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = os.path.join(xdg, "k8sensus")
    return Path(base)


GO_LDFLAGS = "-s -w"


def build_client_go_ref() -> tuple[Path, bool]:
    """bench/client-go-ref, built stripped, cached by a hash of its sources and Go version.
    Returns the binary and whether it came from the cache."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    gover = run_cmd(["go", "env", "GOVERSION"], env=env).strip()
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        h.update(name.encode() + b"\0" + (CLIENT_GO_SRC / name).read_bytes() + b"\0")
    h.update(f"{gover}\0{GO_LDFLAGS}\0{platform.machine()}".encode())
    key = f"{gover}-{platform.machine()}-{h.hexdigest()[:12]}"
    final = cache_root() / "client-go-ref" / key / "client-go-ref"
    if os.access(final, os.X_OK):
        log(f"client-go-ref: cached {final}")
        return final, True
    tmp = final.parent.parent / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"client-go-ref: building ({gover}, CGO_ENABLED=0 go build -trimpath -ldflags '{GO_LDFLAGS}')")
    try:
        run_cmd(["go", "build", "-trimpath", "-ldflags", GO_LDFLAGS, "-o", str(tmp / "client-go-ref"),
                 "."], cwd=CLIENT_GO_SRC, env=env, timeout=1200, heartbeat="building client-go-ref")
        final.parent.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final.parent)
        except OSError:  # someone else finished first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, False


def build_rust() -> Path:
    """`make build`, its output in LOG_DIR/make-build.log; every HEARTBEAT s a line with the
    crate cargo reached last."""
    logfile = LOG_DIR / "make-build.log"
    log(f"k8sensus: make build (output in {logfile})")
    start = time.monotonic()
    with open(logfile, "w") as out:
        p = spawn(["make", "build"], cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                  stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    p.wait(timeout=HEARTBEAT)
                    break
                except subprocess.TimeoutExpired:
                    last = [ln.strip() for ln in logfile.read_text(errors="replace").splitlines()
                            if ln.strip().startswith(("Compiling", "Building", "Downloaded", "Updating"))]
                    log(f"  ... still running make build ({elapsed(time.monotonic() - start)}"
                        + (f"; {last[-1][:80]}" if last else "") + ")")
        except BaseException:
            kill_group(p)
            raise
    text = logfile.read_text(errors="replace")
    if p.returncode != 0:
        raise BenchError(f"make build failed (exit {p.returncode}):\n{text[-4000:]}")
    log(f"k8sensus: built in {elapsed(time.monotonic() - start)}")
    return RUST_BIN


def rust_extra_args(binary: Path) -> list[str]:
    """Flags for k8sensus beyond the election's, for whichever version was built:
    JSON logs, and probes on a free loopback port (the default, :8080 on every
    interface, would collide between three replicas on one host)."""
    help_text = run_cmd([str(binary), "--help"])
    args = []
    if "--log-format" in help_text:
        args.append("--log-format=json")
    if "--probe-addr" in help_text:
        args.append("--probe-addr=127.0.0.1:0")
    return args


# ---------------------------------------------------------------------------
# The control plane, with an audit log of Lease requests
# ---------------------------------------------------------------------------

AUDIT_POLICY = """\
# bench/run.py: one event per request made by a ServiceAccount (the replicas), Metadata only.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""


def audit_wrapper(work: Path, audit_log: Path) -> tuple[Path, dict]:
    """A bin dir for K8SENSUS_CONTROL_PLANE_BIN: the binaries as built by
    controlplane.py, kube-apiserver wrapped to add the audit flags. controlplane.py
    itself is unchanged. Also returns how the binaries were had (built now or cached)."""
    t0, started = time.monotonic(), time.time()
    # controlplane.py prints its own progress (a cold build takes minutes) on stderr.
    real = Path(run_cmd([sys.executable, str(CONTROLPLANE), "build"], timeout=3600, show_stderr=True)
                .strip().splitlines()[-1])
    d = work / "cp-bin"
    d.mkdir()
    # Every binary controlplane.py expects, as built; only kube-apiserver is wrapped.
    for b in real.iterdir():
        if b.name != "kube-apiserver":
            os.symlink(b, d / b.name)
    policy = work / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    w = d / "kube-apiserver"
    w.write_text("#!/bin/sh\n# bench/run.py: kube-apiserver with an audit log of Lease requests\n"
                 f"exec {shlex.quote(str(real / 'kube-apiserver'))} \"$@\" "
                 f"--audit-policy-file={shlex.quote(str(policy))} "
                 f"--audit-log-path={shlex.quote(str(audit_log))} "
                 "--audit-log-format=json --audit-log-mode=blocking\n")
    w.chmod(0o755)
    info = {"seconds": round(time.monotonic() - t0, 1), "cached": True}
    try:
        bi = json.loads((real.parent / "build-info.json").read_text())
        info["cached"] = parse_time(bi["built_at"]) < started - 1
        info["build_info"] = bi
    except (OSError, ValueError, KeyError):
        pass
    return d, info


class ControlPlane:
    def __init__(self, work: Path):
        self.dir = work / "cp"
        self.proc = None
        self.errlog = None

    def start(self, bin_dir: Path) -> None:
        env = {**os.environ, "K8SENSUS_CONTROL_PLANE_BIN": str(bin_dir)}
        self.errlog = open(LOG_DIR / "controlplane.log", "w")
        self.proc = spawn([sys.executable, str(CONTROLPLANE), "run", "--dir", str(self.dir),
                           "--lifeline-stdin"], cwd=REPO, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=self.errlog, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.wait()
            raise BenchError("the control plane did not start; see "
                             f"{LOG_DIR / 'controlplane.log'}:\n"
                             f"{(LOG_DIR / 'controlplane.log').read_text()[-3000:]}")
        self.state = json.loads((self.dir / "state.json").read_text())
        self.kubeconfig = self.state["kubeconfig"]
        self.kubectl = self.state["kubectl"]
        self.server = self.state["server"]
        u = urllib.parse.urlparse(self.server)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=self.state["ca_file"])
        self.ctx.load_cert_chain(str(self.dir / "admin.crt"), str(self.dir / "admin.key"))

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json", "Accept": "application/json"})
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else {}
            except ValueError:
                return r.status, {"raw": raw.decode(errors="replace")}
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        """kube-apiserver's own process_cpu_seconds_total, from its /metrics."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            text = r.read().decode(errors="replace")
        finally:
            conn.close()
        if r.status != 200:
            raise BenchError(f"GET /metrics: {r.status} {text[:200]}")
        for line in text.splitlines():
            if line.startswith("process_cpu_seconds_total "):
                return float(line.split()[1])
        raise BenchError("kube-apiserver's /metrics has no process_cpu_seconds_total")

    def kubectl_run(self, args, input=None) -> str:
        return run_cmd([self.kubectl, f"--kubeconfig={self.kubeconfig}", *args], input=input)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the lifeline: EOF tears everything down
            except OSError:
                pass
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.errlog:
            self.errlog.close()


# ---------------------------------------------------------------------------
# The driver's watch on every k8sensus-lease
# ---------------------------------------------------------------------------

def parse_time(s):
    if not s:
        return None
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class LeaseWatcher(threading.Thread):
    """Sees every write to every Lease named k8sensus-lease (a list, then a watch
    from its resourceVersion, resumed from the last one seen if it breaks).
    Each event keeps the local time it arrived and the Lease's spec. A subclass may
    watch other objects: PATH is what it lists and watches, _record what it keeps."""

    PATH = "/apis/coordination.k8s.io/v1/leases?fieldSelector=" + urllib.parse.quote(f"metadata.name={LEASE}")

    def __init__(self, cp: ControlPlane):
        super().__init__(daemon=True, name="lease-watch")
        self.cp = cp
        self.lock = threading.Lock()
        self.events: dict[str, list[dict]] = {}
        self.rv = None
        self.reconnects = 0
        self.relists = 0
        self.errors: list[str] = []
        self.ready = threading.Event()
        self.stopping = False

    def _record(self, typ: str, obj: dict, t: float) -> None:
        md, spec = obj.get("metadata", {}), obj.get("spec") or {}
        ev = {"t": t, "type": typ, "rv": md.get("resourceVersion"),
              "holder": spec.get("holderIdentity") or "",
              "acquire": parse_time(spec.get("acquireTime")),
              "renew": parse_time(spec.get("renewTime")),
              "duration": spec.get("leaseDurationSeconds"),
              "transitions": spec.get("leaseTransitions")}
        with self.lock:
            self.events.setdefault(md.get("namespace", ""), []).append(ev)

    def run(self) -> None:
        while not self.stopping:
            try:
                if self.rv is None:
                    status, body = self.cp.request("GET", self.PATH)
                    if status != 200:
                        raise OSError(f"list: {status}")
                    t = time.time()
                    for item in body.get("items", []):
                        self._record("LISTED", item, t)
                    self.rv = body["metadata"]["resourceVersion"]
                    self.relists += 1
                conn = http.client.HTTPSConnection(self.cp.host, self.cp.port,
                                                   context=self.cp.ctx, timeout=None)
                conn.request("GET", f"{self.PATH}&watch=1&resourceVersion={self.rv}"
                             "&allowWatchBookmarks=true&timeoutSeconds=3600")
                r = conn.getresponse()
                if r.status == 410:
                    self.rv = None
                    continue
                if r.status != 200:
                    raise OSError(f"watch: {r.status} {r.read()[:200]!r}")
                self.ready.set()
                while True:
                    line = r.readline()
                    if not line:
                        break
                    t = time.time()
                    ev = json.loads(line)
                    typ, obj = ev.get("type"), ev.get("object", {})
                    if typ == "ERROR":
                        if obj.get("code") == 410:
                            self.rv = None
                        break
                    rv = obj.get("metadata", {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    if typ != "BOOKMARK":
                        self._record(typ, obj, t)
                conn.close()
                self.reconnects += 1
            except Exception as e:  # the control plane going away ends the thread with the run
                if self.stopping:
                    return
                self.errors.append(f"{time.time():.3f} {e!r}")
                time.sleep(0.2)

    # -- queries (from the main thread) --

    def count(self, ns: str) -> int:
        with self.lock:
            return len(self.events.get(ns, []))

    def since(self, ns: str, idx: int) -> list[dict]:
        with self.lock:
            return list(self.events.get(ns, [])[idx:])

    def all(self, ns: str) -> list[dict]:
        return self.since(ns, 0)

    def latest(self, ns: str):
        with self.lock:
            evs = self.events.get(ns, [])
            return evs[-1] if evs else None


# ---------------------------------------------------------------------------
# Machine load while the run goes on (other work on the host biases timings)
# ---------------------------------------------------------------------------

class LoadSampler(threading.Thread):
    """Every 2 s: the share of all CPUs busy (from /proc/stat) and the 1-min load average."""

    def __init__(self):
        super().__init__(daemon=True, name="load-sampler")
        self.samples: list[tuple[float, float, float]] = []
        self.phases: list[dict] = []
        self.spans: list[dict] = []
        self.stopping = False

    @staticmethod
    def _cpu():
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle

    def run(self) -> None:
        prev = self._cpu()
        while not self.stopping:
            time.sleep(2.0)
            cur = self._cpu()
            total, idle = cur[0] - prev[0], cur[1] - prev[1]
            prev = cur
            if total > 0:
                self.samples.append((time.time(), 1 - idle / total, os.getloadavg()[0]))

    def phase(self, name: str) -> None:
        now = time.time()
        if self.phases and self.phases[-1]["t1"] is None:
            self.phases[-1]["t1"] = now
        if name:
            self.phases.append({"name": name, "t0": now, "t1": None})

    def span(self, name: str, t0: float, t1: float) -> None:
        """A stretch that overlaps the phases (reported after them)."""
        self.spans.append({"name": name, "t0": t0, "t1": t1})

    def summary(self) -> list[dict]:
        self.phase("")
        out = []
        for ph in self.phases + self.spans:
            xs = [s for s in self.samples if ph["t0"] <= s[0] <= (ph["t1"] or time.time())]
            if not xs:
                continue
            busy = [s[1] for s in xs]
            out.append({"phase": ph["name"], "seconds": round((ph["t1"] or time.time()) - ph["t0"], 1),
                        "cpu_busy_mean": round(statistics.mean(busy), 3),
                        "cpu_busy_max": round(max(busy), 3),
                        "load1_max": round(max(s[2] for s in xs), 2)})
        return out


# ---------------------------------------------------------------------------
# Namespaces, ServiceAccounts, kubeconfigs
# ---------------------------------------------------------------------------

def setup_namespaces(cp: ControlPlane, work: Path, namespaces: list[str],
                     replicas: dict[str, int] | None = None) -> dict:
    """rbac.yaml in each namespace (written into each object's metadata: the file names
    none), plus one ServiceAccount per replica bound to the same Role (`replicas` gives a
    namespace's count, REPLICAS if absent); returns {(ns, slot): kubeconfig path}."""
    count = (replicas or {}).get
    rbac = (REPO / "rbac.yaml").read_text()
    docs = []
    for ns in namespaces:
        docs.append(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    cp.kubectl_run(["apply", "-f", "-"], input="---\n".join(docs))
    docs = []
    for ns in namespaces:
        docs.append(rbac.replace("\nmetadata:\n", f"\nmetadata:\n  namespace: {ns}\n"))
        for i in range(count(ns, REPLICAS)):
            docs.append(f"---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n"
                        f"  name: replica-{i}\n  namespace: {ns}\n")
        subjects = "".join(f"  - kind: ServiceAccount\n    name: replica-{i}\n    namespace: {ns}\n"
                           for i in range(count(ns, REPLICAS)))
        docs.append("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n"
                    f"  name: bench-replicas\n  namespace: {ns}\nroleRef:\n"
                    "  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n"
                    f"  name: k8sensus-leader-election\nsubjects:\n{subjects}")
    cp.kubectl_run(["apply", "-f", "-"], input="\n".join(docs))
    kubeconfigs = {}
    (work / "kubeconfigs").mkdir(exist_ok=True)
    for ns in namespaces:
        for i in range(count(ns, REPLICAS)):
            status, body = cp.request(
                "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/replica-{i}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                 "spec": {"expirationSeconds": 4 * 3600}})
            if status != 201:
                raise BenchError(f"TokenRequest for {ns}/replica-{i}: {status} {body}")
            kc = {"apiVersion": "v1", "kind": "Config",
                  "clusters": [{"name": "bench", "cluster": {
                      "server": cp.server, "certificate-authority": cp.state["ca_file"]}}],
                  "users": [{"name": f"replica-{i}", "user": {"token": body["status"]["token"]}}],
                  "contexts": [{"name": "bench", "context": {
                      "cluster": "bench", "user": f"replica-{i}", "namespace": ns}}],
                  "current-context": "bench"}
            p = work / "kubeconfigs" / f"{ns}-replica-{i}.yaml"
            p.write_text(json.dumps(kc, indent=1))  # JSON is YAML
            p.chmod(0o600)
            kubeconfigs[(ns, i)] = p
    return kubeconfigs


# ---------------------------------------------------------------------------
# Replicas
# ---------------------------------------------------------------------------

def dur_flag(s: float) -> str:
    ms = round(s * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class Replica:
    def __init__(self, impl: dict, ns: str, slot: int, kubeconfig: Path, timings: dict):
        self.impl, self.ns, self.slot, self.kubeconfig, self.timings = impl, ns, slot, kubeconfig, timings
        self.identity = f"{impl['key']}-{slot}"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.exits: list[dict] = []
        self.logfile = LOG_DIR / f"{ns}-{self.identity}.log"

    def argv(self) -> list[str]:
        t = self.timings
        return [str(self.impl["bin"]), f"--lease-name={LEASE}", f"--lease-namespace={self.ns}",
                f"--lease-duration={dur_flag(t['lease_duration_s'])}",
                f"--renew-deadline={dur_flag(t['renew_deadline_s'])}",
                f"--retry-period={dur_flag(t['retry_period_s'])}", *self.impl["extra_args"]]

    def start(self) -> float:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "POD_NAME": self.identity,
               **self.impl["env"]}
        with open(self.logfile, "ab") as out:
            out.write(f"\n==== {time.strftime('%H:%M:%S')} start: {shlex.join(self.argv())}\n".encode())
            out.flush()
            self.started = time.time()
            self.proc = spawn(self.argv(), env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=out, cwd="/")
        return self.started

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig) -> float:
        t = time.time()
        self.proc.send_signal(sig)
        return t

    def reap(self, how: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.exits.append({"how": how, "code": self.proc.returncode})

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reap("stop")

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def rss_mib(self):
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None


class ReplicaSet:
    def __init__(self, impl, ns, kubeconfigs, timings, watcher: LeaseWatcher, markers: list,
                 n: int = REPLICAS):
        self.impl, self.ns, self.timings, self.watcher, self.markers = impl, ns, timings, watcher, markers
        self.replicas = [Replica(impl, ns, i, kubeconfigs[(ns, i)], timings) for i in range(n)]
        self.by_id = {r.identity: r for r in self.replicas}

    def mark(self, kind: str, replica: str, t: float, **kw) -> None:
        self.markers.append({"ns": self.ns, "impl": self.impl["key"], "kind": kind,
                             "replica": replica, "t": t, **kw})

    def start_all(self) -> None:
        for r in self.replicas:
            self.mark("start", r.identity, r.start())

    def restart(self, r: Replica, phase: str, trial: int) -> None:
        self.mark("restart", r.identity, r.start(), phase=phase, trial=trial)

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM to every replica at once, then wait for each (kill -9 past `grace`)."""
        for r in self.replicas:
            if r.alive():
                r.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + grace
        for r in self.replicas:
            if r.proc is None or r.proc.returncode is not None:
                continue
            try:
                r.proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                r.proc.kill()
                r.proc.wait()
            r.reap("stop")

    def steady(self, settle: float):
        """The latest Lease event if: every replica is running and has been for
        `settle` s, one of them holds the Lease, and it has renewed at least once."""
        now = time.time()
        if not all(r.alive() and now - r.started >= settle for r in self.replicas):
            return None
        ev = self.watcher.latest(self.ns)
        if not ev or ev["holder"] not in self.by_id or not self.by_id[ev["holder"]].alive():
            return None
        if ev["renew"] is None or ev["acquire"] is None or ev["renew"] <= ev["acquire"]:
            return None
        return ev


# ---------------------------------------------------------------------------
# Cooperative scheduling: trial loops are generators stepped by the main thread
# ---------------------------------------------------------------------------

def g_sleep(seconds: float):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield


def g_wait(pred, timeout: float, every: float = 0.0):
    """Until pred() is true (returns it) or `timeout` s passed (None); pred is asked at most
    every `every` s (for one that reads the API or a growing log)."""
    end, ask = time.monotonic() + timeout, 0.0
    while True:
        now = time.monotonic()
        if now >= ask:
            r = pred()
            if r:
                return r
            ask = now + every
        if now > end:
            return None
        yield


def run_all(*gens, beside=()) -> None:
    """Step `gens` until all have finished; `beside` ones are stepped too while that lasts,
    but not waited for."""
    active, extra = list(gens), list(beside)
    while active:
        for g in active + extra:
            try:
                next(g)
            except StopIteration:
                (active if g in active else extra).remove(g)
        time.sleep(POLL)


def drive(gen):
    """Steps one generator to its end; returns its value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        time.sleep(POLL)


# ---------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------

def settle_time(t: dict) -> float:
    return max(3.0, 2 * t["retry_period_s"])


def takeover_timeout(t: dict) -> float:
    return t["lease_duration_s"] + 4 * 1.2 * t["retry_period_s"] + 20


def new_holder_pred(rs: ReplicaSet, idx: int, old: str):
    def pred():
        for ev in rs.watcher.since(rs.ns, idx):
            if ev["holder"] and ev["holder"] != old:
                return ev
        return None
    return pred


def g_steady_leader(rs: ReplicaSet, k: int, phase: str, out: list, progress):
    """Every trial's start: let the set settle (plus a random part of a retry period, so the
    fault lands anywhere in the renewal cycle), then wait for a steady leader. Returns its
    state, or None after recording the trial as failed."""
    t = rs.timings
    yield from g_sleep(settle_time(t) + random.uniform(0, t["retry_period_s"]))
    st = yield from g_wait(lambda: rs.steady(settle_time(t)), 120)
    if not st:
        out.append({"trial": k, "ns": rs.ns, "ok": False, "reason": "no steady leader within 120 s"})
        progress(rs, phase, k, None)
    return st


def strike(rs: ReplicaSet, st: dict, sig, kind: str, phase: str, k: int):
    """Signal the steady leader `st` names, marked on the timeline. Returns the old holder,
    its replica, the watch position before the signal, and when it was sent."""
    old = st["holder"]
    rep = rs.by_id[old]
    idx = rs.watcher.count(rs.ns)
    t = rep.signal(sig)
    rs.mark(kind, old, t, phase=phase, trial=k)
    return old, rep, idx, t


def g_crash_trials(rs: ReplicaSet, trials: range, phase: str, out: list, progress):
    t = rs.timings
    for k in trials:
        st = yield from g_steady_leader(rs, k, phase, out, progress)
        if not st:
            continue
        old, rep, idx, t_kill = strike(rs, st, signal.SIGKILL, "kill", phase, k)
        rep.proc.wait()
        rep.reap("kill -9")
        ev = yield from g_wait(new_holder_pred(rs, idx, old), takeover_timeout(t))
        if not ev:
            out.append({"trial": k, "ns": rs.ns, "ok": False, "old": old, "reason": "no takeover before timeout"})
            rs.restart(rep, phase, k)
            progress(rs, phase, k, None)
            continue
        evs = rs.watcher.all(rs.ns)
        upto = evs[:evs.index(ev)]
        last = [e for e in upto if e["holder"] == old and e["renew"] is not None]
        last_renew = last[-1]["renew"] if last else None
        rec = {"trial": k, "ns": rs.ns, "ok": last_renew is not None and ev["acquire"] is not None,
               "old": old, "new": ev["holder"], "kill_t": t_kill, "last_renew_t": last_renew,
               "acquire_t": ev["acquire"], "seen_t": ev["t"],
               "failover_s": ev["acquire"] - last_renew if last_renew and ev["acquire"] else None,
               "failover_seen_s": ev["t"] - last_renew if last_renew else None,
               "kill_after_renew_s": t_kill - last_renew if last_renew else None,
               "transitions": ev["transitions"]}
        out.append(rec)
        rs.restart(rep, phase, k)
        progress(rs, phase, k, rec.get("failover_s"))


def g_graceful_trial(rs: ReplicaSet, k: int, phase: str, out: list, progress):
    t = rs.timings
    st = yield from g_steady_leader(rs, k, phase, out, progress)
    if not st:
        return
    old, rep, idx, t_term = strike(rs, st, signal.SIGTERM, "sigterm", phase, k)
    pred = new_holder_pred(rs, idx, old)
    ev, exit_t = None, None
    end = time.monotonic() + takeover_timeout(t)
    while time.monotonic() < end and (ev is None or exit_t is None):
        if exit_t is None and not rep.alive():
            exit_t = time.time()
        if ev is None:
            ev = pred()
        yield
    if exit_t is None:
        rep.kill()
    rep.reap("sigterm" if exit_t is not None else "sigterm, then kill -9 (did not exit)")
    code = rep.proc.returncode
    if not ev:
        out.append({"trial": k, "ns": rs.ns, "ok": False, "old": old, "reason": "no takeover before timeout",
                    "exit_code": code})
        rs.restart(rep, phase, k)
        progress(rs, phase, k, None)
        return
    evs = rs.watcher.since(rs.ns, idx)
    upto = evs[:evs.index(ev)]
    rel = next((e for e in upto if e["holder"] == ""), None)
    rec = {"trial": k, "ns": rs.ns, "ok": ev["acquire"] is not None, "old": old, "new": ev["holder"],
           "sigterm_t": t_term, "acquire_t": ev["acquire"], "seen_t": ev["t"],
           "handoff_s": ev["acquire"] - t_term if ev["acquire"] else None,
           "handoff_seen_s": ev["t"] - t_term,
           "released": rel is not None,
           "release_seen_t": rel["t"] if rel else None,
           "release_renew_t": rel["renew"] if rel else None,
           "release_after_sigterm_s": rel["t"] - t_term if rel else None,
           "exit_code": code, "exited_after_s": exit_t - t_term if exit_t else None,
           "transitions": ev["transitions"]}
    out.append(rec)
    rs.restart(rep, phase, k)
    progress(rs, phase, k, rec.get("handoff_s"))


def g_graceful_alternating(sets: list[ReplicaSet], n: int, phase: str, outs: dict, progress):
    for k in range(n):
        for rs in sets:
            yield from g_graceful_trial(rs, k, phase, outs[rs.impl["key"]], progress)


def lanes_of(n: int, lanes: int) -> list[range]:
    """Trial numbers 0..n-1 split into `lanes` consecutive runs, as even as possible."""
    out, start = [], 0
    for i in range(lanes):
        size = n // lanes + (1 if i < n % lanes else 0)
        out.append(range(start, start + size))
        start += size
    return out


def g_steady_window(sets: list[ReplicaSet], seconds: float, settle: float, result: dict, sampler):
    """The steady-state window on sets that no trial touches: it opens `settle` s after
    each has a leader that renewed, lasts `seconds`, and ends by reading every replica's
    memory. Stepped beside the trials, so it costs the run no time of its own."""
    yield from g_wait_leaders(sets, 120)
    yield from g_sleep(settle)
    t0 = time.time()
    log(f"steady state: counting Lease requests of {', '.join(rs.ns for rs in sets)} "
        f"for {seconds:.0f} s, while the trials run on other namespaces")
    yield from g_sleep(seconds)
    t1 = time.time()
    for rs in sets:
        if not all(r.alive() for r in rs.replicas):
            raise BenchError(f"a replica of {rs.ns} exited during the steady-state window; see {LOG_DIR}")
    result.update(t0=t0, t1=t1, memory=memory(sets))
    sampler.span("steady-state window (beside the trials)", t0, t1)
    log("steady state: window closed")


def g_wait_leaders(sets: list[ReplicaSet], timeout: float):
    ok = yield from g_wait(lambda: all(rs.steady(0) for rs in sets), timeout)
    if not ok:
        raise BenchError("no leader elected within "
                         f"{timeout:.0f} s in {[rs.ns for rs in sets if not rs.steady(0)]}; "
                         f"see {LOG_DIR}")


# ---------------------------------------------------------------------------
# Steady state: audit log and memory
# ---------------------------------------------------------------------------

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def holder_intervals(events: list[dict]) -> list[tuple]:
    """(holder, start, end) from the watch's events: a holder holds from its
    acquireTime to the next event that names someone else (by arrival time)."""
    out, cur, start = [], None, None
    for ev in events:
        h = ev["holder"] or None
        if ev["type"] == "DELETED":
            h = None
        if h != cur:
            if cur:
                out.append((cur, start, ev["t"]))
            cur, start = h, (ev["acquire"] or ev["t"]) if h else None
    if cur:
        out.append((cur, start, float("inf")))
    return out


def audit_counts(audit_log: Path, t0: float, t1: float, leases_only: bool = True) -> dict:
    """{username: {auditID: event}} for (Lease) requests received in [t0, t1]."""
    seen: dict[str, dict[str, dict]] = {}
    with open(audit_log) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            ref = e.get("objectRef") or {}
            if leases_only and ref.get("resource") != "leases":
                continue
            ts = parse_time(e.get("requestReceivedTimestamp"))
            if ts is None or ts < t0 or ts > t1:
                continue
            user = e.get("user", {}).get("username", "")
            code = (e.get("responseStatus") or {}).get("code")
            prev = seen.setdefault(user, {}).get(e["auditID"])
            if prev is None or (code is not None and prev.get("code") is None):
                seen[user][e["auditID"]] = {"verb": e.get("verb"), "t": ts, "code": code,
                                            "stage": e.get("stage"),
                                            "resource": ref.get("resource") or e.get("requestURI")}
    return seen


def audit_totals(audit_log: Path, namespaces: dict, t0: float, t1: float) -> dict:
    """Every request by the replicas over [t0, t1], {impl: {"resource verb code": n}}."""
    out = {}
    for user, reqs in audit_counts(audit_log, t0, t1, leases_only=False).items():
        parts = user.split(":")
        ns = parts[2] if len(parts) == 4 else ""
        impl = namespaces.get(ns)
        if impl is None:
            continue
        d = out.setdefault(impl, {})
        for q in reqs.values():
            k = f"{q['resource']} {q['verb']} {q['code']}"
            d[k] = d.get(k, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def steady_state(sets: list[ReplicaSet], audit_log: Path, t0: float, t1: float) -> dict:
    time.sleep(1.0)  # let the last audit events reach the file
    seen = audit_counts(audit_log, t0, t1)
    everything = audit_counts(audit_log, t0, t1, leases_only=False)
    window = t1 - t0
    res = {}
    for rs in sets:
        ivs = holder_intervals(rs.watcher.all(rs.ns))

        def lead_time(ident):
            return sum(max(0.0, min(e, t1) - max(s, t0)) for h, s, e in ivs if h == ident)

        def holder_at(ts):
            for h, s, e in ivs:
                if s <= ts < e:
                    return h
            return None
        transitions_in_window = sum(1 for h, s, e in ivs if t0 < s < t1)
        per_replica, role_counts, role_time = {}, {"leader": {}, "standby": {}}, {"leader": 0.0, "standby": 0.0}
        write_stats = {"count": 0, "allowed": 0, "intervals": []}
        for r in rs.replicas:
            user = f"system:serviceaccount:{rs.ns}:replica-{r.slot}"
            reqs = seen.get(user, {}).values()
            lt = lead_time(r.identity)
            role_time["leader"] += lt
            role_time["standby"] += window - lt
            by_verb, codes, writes = {}, {}, []
            for q in reqs:
                by_verb[q["verb"]] = by_verb.get(q["verb"], 0) + 1
                codes[str(q["code"])] = codes.get(str(q["code"]), 0) + 1
                role = "leader" if holder_at(q["t"]) == r.identity else "standby"
                role_counts[role][q["verb"]] = role_counts[role].get(q["verb"], 0) + 1
                if role == "leader" and q["verb"] in ("create", "update", "patch"):
                    writes.append(q["t"])
            if lt > 0:
                # At most one write per retry period over lt seconds is floor(lt / RP) + 1
                # writes: the window's two edges can each catch one.
                write_stats["count"] += len(writes)
                write_stats["allowed"] += math.floor(lt / rs.timings["retry_period_s"]) + 1
                writes.sort()
                write_stats["intervals"] += [b - a for a, b in zip(writes, writes[1:])]
            total = sum(by_verb.values())
            other = {}
            for q in everything.get(user, {}).values():
                if q["resource"] != "leases":
                    k = f"{q['resource']} {q['verb']}"
                    other[k] = other.get(k, 0) + 1
            per_replica[r.identity] = {
                "other_requests": other,
                "service_account": user, "led_s": round(lt, 3),
                "role": "leader" if lt > window / 2 else "standby",
                "requests": total, "requests_per_s": total / window,
                "by_verb": by_verb, "by_code": codes}
        rate = {role: ({v: role_counts[role].get(v, 0) / role_time[role] for v in VERBS}
                       if role_time[role] > 0 else {}) for role in role_counts}
        leader_rps = sum(rate["leader"].values())
        standby_rps = sum(rate["standby"].values())
        standbys = [p["requests_per_s"] for p in per_replica.values() if p["role"] == "standby"]
        res[rs.impl["key"]] = {
            "window_s": window, "transitions_in_window": transitions_in_window,
            "standby_requests_per_s": standby_rps,
            "standby_requests_per_s_max": max(standbys) if standbys else None,
            "leader_requests_per_s": leader_rps,
            "leader_reads_per_s": rate["leader"].get("get", 0) + rate["leader"].get("list", 0),
            "leader_writes_per_s": sum(rate["leader"].get(v, 0) for v in ("create", "update", "patch")),
            "leader_writes_in_window": write_stats["count"],
            "leader_writes_allowed": write_stats["allowed"],
            "leader_write_interval_s": {"median": statistics.median(write_stats["intervals"]),
                                        "min": min(write_stats["intervals"]),
                                        "max": max(write_stats["intervals"])}
            if write_stats["intervals"] else None,
            "by_verb_per_s": {"leader": rate["leader"], "standby_mean": rate["standby"]},
            "role_seconds": role_time, "per_replica": per_replica}
    return res


def memory(sets: list[ReplicaSet]) -> dict:
    res = {}
    for rs in sets:
        holder = (rs.watcher.latest(rs.ns) or {}).get("holder")
        per = {}
        for r in rs.replicas:
            per[r.identity] = {"rss_mib": r.rss_mib(), "role": "leader" if r.identity == holder else "standby",
                               "uptime_s": time.time() - r.started}
        vals = [p["rss_mib"] for p in per.values() if p["rss_mib"] is not None]
        res[rs.impl["key"]] = {"rss_mib": statistics.mean(vals) if vals else None,
                               "per_replica": per}
    return res


# ---------------------------------------------------------------------------
# First leadership on an empty namespace
# ---------------------------------------------------------------------------

def first_leadership(cp, watcher, targets: dict, kubeconfigs, timings, runs) -> dict:
    """targets: {result key: (impl, namespace)}; runs alternate between them."""
    res = {k: [] for k in targets}
    for i in range(runs):
        for key, (impl, ns) in targets.items():
            status, _ = cp.request("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}")
            if status not in (200, 404):
                raise BenchError(f"delete lease in {ns}: {status}")
            ok = False
            for _ in range(200):
                st, _ = cp.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}")
                if st == 404:
                    ok = True
                    break
                time.sleep(0.05)
            if not ok:
                raise BenchError(f"the Lease in {ns} would not go away")
            time.sleep(0.5)
            rep = Replica(impl, ns, 0, kubeconfigs[(ns, 0)], timings)
            idx = watcher.count(ns)
            t_start = rep.start()
            ev = None
            end = time.monotonic() + 60
            while time.monotonic() < end and ev is None:
                ev = next((e for e in watcher.since(ns, idx) if e["holder"] == rep.identity), None)
                time.sleep(POLL)
            rep.stop()
            if ev is None:
                res[key].append({"run": i, "ok": False})
                log(f"first leadership {key} run {i + 1}: no acquisition within 60 s")
                continue
            rec = {"run": i, "ok": True, "start_t": t_start, "acquire_t": ev["acquire"],
                   "first_leadership_s": ev["acquire"] - t_start, "seen_s": ev["t"] - t_start}
            res[key].append(rec)
            log(f"first leadership {impl['key']:9s} run {i + 1}/{runs}: {rec['first_leadership_s'] * 1000:.0f} ms "
                f"(seen by the watch at {rec['seen_s'] * 1000:.0f} ms)")
    return res


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

def pct(xs: list[float], p: float):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * p / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)



def ok_values(trials: list[dict], field: str) -> list:
    """`field` of every trial that succeeded and measured it."""
    return [t[field] for t in trials if t.get("ok") and t.get(field) is not None]


def trial_summaries(crash: list[dict], graceful: list[dict]) -> dict:
    """The crash and graceful figures of one replica set, as results.json keeps them."""
    def failed(trials):
        return sum(1 for t in trials if not t.get("ok"))
    return {
        "crash_failover_s": summary(ok_values(crash, "failover_s"), failed(crash)),
        "crash_failover_seen_s": summary(ok_values(crash, "failover_seen_s")),
        "graceful_handoff_s": summary(ok_values(graceful, "handoff_s"), failed(graceful)),
        "graceful_handoff_seen_s": summary(ok_values(graceful, "handoff_seen_s")),
    }

def summary(xs: list[float], failed: int = 0) -> dict:
    return {"p50": pct(xs, 50), "p90": pct(xs, 90), "max": max(xs) if xs else None,
            "min": min(xs) if xs else None, "mean": statistics.mean(xs) if xs else None,
            "trials": len(xs), "failed_trials": failed}


# ---------------------------------------------------------------------------
# Machine and provenance
# ---------------------------------------------------------------------------

def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                               timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rustc = None
    return {"hostname": platform.node(), "kernel": platform.release(), "platform": platform.platform(),
            "cpu_model": cpu, "cpus": os.cpu_count(), "memory_gib": mem,
            "python": platform.python_version(), "go": go_env("GOVERSION")[0] or None,
            "rustc": rustc}


def git_info() -> dict:
    def git(*a):
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", ".", ":!bench",
                             ":!BENCHMARKS.md"], capture_output=True, text=True).stdout
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD"), "commit_short": git("rev-parse", "--short", "HEAD"),
            "commit_subject": git("log", "-1", "--format=%s"), "dirty_paths": dirty,
            "dirty": bool(dirty)}


BUILD_INPUTS = ("Cargo.toml", "Cargo.lock", "build.rs", "src/")


def source_snapshot() -> dict:
    """The git commit, and a hash of what `make build` compiles (src/, Cargo.toml,
    Cargo.lock), so that a binary built while others commit is still identified."""
    h = hashlib.sha256()
    files = [REPO / "Cargo.toml", REPO / "Cargo.lock", REPO / "build.rs"]
    files += sorted(p for p in (REPO / "src").rglob("*") if p.is_file())
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    g = git_info()
    g["build_inputs_sha256"] = h.hexdigest()
    g["build_inputs_dirty"] = [p for p in g["dirty_paths"]
                               if p.startswith("src/") or p in BUILD_INPUTS]
    return g


def go_env(*names: str) -> list[str]:
    """`go env NAME...` with the local toolchain, one value per name ("" if go fails)."""
    try:
        out = subprocess.run(["go", "env", *names], capture_output=True, text=True, timeout=30,
                             env={**os.environ, "GOTOOLCHAIN": "local"}).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        out = []
    return [v.strip() for v in out] + [""] * (len(names) - len(out))


def cache_state() -> str:
    """Which build caches exist at the start, for the report: a fresh machine has none."""
    def has(p: str | Path) -> bool:
        try:
            return bool(p) and Path(p).is_dir() and any(Path(p).iterdir())
        except OSError:
            return False

    gomodcache, gocache = go_env("GOMODCACHE", "GOCACHE")
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    found = {
        "target/release": has(REPO / "target" / "release"),
        "cargo registry": has(cargo_home / "registry"),
        "Go module cache": has(gomodcache),
        "Go build cache": has(gocache),
        "control plane": has(cache_root() / "control-plane"),
        "client-go-ref": has(cache_root() / "client-go-ref"),
    }
    present = [k for k, v in found.items() if v]
    return ("none (a fresh machine)" if not present
            else "present: " + ", ".join(present) + "; absent: "
            + (", ".join(k for k, v in found.items() if not v) or "none"))


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# Timeline sample for the picture
# ---------------------------------------------------------------------------

def timeline(events: list[dict], markers: list[dict], trials: list[dict], kind: str,
             replicas: list[str], count: int = 2) -> dict | None:
    good = [t for t in trials if t.get("ok")]
    if not good:
        return None
    # The `count` consecutive trials closest to the median, so that the picture is typical.
    key = "failover_s" if kind == "crash" else "handoff_s"
    med = statistics.median(t[key] for t in good)
    starts = range(max(1, len(good) - count + 1))
    best = min(starts, key=lambda i: sum(abs(t[key] - med) for t in good[i:i + count]))
    ok = good[best:best + count]
    if kind == "crash":
        t0 = min(t["kill_t"] for t in ok) - 3.0
        t1 = max(t["acquire_t"] for t in ok) + 3.0
    else:
        t0 = min(t["sigterm_t"] for t in ok) - 2.0
        t1 = max(t["acquire_t"] for t in ok) + 2.0
    held = {r: [] for r in replicas}
    # Intervals: from acquireTime to the last renewTime (crash) or the release.
    cur, start, last = None, None, None
    for ev in events + [None]:
        h = None if ev is None or ev["type"] == "DELETED" else (ev["holder"] or None)
        if ev is not None and h == cur and h:
            last = ev["renew"] or last
            continue
        if cur:
            if ev is not None and h is None and ev["type"] != "DELETED":  # released
                end, how = (ev["renew"] if ev["renew"] and ev["renew"] > (last or 0) else ev["t"]), "released"
            elif ev is None:
                end, how = last, "running"
            else:
                end, how = last, "last renewal"
            held.setdefault(cur, []).append({"from": start - t0, "to": end - t0, "end": how})
        cur = h
        if h:
            start = ev["acquire"] or ev["t"]
            last = ev["renew"] or start
    for r in held:
        held[r] = [iv for iv in held[r] if iv["to"] > 0 and iv["from"] < t1 - t0]
    marks = [{"t": m["t"] - t0, "kind": m["kind"], "replica": m["replica"], "trial": m.get("trial")}
             for m in markers if t0 <= m["t"] <= t1 and m["kind"] in ("kill", "sigterm", "restart")]
    gaps = []
    for t in ok:
        if kind == "crash":
            gaps.append({"from": t["last_renew_t"] - t0, "to": t["acquire_t"] - t0,
                         "length_s": t["failover_s"], "old": t["old"], "new": t["new"],
                         "trial": t["trial"], "label": "last renewal to new acquireTime"})
        else:
            rel = t["release_renew_t"]
            start_gap = rel if rel and rel >= t["sigterm_t"] else (t["release_seen_t"] or t["sigterm_t"])
            gaps.append({"from": start_gap - t0, "to": t["acquire_t"] - t0,
                         "sigterm": t["sigterm_t"] - t0,
                         "length_s": t["acquire_t"] - start_gap, "handoff_s": t["handoff_s"],
                         "old": t["old"], "new": t["new"], "trial": t["trial"],
                         "label": "release to new acquireTime; handoff_s is SIGTERM to new acquireTime"})
    return {"t0_epoch": t0, "length_s": t1 - t0, "replicas": replicas, "held": held,
            "markers": marks, "gaps": gaps, "trials": [t["trial"] + 1 for t in ok],
            "chosen_as": f"the {len(ok)} consecutive trials closest to the median ({med:.6f} s)"}


# ---------------------------------------------------------------------------
# At scale: one Lease, N candidates
# ---------------------------------------------------------------------------

SCALE_NS = (3, 10, 30, 100)


def g_scale_window(rs: ReplicaSet, cp: ControlPlane, seconds: float, settle: float, out: dict):
    """A steady-state window on `rs` alone: kube-apiserver's own CPU seconds over it (from
    /metrics) and every replica's memory at its end. Nothing else runs on the control plane
    meanwhile but the driver's watch."""
    yield from g_wait_leaders([rs], 180)
    yield from g_sleep(settle)
    cpu0, t0 = cp.cpu_seconds(), time.time()
    log(f"scale: steady window on {rs.ns} ({len(rs.replicas)} replicas) for {seconds:.0f} s, alone")
    yield from g_sleep(seconds)
    cpu1, t1 = cp.cpu_seconds(), time.time()
    if not all(r.alive() for r in rs.replicas):
        raise BenchError(f"a replica of {rs.ns} exited during the steady-state window; see {LOG_DIR}")
    out.update(t0=t0, t1=t1, cpu_s=cpu1 - cpu0, memory=memory([rs])[rs.impl["key"]])


def takeover_requests(audit_log: Path, rs: ReplicaSet, trials: list[dict], kind: str) -> list[dict]:
    """For each good trial, every request (any resource) by the set's replicas but the old
    leader's slot, received from the moment the takeover could begin (crash: the old
    holder's last renewal + the lease duration; graceful: SIGTERM) to one retry period
    after the new holder's acquireTime. The old leader's slot is left out: its process is
    dead or exiting, and the restarted one's start-up requests are not the takeover's. The new
    holder's requests count up to half a retry period after its acquireTime: the winning write
    and what comes with it, not its first renewal."""
    t = rs.timings
    good = [x for x in trials if x.get("ok")]
    if not good:
        return []

    def span(x):
        start = x["last_renew_t"] + t["lease_duration_s"] if kind == "crash" else x["sigterm_t"]
        return start, x["acquire_t"] + t["retry_period_s"]
    spans = [span(x) for x in good]
    seen = audit_counts(audit_log, min(a for a, _ in spans), max(b for _, b in spans), leases_only=False)
    out = []
    for x, (a, b) in zip(good, spans):
        skip = f"system:serviceaccount:{rs.ns}:replica-{rs.by_id[x['old']].slot}"
        winner = f"system:serviceaccount:{rs.ns}:replica-{rs.by_id[x['new']].slot}"
        by = {}
        for user, reqs in seen.items():
            if not user.startswith(f"system:serviceaccount:{rs.ns}:") or user == skip:
                continue
            # The new holder's renewals, one retry period on, are the leader's steady work.
            end = x["acquire_t"] + t["retry_period_s"] / 2 if user == winner else b
            for q in reqs.values():
                if a <= q["t"] <= end:
                    k = f"{q['resource']} {q['verb']} {q['code']}"
                    by[k] = by.get(k, 0) + 1
        out.append({"trial": x["trial"], "from_t": a, "to_t": b, "requests": sum(by.values()),
                    "by_request": dict(sorted(by.items()))})
    return out


def scale_part(cp, watcher, work: Path, impls: dict, timings: dict, seed: int, audit_log: Path,
               args, markers: list, sampler, progress, sets: list, save) -> dict:
    """For each N: both implementations' sets of N replicas (one Lease each) started together;
    crash trials on both at once, then graceful trials alternating; then the client-go set is
    stopped and the k8sensus set (running since the start, its standbys' resyncs spread by the
    trials) gets a steady-state window alone; then the k8sensus set is stopped and the client-go
    set restarted for its own window, alone. After each N, `save` gets the section so far
    (its "ns" the N done, "complete" false until the last), so that a run cut short keeps them."""
    t_start = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    names = {(k, n): f"bench-{seed % 100000}-n{n}-{impls[k]['key']}" for k in impls for n in args.scale}
    kubeconfigs = setup_namespaces(cp, work, sorted(names.values()), {v: n for (k, n), v in names.items()})
    log(f"scale: namespaces ready for N = {', '.join(map(str, args.scale))}")
    res = {k: {} for k in impls}
    done: list[int] = []

    def section(res, done, complete):
        return scale_section(res, done, complete, started_at=started_at, t_start=t_start,
                             timings=timings, args=args)
    for n in args.scale:
        t_n = time.monotonic()
        sampler.phase(f"scale N={n}: trials")
        rsets = {k: ReplicaSet(impls[k], names[(k, n)], kubeconfigs, timings, watcher, markers, n)
                 for k in impls}
        sets += rsets.values()
        for rs in rsets.values():
            rs.start_all()
        log(f"scale N={n}: started {n} replicas of each on one Lease each; waiting for leaders")
        drive(g_wait_leaders(list(rsets.values()), 180))
        crash = {impls[k]["key"]: [] for k in impls}
        graceful = {impls[k]["key"]: [] for k in impls}
        log(f"scale N={n}: crash failover, {args.scale_crash_trials} trials each, both at once")
        run_all(*[g_crash_trials(rs, range(args.scale_crash_trials), f"N={n} crash",
                                 crash[rs.impl["key"]], progress) for rs in rsets.values()])
        log(f"scale N={n}: graceful handoff, {args.scale_graceful_trials} trials each, alternating")
        drive(g_graceful_alternating(list(rsets.values()), args.scale_graceful_trials, f"N={n} graceful",
                                     graceful, progress))
        windows = {}
        order = sorted(impls, key=lambda k: k != "k8sensus")  # k8sensus first: its set has run longest
        for k in impls:
            if k != order[0]:
                rsets[k].stop_all()
        for i, k in enumerate(order):
            rs = rsets[k]
            if i > 0:
                for r in rs.replicas:
                    rs.mark("start", r.identity, r.start())
            sampler.phase(f"scale N={n}: steady window {impls[k]['key']}")
            windows[k] = {}
            drive(g_scale_window(rs, cp, args.scale_steady_seconds, 15.0, windows[k]))
            rs.stop_all()
        sampler.phase("")
        for k in impls:
            key, rs, w = impls[k]["key"], rsets[k], windows[k]
            load = steady_state([rs], audit_log, w["t0"], w["t1"])[key]
            window = w["t1"] - w["t0"]
            standby_total = load["standby_requests_per_s"] * load["role_seconds"]["standby"] / window
            tk_crash = takeover_requests(audit_log, rs, crash[key], "crash")
            tk_grace = takeover_requests(audit_log, rs, graceful[key], "graceful")
            counts = [x["requests"] for x in tk_crash]
            counts_g = [x["requests"] for x in tk_grace]

            rss = [p["rss_mib"] for p in w["memory"]["per_replica"].values() if p["rss_mib"] is not None]
            res[k][str(n)] = {
                "replicas": n,
                **trial_summaries(crash[key], graceful[key]),
                "standby_requests_per_s": load["standby_requests_per_s"],
                "standby_requests_per_s_max": load["standby_requests_per_s_max"],
                "all_standbys_requests_per_s": standby_total,
                "leader_requests_per_s": load["leader_requests_per_s"],
                "takeover_requests": statistics.median(counts) if counts else None,
                "takeover_requests_max": max(counts) if counts else None,
                "takeover_requests_graceful": statistics.median(counts_g) if counts_g else None,
                "takeover_requests_graceful_max": max(counts_g) if counts_g else None,
                "apiserver_cpu_s_per_min": w["cpu_s"] / window * 60,
                "apiserver_cpu_s": w["cpu_s"],
                "window_s": window,
                "transitions_in_window": load["transitions_in_window"],
                "rss_mib": statistics.mean(rss) if rss else None,
                "rss_mib_max": max(rss) if rss else None,
                "raw": {"crash": crash[key], "graceful": graceful[key], "takeovers_crash": tk_crash,
                        "takeovers_graceful": tk_grace,
                        "window": {"t0": w["t0"], "t1": w["t1"]},
                        "requests_by_replica": {r: {"role": p["role"], "requests": p["requests"],
                                                    "by_verb": p["by_verb"]}
                                                for r, p in load["per_replica"].items()},
                        "rss_per_replica": {r: p["rss_mib"] for r, p in w["memory"]["per_replica"].items()}},
            }
            S = res[k][str(n)]
            log(f"scale N={n} {key:9s}: crash p90 {fs_log(S['crash_failover_s']['p90'])}, graceful p50 "
                f"{fs_log(S['graceful_handoff_s']['p50'])}, standby {S['standby_requests_per_s']:.4f} req/s "
                f"(all {standby_total:.3f}), takeover {S['takeover_requests']} requests, apiserver "
                f"{S['apiserver_cpu_s_per_min']:.2f} CPU s/min, RSS {S['rss_mib']:.1f} MiB")
        log(f"scale N={n}: done in {elapsed(time.monotonic() - t_n)}")
        done.append(n)
        save(section(res, done, done == list(args.scale)))
    return section(res, done, True)


def scale_section(res, done, complete, *, started_at, t_start, timings, args) -> dict:
    t = timings
    return {
        **res,
        "complete": complete,
        "started_at": started_at.isoformat(timespec="seconds"),
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t_start, 1),
        "ns": list(done),
        "timings": t,
        "crash_trials": args.scale_crash_trials,
        "graceful_trials": args.scale_graceful_trials,
        "steady_seconds": args.scale_steady_seconds,
        "method": {
            "sets": "for each N, one set of N replicas per implementation, each on its own Lease and "
                    "namespace, one ServiceAccount per replica",
            "alongside": "the crash trials of both implementations run at the same time (two Leases); the "
                         "graceful trials run one at a time, alternating, both sets running; each steady-"
                         "state window runs with only that one set on the control plane (the other "
                         "implementation's set stopped), k8sensus first (its set running since the "
                         "trials), then client-go (its set restarted)",
            "crash_failover_s": "as in the 3-replica figures: old holder's last renewTime to the new "
                                "holder's acquireTime",
            "graceful_handoff_s": "SIGTERM to the new holder's acquireTime",
            "standby_requests_per_s": "requests made while standing by / time spent standing by, i.e. "
                                      "the mean per standby, over the steady-state window (audit log)",
            "all_standbys_requests_per_s": "every request made by standbys in the window / the window",
            "takeover_requests": "median over the crash trials of the requests (any resource, any "
                                 "outcome) by every replica but the old leader's slot, received from "
                                 "the old holder's last renewal + the lease duration to the new "
                                 "acquireTime + one retry period (for the new holder: + half a retry "
                                 "period, so that its first renewal is not counted); *_graceful: the "
                                 "same from SIGTERM",
            "apiserver_cpu_s_per_min": "kube-apiserver's process_cpu_seconds_total (its /metrics) over "
                                       "the steady-state window, per minute; etcd not included",
            "rss_mib": "VmRSS at the end of the steady-state window, mean over the N replicas",
        },
    }


def fs_log(v) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f} ms" if v < 1 else f"{v:.3f} s"


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def write_results(out: Path, results: dict) -> None:
    """Writes the results file, keeping the "cluster" section of the one there: bench/cluster.py
    writes that section alone, with its own command, times and source."""
    if "cluster" not in results and out.exists():
        kept = json.loads(out.read_text()).get("cluster")
        if kept:
            results["cluster"] = kept
    out.write_text(json.dumps(results, indent=1) + "\n")


def one_run_at_a_time():
    """The benchmark lock (bench/.run.lock), held as long as the returned file is open; None
    (after saying why) if another run holds it: a second run would wipe this one's logs and
    skew its timings. bench/cluster.py takes the same lock."""
    lock = open(BENCH / ".run.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        log(f"error: another benchmark run is going on ({lock.read().strip() or 'pid unknown'}); "
            "two at once would overwrite each other's logs and skew each other's timings")
        return None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()} ({Path(sys.argv[0]).name}), started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    lock.flush()
    return lock


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crash-trials", type=int, default=20,
                    help="crash trials per implementation, shared between its lanes")
    ap.add_argument("--lanes", type=int, default=2,
                    help="replica sets per implementation that run crash trials side by side, each "
                         "on its own Lease (default 2); the first one then runs the graceful trials")
    ap.add_argument("--graceful-trials", type=int, default=20)
    ap.add_argument("--short-crash-trials", type=int, default=0,
                    help="also crash trials with 4s/3s/0.5s timings (default 0: skipped, to keep "
                         "a fresh machine's run within 30 minutes)")
    ap.add_argument("--short-graceful-trials", type=int, default=0,
                    help="also graceful trials with 4s/3s/0.5s timings (default 0: skipped)")
    ap.add_argument("--steady-seconds", type=float, default=360.0,
                    help="steady-state window; a k8sensus standby re-reads and re-watches every "
                         "120 to 180 s, so the window must hold at least two of those")
    ap.add_argument("--first-runs", type=int, default=5)
    ap.add_argument("--budget-minutes", type=float, default=28.0,
                    help="skip the short-timing graceful trials if they would end the run past this")
    ap.add_argument("--out", default=str(BENCH / "results.json"))
    ap.add_argument("--no-render", action="store_true", help="do not run bench/render.py at the end")
    ap.add_argument("--skip-build", action="store_true",
                    help="use the existing target/release/k8sensus instead of running `make build`")
    ap.add_argument("--seed", type=int, default=None)
    sc = ap.add_argument_group("at scale", "one Lease with N candidates, for each N (`make bench-scale` "
                               "runs this part alone, keeping the rest of the results file)")
    sc.add_argument("--scale", default=",".join(map(str, SCALE_NS)),
                    help="the numbers of candidates, comma-separated (default %(default)s)")
    sc.add_argument("--no-scale", action="store_true", help="skip the scale part")
    sc.add_argument("--scale-only", action="store_true",
                    help="run only the scale part and merge its section into --out")
    sc.add_argument("--scale-crash-trials", type=int, default=5,
                    help="crash trials per implementation and N (default 5: the whole run must fit "
                         "in 60 minutes on a fresh 2-core machine)")
    sc.add_argument("--scale-graceful-trials", type=int, default=5)
    sc.add_argument("--scale-steady-seconds", type=float, default=120.0,
                    help="each steady-state window at scale (one per implementation and N)")
    args = ap.parse_args()
    try:
        args.scale = [] if args.no_scale else [int(x) for x in args.scale.split(",") if x.strip()]
    except ValueError:
        ap.error("--scale takes numbers separated by commas")
    if args.scale_only and not args.scale:
        ap.error("--scale-only with no N to run")
    if any(n < 2 for n in args.scale):
        ap.error("--scale: every N must be at least 2 (a takeover needs a standby)")
    if args.lanes < 1:
        ap.error("--lanes must be at least 1")
    if args.steady_seconds < 60:
        log("note: --steady-seconds below 60 does not meet the benchmark's definition")
    command = shlex.join(["python3", os.path.relpath(sys.argv[0], REPO) if not os.path.isabs(sys.argv[0])
                          else sys.argv[0], *sys.argv[1:]])
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    random.seed(seed)

    def on_term(_s, _f):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    lock = one_run_at_a_time()
    if lock is None:
        return 1

    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="k8sensus-bench-"))
    audit_log = work / "audit.log"  # private to this run; copied to LOG_DIR at the end
    started_at = dt.datetime.now(dt.timezone.utc)
    load_at_start = os.getloadavg()
    cp = None
    sets: list[ReplicaSet] = []
    watcher = None
    sampler = LoadSampler()
    sampler.start()
    try:
        log(f"work dir {work}, logs in {LOG_DIR}, seed {seed}")
        before = source_snapshot()
        caches = cache_state()
        t_build0 = time.monotonic()
        if args.skip_build:
            if not os.access(RUST_BIN, os.X_OK):
                raise BenchError(f"--skip-build: no {RUST_BIN}; run `make build`")
            log(f"k8sensus: using the existing {RUST_BIN} (--skip-build)")
            rust_bin = RUST_BIN
            source = {**before, "skip_build": True, "changed_during_build": None}
        else:
            rust_bin = build_rust()
            after = source_snapshot()
            changed = after["build_inputs_sha256"] != before["build_inputs_sha256"]
            if changed:
                log("warning: src/, Cargo.toml or Cargo.lock changed while `make build` ran; "
                    "the binary may match neither snapshot (recorded in results.json)")
            source = {**after, "skip_build": False, "changed_during_build": changed,
                      "commit_before_build": before["commit"]}
        log(f"k8sensus source: commit {source['commit_short']}"
            + (f", uncommitted changes in {', '.join(source['build_inputs_dirty'])}"
               if source["build_inputs_dirty"] else ", src/ and Cargo files as committed"))
        t_built_rust = time.monotonic()
        go_bin, go_cached = build_client_go_ref()
        t_built_go = time.monotonic()
        impls = {
            "k8sensus": {"key": "k8sensus", "bin": rust_bin, "extra_args": rust_extra_args(rust_bin),
                         "env": {"LOG_FORMAT": "json"}},
            "client_go": {"key": "client-go", "bin": go_bin, "extra_args": [], "env": {}},
        }
        bin_dir, cp_build = audit_wrapper(work, audit_log)
        t_built = time.monotonic()
        log("starting etcd + kube-apiserver (with an audit log of Lease requests)")
        cp = ControlPlane(work)
        cp.start(bin_dir)
        log(f"control plane ready at {cp.server}")
        watcher = LeaseWatcher(cp)
        watcher.start()
        if not watcher.ready.wait(30):
            raise BenchError(f"the driver's watch did not start: {watcher.errors[-3:]}")

        normal = {"lease_duration_s": 15.0, "renew_deadline_s": 10.0, "retry_period_s": 2.0}
        short = {"lease_duration_s": 4.0, "renew_deadline_s": 3.0, "retry_period_s": 0.5}
        markers: list[dict] = []

        def progress(rs, phase, k, value):
            v = "FAILED" if value is None else f"{value * 1000:.0f} ms" if value < 1 else f"{value:.3f} s"
            log(f"{phase:15s} {rs.impl['key']:9s} trial {k + 1:2d}: {v}")

        if args.scale_only:
            # The scale part alone: every other key of the results file is kept as it is.
            out = Path(args.out)
            results = json.loads(out.read_text()) if out.exists() else {}
        else:
            # The run's seed in every namespace: ServiceAccount names in the audit log then belong to
            # this run alone, even if another run writes to the same audit log.
            lane_names = [f"lane{chr(ord('a') + i)}" for i in range(args.lanes)]
            ns = {(k, p): f"bench-{seed % 100000}-{p}-{impls[k]['key']}" for k in impls
                  for p in ("steady", *lane_names, "short", "first")}
            kubeconfigs = setup_namespaces(cp, work, sorted(ns.values()))
            log(f"namespaces ready: {', '.join(sorted(ns.values()))}")
            # -- 15s/10s/2s: steady state and memory beside crash, then graceful ----
            steady_sets = [ReplicaSet(impls[k], ns[(k, "steady")], kubeconfigs, normal, watcher, markers)
                           for k in impls]
            lanes = {k: [ReplicaSet(impls[k], ns[(k, lane)], kubeconfigs, normal, watcher, markers)
                         for lane in lane_names] for k in impls}
            lane_sets = [rs for k in impls for rs in lanes[k]]
            sets += steady_sets + lane_sets
            for rs in steady_sets + lane_sets:
                rs.start_all()
            log(f"started {len(steady_sets + lane_sets)} sets of 3 replicas (15s/10s/2s): per "
                f"implementation one for the steady state and {args.lanes} for the trials; waiting for leaders")
            drive(g_wait_leaders(steady_sets + lane_sets, 120))
            for rs in steady_sets + lane_sets:
                log(f"{rs.ns}: leader {watcher.latest(rs.ns)['holder']}")
            window: dict = {}
            steady_gen = g_steady_window(steady_sets, args.steady_seconds, 15.0, window, sampler)

            crash = {impls[k]["key"]: [] for k in impls}
            graceful = {impls[k]["key"]: [] for k in impls}
            sampler.phase("crash trials")
            log(f"crash failover (kill -9 of the leader), {args.crash_trials} trials each, "
                f"{args.lanes} lane(s) per implementation, all at once")
            run_all(*[g_crash_trials(rs, trials, "crash 15s", crash[impls[k]["key"]], progress)
                      for k in impls for rs, trials in zip(lanes[k], lanes_of(args.crash_trials, args.lanes))],
                    beside=[steady_gen])
            for k in impls:
                crash[impls[k]["key"]].sort(key=lambda t: t["trial"])
                for rs in lanes[k][1:]:
                    rs.stop_all()
            sampler.phase("graceful trials")
            log(f"graceful handoff (SIGTERM to the leader), {args.graceful_trials} trials each, alternating")
            run_all(g_graceful_alternating([lanes[k][0] for k in impls], args.graceful_trials,
                                           "graceful 15s", graceful, progress), beside=[steady_gen])
            for k in impls:
                lanes[k][0].stop_all()
            if not window:
                sampler.phase("rest of the steady-state window")
                log("waiting for the steady-state window to close")
            drive(steady_gen)
            sampler.phase("")
            for rs in steady_sets:
                rs.stop_all()
            mem = window["memory"]
            load = steady_state(steady_sets, audit_log, window["t0"], window["t1"])
            for rs in steady_sets:
                L, M = load[rs.impl["key"]], mem[rs.impl["key"]]
                log(f"{rs.impl['key']:9s}: standby {L['standby_requests_per_s']:.3f} req/s, leader "
                    f"{L['leader_requests_per_s']:.3f} req/s ({L['leader_reads_per_s']:.3f} reads/s), "
                    f"RSS {M['rss_mib']:.1f} MiB")

            # -- 4s/3s/0.5s ---------------------------------------------------------
            short_crash = {impls[k]["key"]: [] for k in impls}
            short_graceful = {impls[k]["key"]: [] for k in impls}
            short_sets = []
            if args.short_crash_trials or args.short_graceful_trials:
                short_sets = [ReplicaSet(impls[k], ns[(k, "short")], kubeconfigs, short, watcher, markers)
                              for k in impls]
                sets += short_sets
                sampler.phase("")
                for rs in short_sets:
                    rs.start_all()
                log("started 3 replicas of each with short timings (4s/3s/0.5s)")
                drive(g_wait_leaders(short_sets, 60))
                if args.short_crash_trials:
                    sampler.phase("crash trials, short timings")
                    log(f"crash failover, short timings, {args.short_crash_trials} trials each, both at once")
                    run_all(*[g_crash_trials(rs, range(args.short_crash_trials), "crash 4s", short_crash[rs.impl["key"]],
                                             progress) for rs in short_sets])
                if args.short_graceful_trials:
                    per_trial = 2 * (settle_time(short) + short["retry_period_s"] + 1.5)
                    projected = (time.monotonic() - T0) + args.short_graceful_trials * per_trial + 60
                    if projected > args.budget_minutes * 60:
                        log(f"skipping short-timing graceful trials: projected end {projected / 60:.1f} min "
                            f"> budget {args.budget_minutes:.0f} min")
                        args.short_graceful_trials = 0
                    else:
                        sampler.phase("graceful trials, short timings")
                        log(f"graceful handoff, short timings, {args.short_graceful_trials} trials each, alternating")
                        drive(g_graceful_alternating(short_sets, args.short_graceful_trials, "graceful 4s",
                                                     short_graceful, progress))
                sampler.phase("")
                for rs in short_sets:
                    rs.stop_all()

            # -- first leadership ---------------------------------------------------
            sampler.phase("first leadership")
            log(f"time to first leadership on an empty namespace, {args.first_runs} runs each")
            first = first_leadership(cp, watcher, {k: (impls[k], ns[(k, "first")]) for k in impls},
                                     kubeconfigs, normal, args.first_runs)
            finished_at = dt.datetime.now(dt.timezone.utc)

            # -- results ------------------------------------------------------------
            results = {
                "command": command,
                "generated_at": finished_at.isoformat(timespec="seconds"),
                "started_at": started_at.isoformat(timespec="seconds"),
                "duration_s": round(time.monotonic() - T0, 1),
                "build": {
                    "k8sensus": {"seconds": round(t_built_rust - t_build0, 1),
                                 "cached": bool(args.skip_build)},
                    "client_go_ref": {"seconds": round(t_built_go - t_built_rust, 1), "cached": go_cached},
                    "control_plane": cp_build,
                    "measuring_s": round(time.monotonic() - t_built, 1),
                    "caches": caches,
                },
                "seed": seed,
                "machine": {**machine_info(), "loadavg_at_start": [round(x, 2) for x in load_at_start],
                            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
                            "load_by_phase": sampler.summary()},
                "source": {**source, "k8sensus_binary_sha256": sha256(rust_bin),
                           "client_go_ref_binary_sha256": sha256(go_bin),
                           "client_go_version": "v0.33.13",
                           "kubernetes_version": cp.state.get("kubernetes_version"), "etcd_version": "v3.5.21"},
                "timings": normal,
                "short_timings": short,
                "method": {
                    "crash_failover_s": "kill -9 of the leader; from the old holder's last renewTime seen by "
                                        "the driver's watch to the new holder's acquireTime (both written by "
                                        "the replicas, one host, one wall clock)",
                    "crash_failover_seen_s": "same start; end when the driver's watch received the new holder",
                    "graceful_handoff_s": "from the driver sending SIGTERM to the new holder's acquireTime",
                    "graceful_handoff_seen_s": "from SIGTERM to the driver's watch receiving the new holder",
                    "api_load": "kube-apiserver audit log (level Metadata, Lease requests by ServiceAccounts), "
                                "one ServiceAccount per replica; requests counted by auditID with "
                                "requestReceivedTimestamp in the window; a WATCH counts once, when opened; "
                                "per-role rates are requests made while in that role divided by the time "
                                "spent in it (standby: mean per standby)",
                    "rss_mib": "VmRSS from /proc/PID/status at the end of the steady-state window, mean "
                               "over the 3 replicas of the steady-state set (each up for minutes)",
                    "binary_mib": "file size of the stripped binary / 2^20",
                    "first_leadership_s": "from spawning one replica on a namespace without the Lease "
                                          "to its acquireTime; median",
                    "percentiles": "linear interpolation between closest ranks",
                    "concurrency": "every replica set has its own namespace and Lease. Steady state (API "
                                   "load, memory) is measured on one set per implementation that no trial "
                                   "touches, while the trials run on the others. Crash trials run on "
                                   f"{args.lanes} lane(s) per implementation, all at the same time; graceful "
                                   "trials then run on the first lane, one trial at a time, alternating "
                                   "between the implementations",
                    "lanes": args.lanes,
                    "machine_load": "share of all CPUs busy (/proc/stat) and 1-min load average, sampled "
                                    "every 2 s by the driver; it includes the benchmark's own processes and "
                                    "anything else running on the host",
                },
                "timeline": {},
            }
            for k in impls:
                key = impls[k]["key"]
                L, M = load[key], mem[key]
                binp = impls[k]["bin"]
                fl = ok_values(first[k], "first_leadership_s")
                results[k] = {
                    "binary_path": str(binp),
                    **trial_summaries(crash[key], graceful[key]),
                    "standby_requests_per_s": L["standby_requests_per_s"],
                    "standby_requests_per_s_max": L["standby_requests_per_s_max"],
                    "leader_requests_per_s": L["leader_requests_per_s"],
                    "leader_reads_per_s": L["leader_reads_per_s"],
                    "leader_writes_per_s": L["leader_writes_per_s"],
                    "leader_writes_in_window": L["leader_writes_in_window"],
                    "leader_writes_allowed": L["leader_writes_allowed"],
                    "leader_write_interval_s": L["leader_write_interval_s"],
                    "requests_by_verb_per_s": L["by_verb_per_s"],
                    "api_load": L,
                    "rss_mib": M["rss_mib"],
                    "rss_per_replica": M["per_replica"],
                    "binary_mib": binp.stat().st_size / 2**20,
                    "binary_bytes": binp.stat().st_size,
                    "first_leadership_s": statistics.median(fl) if fl else None,
                    "first_leadership_runs_s": fl,
                    "short": {
                        "crash_failover_s": summary(ok_values(short_crash[key], "failover_s"),
                                                    sum(1 for t in short_crash[key] if not t.get("ok"))),
                        "crash_failover_seen_s": summary(ok_values(short_crash[key], "failover_seen_s")),
                        "graceful_handoff_s": summary(ok_values(short_graceful[key], "handoff_s"),
                                                      sum(1 for t in short_graceful[key] if not t.get("ok"))),
                        "graceful_handoff_seen_s": summary(ok_values(short_graceful[key], "handoff_seen_s")),
                    },
                    "raw": {"crash": crash[key], "graceful": graceful[key], "short_crash": short_crash[key],
                            "short_graceful": short_graceful[key], "first_leadership": first[k],
                            "process_exits": {f"{rs.ns}/{r.identity}": r.exits for rs in sets
                                              if rs.impl["key"] == key for r in rs.replicas}},
                }
                # The picture follows the first lane, which ran both kinds of trial.
                first_lane = lanes[k][0]
                ids = [r.identity for r in first_lane.replicas]
                evs = watcher.all(first_lane.ns)
                mk = [m for m in markers if m["ns"] == first_lane.ns]
                mine = [t for t in crash[key] if t.get("ns") == first_lane.ns]
                results["timeline"][k] = {"crash": timeline(evs, mk, mine, "crash", ids),
                                          "graceful": timeline(evs, mk, graceful[key], "graceful", ids)}
            results["watch"] = {"reconnects": watcher.reconnects, "relists": watcher.relists,
                                "errors": watcher.errors[-10:]}
            time.sleep(1.0)
            totals = audit_totals(audit_log, {n: k for (k, _), n in ns.items()},
                                  started_at.timestamp(), time.time())
            for k in impls:
                results[k]["argv"] = Replica(impls[k], "NAMESPACE", 0, Path("KUBECONFIG"), normal).argv()
                results[k]["api_requests_whole_run"] = totals.get(k, {})
        if args.scale:
            def save_scale(section):
                """The scale section with the run's provenance, written at once."""
                section["command"] = command
                section["seed"] = seed
                section["source"] = {**source, "k8sensus_binary_sha256": sha256(rust_bin),
                                     "client_go_ref_binary_sha256": sha256(go_bin),
                                     "kubernetes_version": cp.state.get("kubernetes_version")}
                section["machine"] = {"cpus": os.cpu_count(), "load_by_phase": [
                    p for p in sampler.summary() if p["phase"].startswith("scale")]}
                results["scale"] = section
                write_results(Path(args.out), results)
                log(f"wrote {args.out} (scale: N = {', '.join(map(str, section['ns']))}"
                    f"{'' if section['complete'] else ', so far'})")
            save_scale(scale_part(cp, watcher, work, impls, normal, seed, audit_log, args, markers,
                                  sampler, progress, sets, save_scale))
        out = Path(args.out)
        write_results(out, results)
        log(f"wrote {out}")
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        # Each step on its own, so that one failing cannot leave the next undone.
        for rs in sets:
            for r in rs.replicas:
                try:
                    r.kill()
                except Exception as e:
                    log(f"could not kill {r.identity}: {e!r}")
        sampler.stopping = True
        if watcher:
            watcher.stopping = True
        try:
            if cp:
                cp.stop()
        finally:
            if audit_log.exists():
                shutil.copy(audit_log, LOG_DIR / "audit.log")
            shutil.rmtree(work, ignore_errors=True)
        log("stopped every process this run started")
    if not args.no_render:
        r = subprocess.run([sys.executable, str(BENCH / "render.py"), "--results", args.out])
        if r.returncode != 0:
            return r.returncode
    log(f"done in {(time.monotonic() - T0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
