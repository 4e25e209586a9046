"""One run of bench/cluster.py: the state its steps share, and the steps in their order
(preflight, prepare, start, apply, trials, the section, stop everything)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..common import REPO, T0, TIMINGS, BenchError, elapsed, log
from ..lease_watch import LeaseWatcher
from ..machine_load import LoadSampler
from ..provenance import machine_section, sha256, source_snapshot
from ..schedule import run_all
from .config import CLUSTER, IMPLS, LOG_DIR, REPLICAS
from .deploy import client_go_image, client_go_overlay
from .deployment import Deployment, Turn
from .pod_logs import PodLogs
from .results import METHOD, section
from .runner import Cluster, PodWatcher, leftovers
from .trials import apply_and_first_work, g_sequence


class ClusterRun:
    """What the steps of one cluster run share. The cluster and the driver's threads are
    reachable from here, so that stop_everything() stops them on any exit path."""

    def __init__(self, args: argparse.Namespace, command: str, seed: int, work: Path):
        self.args, self.command, self.seed, self.work = args, command, seed, work
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self.load_at_start = os.getloadavg()
        self.cluster: Cluster | None = None
        self.logs: PodLogs | None = None
        self.watcher: LeaseWatcher | None = None
        self.pod_watcher: PodWatcher | None = None
        self.sampler = LoadSampler()
        # Set by start() and trials():
        self.source: dict = {}
        self.cg_archive = self.cg_image = self.cg_bin = None
        self.cg_cached = False
        self.deps: dict[str, Deployment] = {}
        self.t_build = self.t_up = self.trials_s = 0.0
        self.counts: dict = {}
        self.orders: dict = {}


def can_run() -> bool:
    """Whether the cluster can run here (root, and hack/cluster/cluster.py check), after
    saying why not."""
    if os.geteuid() != 0 or subprocess.run([sys.executable, str(CLUSTER), "check"]).returncode != 0:
        log("error: the cluster cannot run here (see the line above); `make bench-cluster` needs root")
        return False
    return True


def prepare(args: argparse.Namespace, command: str, seed: int) -> ClusterRun:
    """A fresh LOG_DIR, a private work directory, and the machine-load sampler started."""
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    run = ClusterRun(args, command, seed, Path(tempfile.mkdtemp(prefix="k8sensus-bench-cluster-")))
    run.sampler.start()
    return run


def start(run: ClusterRun) -> None:
    """The client-go-ref image, the cluster with it imported, the pod log tailer and the
    driver's two watches, and both Deployments as the trials see them."""
    log(f"work dir {run.work}, pod logs to {LOG_DIR}, seed {run.seed}")
    run.source = source_snapshot()
    run.sampler.phase("build and start")
    run.t_build = time.monotonic()
    run.cg_archive, run.cg_image, run.cg_bin, run.cg_cached = client_go_image()
    log(f"client-go-ref image {run.cg_image} ({run.cg_archive.name})")
    run.cluster = Cluster(run.work / "cluster", [run.cg_archive])
    run.cluster.start()
    run.t_up = time.monotonic()
    log(f"cluster ready ({elapsed(run.t_up - run.t_build)} for the image and the cluster)")
    run.logs = PodLogs(run.cluster.dir / "pod-logs")
    run.logs.start()
    run.watcher = LeaseWatcher(run.cluster)
    run.watcher.start()
    run.pod_watcher = PodWatcher(run.cluster)
    run.pod_watcher.start()
    for w in (run.watcher, run.pod_watcher):
        if not w.ready.wait(30):
            raise BenchError(f"the driver's {w.name} did not start: {w.errors[-3:]}")
    turn = Turn()
    deps = {k: Deployment(v, run.cluster, run.watcher, run.pod_watcher, run.logs, turn, run.sampler)
            for k, v in IMPLS.items()}
    deps["k8sensus"].other, deps["client_go"].other = deps["client_go"], deps["k8sensus"]
    run.deps = deps


def apply(run: ClusterRun) -> None:
    """`kubectl apply` of each Deployment on its empty namespace, k8sensus first."""
    run.sampler.phase("apply")
    apply_and_first_work(run.deps["k8sensus"], REPO)
    apply_and_first_work(run.deps["client_go"], client_go_overlay(run.work, run.cg_image))


def trials(run: ClusterRun) -> None:
    """Each Deployment through its own sequence of trials, both at once, faults one at a time."""
    args = run.args
    run.sampler.phase("trials")
    counts = {"delete": args.delete_trials, "crash": args.crash_trials, "rollout": args.rollouts}
    # k8sensus's crash trials spend most of their time waiting for the lease to expire; the
    # reference's other trials use that time.
    orders = {"k8sensus": ["crash", "delete", "rollout"], "client_go": ["delete", "rollout", "crash"]}
    log(f"trials: {counts['delete']} delete, {counts['crash']} crash, {counts['rollout']} rollouts "
        "per implementation, both deployments at once, faults one at a time")
    t_trials = time.monotonic()
    run_all(*[g_sequence(run.deps[k], orders[k], counts) for k in run.deps])
    run.trials_s = time.monotonic() - t_trials
    run.sampler.phase("")
    run.counts, run.orders = counts, orders


def cluster_section(run: ClusterRun) -> dict:
    """The "cluster" section of results.json: each Deployment's figures, then the run's own."""
    cluster = run.cluster
    egress = cluster.command("egress")
    finished_at = dt.datetime.now(dt.timezone.utc)
    sec = {k: section(d) for k, d in run.deps.items()}
    sec.update({
        "command": run.command, "seed": run.seed,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "generated_at": finished_at.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - T0, 1),
        "trials_s": round(run.trials_s, 1),
        "build_and_start_s": round(run.t_up - run.t_build, 1),
        "orders": run.orders, "timings": TIMINGS, "replicas": REPLICAS, "counts": run.counts,
        "kubernetes_version": cluster.state.get("kubernetes_version"),
        "images": {"client_go_ref": run.cg_image, "client_go_ref_archive": run.cg_archive.name,
                   "client_go_ref_binary_sha256": sha256(run.cg_bin), "client_go_ref_binary_cached": run.cg_cached,
                   "k8sensus": "k8sensus:0.1.0 from the Dockerfile (hack/cluster/images.py build)"},
        "source": run.source,
        "machine": machine_section(run.load_at_start, run.sampler),
        "egress_guard": egress,
        "watch": {w.name: {"reconnects": w.reconnects, "relists": w.relists, "errors": w.errors[-10:]}
                  for w in (run.watcher, run.pod_watcher)},
        "pod_log_errors": run.logs.errors[-10:],
        "method": METHOD,
    })
    return sec


def stop_everything(run: ClusterRun) -> list[str]:
    """The driver's threads told to stop, the pods' lines saved, the cluster stopped and the
    host checked for what it left, the work directory removed; returns what was left."""
    left: list[str] = []
    run.sampler.stopping = True
    for w in (run.watcher, run.pod_watcher):
        if w:
            w.stopping = True
    if run.logs:
        run.logs.stopping = True
        run.logs.save(LOG_DIR)
    state = getattr(run.cluster, "state", None) if run.cluster else None
    if run.cluster:
        run.cluster.stop()
    if state:
        left = leftovers(state)
        log("nothing of the cluster is left on the host" if not left
            else f"LEFT ON THE HOST: {left}")
    shutil.rmtree(run.work, ignore_errors=True)
    return left
