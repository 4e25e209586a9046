"""The control plane (hack/control-plane/controlplane.py run --lifeline-stdin), started with
an audit log of the replicas' requests; its API; and what the audit log says."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from .common import LOG_DIR, REPO, BenchError
from .lease_watch import parse_time
from .processes import run_cmd, spawn

CONTROLPLANE = REPO / "hack" / "control-plane" / "controlplane.py"
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


def control_plane_binaries() -> tuple[Path, dict]:
    """The binaries as built by controlplane.py (built now or cached), and how they were had."""
    t0, started = time.monotonic(), time.time()
    # controlplane.py prints its own progress (a cold build takes minutes) on stderr.
    real = Path(run_cmd([sys.executable, str(CONTROLPLANE), "build"], timeout=3600, show_stderr=True)
                .strip().splitlines()[-1])
    info = {"seconds": round(time.monotonic() - t0, 1), "cached": True}
    try:
        bi = json.loads((real.parent / "build-info.json").read_text())
        info["cached"] = parse_time(bi["built_at"]) < started - 1
        info["build_info"] = bi
    except (OSError, ValueError, KeyError):
        pass
    return real, info


def audit_bin_dir(real: Path, d: Path, audit_log: Path) -> Path:
    """A bin dir `d` for K8SENSUS_CONTROL_PLANE_BIN: the binaries in `real`, kube-apiserver
    wrapped to add the audit flags (the policy next to it, the log to `audit_log`).
    controlplane.py itself is unchanged. One per control plane: each has its own audit log."""
    d.mkdir()
    # Every binary controlplane.py expects, as built; only kube-apiserver is wrapped.
    for b in real.iterdir():
        if b.name != "kube-apiserver":
            os.symlink(b, d / b.name)
    policy = d / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    w = d / "kube-apiserver"
    w.write_text("#!/bin/sh\n# bench/run.py: kube-apiserver with an audit log of Lease requests\n"
                 f"exec {shlex.quote(str(real / 'kube-apiserver'))} \"$@\" "
                 f"--audit-policy-file={shlex.quote(str(policy))} "
                 f"--audit-log-path={shlex.quote(str(audit_log))} "
                 "--audit-log-format=json --audit-log-mode=blocking\n")
    w.chmod(0o755)
    return d


class ControlPlane:
    """etcd + kube-apiserver from controlplane.py, tied to the driver by its stdin (the
    lifeline), with request() and kubectl_run() as the cluster admin. Several can run at
    once, each in its own directory `work`/`name` (free loopback ports each), its runner's
    messages in LOG_DIR/`log_name`."""

    def __init__(self, work: Path, name: str = "cp", log_name: str = "controlplane.log"):
        self.dir = work / name
        self.logfile = LOG_DIR / log_name
        self.proc = None
        self.errlog = None

    def start(self, bin_dir: Path) -> None:
        self.launch(bin_dir)
        self.wait_ready()

    def launch(self, bin_dir: Path) -> None:
        """Starts the runner without waiting for it: wait_ready() does (so that several
        control planes can come up at the same time)."""
        env = {**os.environ, "K8SENSUS_CONTROL_PLANE_BIN": str(bin_dir)}
        self.errlog = open(self.logfile, "w")
        self.proc = spawn([sys.executable, str(CONTROLPLANE), "run", "--dir", str(self.dir),
                           "--lifeline-stdin"], cwd=REPO, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=self.errlog, text=True)

    def wait_ready(self) -> None:
        """Until the runner says READY (it gives up on its own if the API server does not
        come up), then connect()."""
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.wait()
            raise BenchError("the control plane did not start; see "
                             f"{self.logfile}:\n{self.logfile.read_text()[-3000:]}")
        self.connect(self.dir)

    def connect(self, pki: Path) -> None:
        """Reads the runner's state.json (in self.dir) and the admin client certificate (in
        `pki`): the API server's address, kubeconfig and kubectl, and the TLS context."""
        self.state = json.loads((self.dir / "state.json").read_text())
        self.kubeconfig = self.state["kubeconfig"]
        self.kubectl = self.state["kubectl"]
        self.server = self.state["server"]
        u = urllib.parse.urlparse(self.server)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=self.state["ca_file"])
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

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

    def let_go(self) -> None:
        """Closes the lifeline: the runner tears etcd and kube-apiserver down. stop() waits
        for it; letting several go first stops them at the same time."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the lifeline: EOF tears everything down
            except OSError:
                pass

    def stop(self) -> None:
        self.let_go()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.errlog:
            self.errlog.close()


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
