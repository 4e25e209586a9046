"""A Deployment under test (its pods, its Lease, its lines), the cluster-wide turn a trial
holds from its fault to the end of its churn, and the waits the trials share."""

from __future__ import annotations

import random
import subprocess
import time
import urllib.parse

from ..common import BenchError, elapsed, log
from ..lease_watch import renewed
from ..processes import kill_group, spawn
from ..schedule import g_sleep, g_wait
from .config import API_POLL, CONTAINER, LOG_POLL, REPLICAS, RP, SELECTOR, SETTLE
from .pod_logs import PodLogs
from .runner import Cluster, PodWatcher


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
        if not ev or ev["holder"] not in pods or not renewed(ev):
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
        yield from g_sleep(LOG_POLL)
        st = dep.steady(no_restarts)
        now = time.monotonic()
        if st and st["holder"] == holder:
            if now - since >= SETTLE:
                yield from g_sleep(random.uniform(0, RP))
                st = dep.steady(no_restarts)
                if st and st["holder"] == holder:
                    return st
                since, holder = None, None
        else:
            since, holder = now, st["holder"] if st else None
        if now >= next_note:
            log(f"{dep.key}: still waiting for a steady deployment before {what} "
                f"({elapsed(now - t0)}; pods {sorted(dep.pods())}, holder {dep.holder() or 'none'})")
            next_note += 30
    return None


def g_replaced(dep: Deployment, gone: set[str], timeout: float = 120):
    """Until the pods in `gone` have left the API and three Ready pods run."""
    def replaced():
        pods = dep.pods()
        return len(pods) == REPLICAS and not gone & set(pods) and all(is_ready(x) for x in pods.values())
    return (yield from g_wait(replaced, timeout, API_POLL))


def spawn_kubectl(dep: Deployment, *args: str) -> tuple[subprocess.Popen, float, int]:
    """Starts kubectl (not waiting for it); returns it with the wall and monotonic time it
    was started: the instant the fault begins."""
    argv = dep.cluster.kubectl_argv(*args)
    t_wall, t_mono = time.time(), time.monotonic_ns()
    p = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True)
    return p, t_wall, t_mono


def g_kubectl_done(p: subprocess.Popen, what: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while p.poll() is None:
        if time.monotonic() > end:
            kill_group(p)
            raise BenchError(f"kubectl {what} did not return within {timeout:.0f} s")
        yield
    t = time.time()
    if p.returncode != 0:
        raise BenchError(f"kubectl {what} failed (exit {p.returncode}): {p.stderr.read()[-2000:]}")
    return t
