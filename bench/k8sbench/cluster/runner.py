"""The one-node cluster (hack/cluster/cluster.py run --lifeline-stdin) and its API, the
driver's watch on the Deployments' pods, and what a stopped cluster left on the host."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from ..common import REPO, BenchError, log
from ..control_plane import ControlPlane
from ..lease_watch import LeaseWatcher
from ..processes import run_cmd, spawn
from .config import CLUSTER, SELECTOR


class Cluster(ControlPlane):
    """The one-node cluster's runner, with the control plane's API helpers (request(), the TLS
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
        self.proc = spawn(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.wait()
            raise BenchError(f"the cluster did not start (runner exit {self.proc.returncode}); "
                             "see its messages above")
        self.connect(self.dir / "pki")

    def command(self, cmd: str) -> str:
        """One line of the runner's stdin protocol (status, egress), and its answer."""
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def kubectl_argv(self, *args: str) -> list[str]:
        return [self.kubectl, f"--kubeconfig={self.kubeconfig}", *args]

    def task_pid(self, container_id: str) -> int | None:
        """The host PID of a running container's process, from containerd's task list."""
        out = run_cmd(["ctr", f"--address={self.state['containerd_address']}", "-n", "k8s.io",
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


class PodWatcher(LeaseWatcher):
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
