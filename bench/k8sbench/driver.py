"""One run of bench/run.py: the state its steps share, and the steps around the measuring
(prepare, build, start the control plane, stop everything)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

from .build import RUST_BIN, ImagesBuild, build_bench_program, build_client_go_ref, build_rust, rust_extra_args
from .common import LOG_DIR, BenchError, log
from .control_plane import ControlPlane, audit_bin_dir, control_plane_binaries
from .lease_watch import LeaseWatcher
from .machine_load import LoadSampler
from .provenance import cache_state, source_snapshot


class Run:
    """What the steps of one run share. Every process the run starts is reachable from here
    (`cp`, the replicas of `sets`), so that stop_everything() stops it on any exit path."""

    def __init__(self, args: argparse.Namespace, command: str, seed: int, work: Path):
        self.args, self.command, self.seed, self.work = args, command, seed, work
        self.audit_log = work / "audit.log"  # private to this run; copied to LOG_DIR at the end
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self.load_at_start = os.getloadavg()
        self.cp: ControlPlane | None = None
        self.sets: list = []  # every ReplicaSet started, for the last kill
        self.watcher: LeaseWatcher | None = None
        # The scale part's steady control planes (scale_planes.SteadyPlane), by impls key.
        self.steady_planes: dict = {}
        self.sampler = LoadSampler()
        self.markers: list[dict] = []  # kills, SIGTERMs and restarts, for the timeline
        # Set by build() and start_control_plane():
        self.source: dict = {}
        self.caches = ""
        self.rust_bin = self.go_bin = None
        self.go_cached = False
        self.impls: dict = {}
        self.cp_build: dict = {}
        self.images: ImagesBuild | None = None  # the cluster part's images, built alongside
        self.images_build: dict | None = None
        self.cp_bin: Path | None = None  # the control plane's binaries, as built (unwrapped)
        self.bench_bin: Path | None = None  # the local part's program (bench/main.rs), as built
        self.t_build0 = self.t_built_rust = self.t_built_go = self.t_built = 0.0


def prepare(args: argparse.Namespace, command: str, seed: int) -> Run:
    """A fresh LOG_DIR, a private work directory, and the machine-load sampler started."""
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    run = Run(args, command, seed, Path(tempfile.mkdtemp(prefix="k8sensus-bench-")))
    run.sampler.start()
    return run


def build_k8sensus(skip_build: bool, before: dict) -> tuple[Path, dict]:
    """`make build` (or, with `skip_build`, the binary already there), and the source it was
    built from: `before` is the snapshot taken first; one taken after the build tells whether
    the inputs changed meanwhile (others may commit while it runs)."""
    if skip_build:
        if not os.access(RUST_BIN, os.X_OK):
            raise BenchError(f"--skip-build: no {RUST_BIN}; run `make build`")
        log(f"k8sensus: using the existing {RUST_BIN} (--skip-build)")
        return RUST_BIN, {**before, "skip_build": True, "changed_during_build": None}
    rust_bin = build_rust()
    after = source_snapshot()
    changed = after["build_inputs_sha256"] != before["build_inputs_sha256"]
    if changed:
        log("warning: src/, Cargo.toml or Cargo.lock changed while `make build` ran; "
            "the binary may match neither snapshot (recorded in results.json)")
    return rust_bin, {**after, "skip_build": False, "changed_during_build": changed,
                      "commit_before_build": before["commit"]}


def build(run: Run) -> None:
    """Both electors, each step timed, and the two implementations as the trials run them."""
    log(f"work dir {run.work}, logs in {LOG_DIR}, seed {run.seed}")
    before = source_snapshot()
    run.caches = cache_state()
    if run.args.images:
        run.images = ImagesBuild()
    run.t_build0 = time.monotonic()
    run.rust_bin, run.source = build_k8sensus(run.args.skip_build, before)
    source = run.source
    log(f"k8sensus source: commit {source['commit_short']}"
        + (f", uncommitted changes in {', '.join(source['build_inputs_dirty'])}"
           if source["build_inputs_dirty"] else ", src/ and Cargo files as committed"))
    run.t_built_rust = time.monotonic()
    run.go_bin, run.go_cached = build_client_go_ref()
    run.t_built_go = time.monotonic()
    if not run.args.scale_only:  # the scale part alone does not run the local part's program
        run.bench_bin, _ = build_bench_program()
    run.impls = {
        "k8sensus": {"key": "k8sensus", "bin": run.rust_bin, "extra_args": rust_extra_args(run.rust_bin),
                     "env": {"LOG_FORMAT": "json"}},
        "client_go": {"key": "client-go", "bin": run.go_bin, "extra_args": [], "env": {}},
    }


def get_control_plane_binaries(run: Run) -> None:
    """The control plane's binaries, built (once per machine) or from the cache: the local
    part's program and the scale part start their control planes from them."""
    run.cp_bin, run.cp_build = control_plane_binaries()
    run.t_built = time.monotonic()


def start_control_plane(run: Run) -> None:
    """etcd + kube-apiserver with the audit log, and the driver's watch on the Leases (for
    the scale part; the local part's program starts its own)."""
    bin_dir = audit_bin_dir(run.cp_bin, run.work / "cp-bin", run.audit_log)
    log("starting etcd + kube-apiserver (with an audit log of Lease requests)")
    run.cp = ControlPlane(run.work)
    run.cp.start(bin_dir)
    log(f"control plane ready at {run.cp.server}")
    run.watcher = LeaseWatcher(run.cp)
    run.watcher.start()
    run.watcher.wait_started("the driver's watch")


def finish_images(run: Run) -> None:
    """Wait for the images built alongside (with --images), before the first measurement."""
    if run.images:
        run.images_build = run.images.wait()
        run.t_built = time.monotonic()


def stop_everything(run: Run) -> None:
    """The images build stopped, every replica killed, the threads told to stop, the control
    planes stopped (the scale part's steady ones too), the audit logs kept in LOG_DIR and the
    work directory removed: each step on its own, so that one failing cannot leave the next
    undone."""
    if run.images:
        run.images.kill()
    for rs in run.sets:
        for r in rs.replicas:
            try:
                r.kill()
            except Exception as e:
                log(f"could not kill {r.identity}: {e!r}")
    run.sampler.stopping = True
    planes = list(run.steady_planes.values())
    for w in [run.watcher, *(p.watcher for p in planes)]:
        if w:
            w.stopping = True
    try:
        cps = [cp for cp in [*(p.cp for p in planes), run.cp] if cp]
        for cp in cps:
            cp.let_go()  # all at once; each stop() below then waits for its own
        for cp in cps:
            try:
                cp.stop()
            except Exception as e:
                log(f"could not stop the control plane in {cp.dir}: {e!r}")
    finally:
        if run.audit_log.exists():
            shutil.copy(run.audit_log, LOG_DIR / "audit.log")
        for plane in run.steady_planes.values():
            if plane.audit_log.exists():
                shutil.copy(plane.audit_log, LOG_DIR / plane.audit_log.name)
        shutil.rmtree(run.work, ignore_errors=True)
    log("stopped every process this run started")
