"""The scale part's steady control planes: one etcd + kube-apiserver per implementation, for
its steady-state sets only, each with its own audit log and Lease watch. The trials run on
the run's own control plane meanwhile; kube-apiserver's CPU and the audit log of a steady
control plane then belong to one implementation."""

from __future__ import annotations

from pathlib import Path

from .common import log
from .control_plane import ControlPlane, audit_bin_dir
from .lease_watch import LeaseWatcher


class SteadyPlane:
    """One implementation's steady control plane (`key`: its results key), its audit log
    and the driver's watch on its Leases. Started by launch_steady_planes() and
    wait_steady_planes(), stopped by stop_steady_planes() or, on any exit path, by
    driver.stop_everything()."""

    def __init__(self, run, key: str):
        self.key = key
        self.audit_log: Path = run.work / f"audit-scale-steady-{key}.log"
        self.cp = ControlPlane(run.work, f"cp-steady-{key}", f"controlplane-scale-steady-{key}.log")
        self.bin_dir = audit_bin_dir(run.cp_bin, run.work / f"cp-bin-steady-{key}", self.audit_log)
        self.watcher: LeaseWatcher | None = None

    def stop(self) -> None:
        if self.watcher:
            self.watcher.stopping = True
        self.cp.stop()


def launch_steady_planes(run) -> dict:
    """Both implementations' steady control planes, launched at the same time without
    waiting for them (wait_steady_planes() does, so that other work can go on meanwhile);
    {impls key: SteadyPlane}, also kept in run.steady_planes so that every exit path stops
    them."""
    planes = {k: SteadyPlane(run, run.impls[k]["key"]) for k in run.impls}
    run.steady_planes.update(planes)
    log(f"scale: starting {len(planes)} steady control planes (etcd + kube-apiserver with an audit "
        f"log each), one per implementation, for the steady-state windows")
    for p in planes.values():
        p.cp.launch(p.bin_dir)
    return planes


def wait_steady_planes(planes: dict) -> None:
    """Until every steady control plane is ready and the driver's watch on it runs."""
    for p in planes.values():
        p.cp.wait_ready()
        p.watcher = LeaseWatcher(p.cp)
        p.watcher.start()
    for p in planes.values():
        p.watcher.wait_started(f"the driver's watch on the steady control plane of {p.key}")
        log(f"scale: steady control plane of {p.key} ready at {p.cp.server}")


def stop_steady_planes(run) -> None:
    """The steady control planes stopped (their replicas must be stopped first); their audit
    logs stay in the work directory until stop_everything() keeps them in LOG_DIR."""
    for p in run.steady_planes.values():
        p.cp.let_go()
    for p in run.steady_planes.values():
        p.stop()
