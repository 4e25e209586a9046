"""One run of bench/run.py: the state its steps share, and the steps around the measuring
(prepare, build, the control plane's binaries, stop everything). The measuring itself is the
Rust program's (bench/main.rs): local.py and scale_part.py run it."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

from .build import (RUST_BIN, ImagesBuild, build_bench_program, build_client_go_ref, build_rust, cache_state,
                    control_plane_binaries, source_snapshot)
from .common import LOG_DIR, BenchError, log


class Run:
    """What the steps of one run share. Every process the run starts is reachable from here
    (the images build) or is waited for by the step that started it (the builds, the Rust
    program), so that stop_everything() stops what is left on any exit path."""

    def __init__(self, args: argparse.Namespace, command: str, seed: int, work: Path):
        self.args, self.command, self.seed, self.work = args, command, seed, work
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self.load_at_start = os.getloadavg()
        # Set by build() and get_control_plane_binaries():
        self.source: dict = {}
        self.caches = ""
        self.rust_bin = self.go_bin = None
        self.go_cached = False
        self.cp_build: dict = {}
        self.images: ImagesBuild | None = None  # the cluster part's images, built alongside
        self.images_build: dict | None = None
        self.cp_bin: Path | None = None  # the control plane's binaries, as built (unwrapped)
        self.bench_bin: Path | None = None  # the local part's program (bench/main.rs), as built
        self.t_build0 = self.t_built_rust = self.t_built_go = self.t_built = 0.0


def prepare(args: argparse.Namespace, command: str, seed: int) -> Run:
    """A fresh LOG_DIR and a private work directory."""
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    return Run(args, command, seed, Path(tempfile.mkdtemp(prefix="k8sensus-bench-")))


def build_k8sensus(skip_build: bool, program: Path, before: dict) -> tuple[Path, dict]:
    """`make build` (or, with `skip_build`, the binary already there), and the source it was
    built from: `before` is the snapshot taken first; one taken after the build tells whether
    the inputs changed meanwhile (others may commit while it runs)."""
    if skip_build:
        if not os.access(RUST_BIN, os.X_OK):
            raise BenchError(f"--skip-build: no {RUST_BIN}; run `make build`")
        log(f"k8sensus: using the existing {RUST_BIN} (--skip-build)")
        return RUST_BIN, {**before, "skip_build": True, "changed_during_build": None}
    rust_bin = build_rust()
    after = source_snapshot(program)
    changed = after["build_inputs_sha256"] != before["build_inputs_sha256"]
    if changed:
        log("warning: src/, Cargo.toml or Cargo.lock changed while `make build` ran; "
            "the binary may match neither snapshot (recorded in results.json)")
    return rust_bin, {**after, "skip_build": False, "changed_during_build": changed,
                      "commit_before_build": before["commit"]}


def build(run: Run) -> None:
    """The benchmark program, then both electors, each step timed; the source tree is
    recorded before and after `make build`."""
    log(f"work dir {run.work}, logs in {LOG_DIR}, seed {run.seed}")
    run.caches = cache_state()
    if run.args.images:
        run.images = ImagesBuild()
    # The program first: it measures every part, and it takes the source snapshots.
    run.bench_bin, _ = build_bench_program()
    before = source_snapshot(run.bench_bin)
    run.t_build0 = time.monotonic()
    run.rust_bin, run.source = build_k8sensus(run.args.skip_build, run.bench_bin, before)
    source = run.source
    log(f"k8sensus source: commit {source['commit_short']}"
        + (f", uncommitted changes in {', '.join(source['build_inputs_dirty'])}"
           if source["build_inputs_dirty"] else ", src/ and Cargo files as committed"))
    run.t_built_rust = time.monotonic()
    run.go_bin, run.go_cached = build_client_go_ref()
    run.t_built_go = time.monotonic()


def get_control_plane_binaries(run: Run) -> None:
    """The control plane's binaries, built (once per machine) or from the cache: the local
    part's program and the scale part start their control planes from them."""
    run.cp_bin, run.cp_build = control_plane_binaries()
    run.t_built = time.monotonic()


def finish_images(run: Run) -> None:
    """Wait for the images built alongside (with --images), before the first measurement."""
    if run.images:
        run.images_build = run.images.wait()
        run.t_built = time.monotonic()


def stop_everything(run: Run) -> None:
    """The images build stopped and the work directory removed. (The Rust program stops
    what it started, its control planes and replicas, on its own; it is waited for, or
    killed with its process group, by the step that ran it.)"""
    if run.images:
        run.images.kill()
    shutil.rmtree(run.work, ignore_errors=True)
    log("stopped every process this run started")
