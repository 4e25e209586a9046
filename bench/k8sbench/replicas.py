"""Replicas as local processes: the namespaces, ServiceAccounts and kubeconfigs they run
with, one replica, and a set of replicas on one Lease."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .common import LEASE, LOG_DIR, REPO, BenchError
from .lease_watch import LeaseWatcher, renewed
from .processes import spawn

if TYPE_CHECKING:
    from .control_plane import ControlPlane

REPLICAS = 3


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
        if not renewed(ev):
            return None
        return ev
