"""The scale part of bench/run.py: the Rust program bench/main.rs (the `bench` test target)
with --scale-only measures it and writes results.json's "scale" section into --out, every
other key of that file kept, after each N and at the end; this module runs it with the run's
binaries, seed, flags and the source snapshot its build took. The program's module
bench/scale/ (its mod.rs) says what it runs."""

from __future__ import annotations

import json
import time

from .common import LOG_DIR, BenchError, log
from .local import run_flags
from .processes import run_program

# The numbers of candidates by default (bench/scale/args.rs: SCALE_NS).
SCALE_NS = (3, 10, 30, 100)


def argv(run, source_json) -> list[str]:
    """The program's command line for the scale part of this run."""
    a = run.args
    return [str(run.bench_bin), "--scale-only",
            f"--scale={','.join(map(str, a.scale))}",
            f"--scale-crash-trials={a.scale_crash_trials}",
            f"--scale-graceful-trials={a.scale_graceful_trials}",
            f"--scale-steady-seconds={a.scale_steady_seconds}",
            f"--source-json={source_json}", *run_flags(run, a.out)]


def measure(run) -> None:
    """Runs the scale part's program (its progress lines go straight to the terminal); the
    results file at --out then has the section."""
    source_json = run.work / "scale-source.json"
    source_json.write_text(json.dumps(run.source, indent=1))
    t0 = time.monotonic()
    code = run_program(argv(run, source_json), "scale part")
    if code != 0:
        raise BenchError(f"the scale part failed (exit {code}); its error is above, the logs in {LOG_DIR}")
    log(f"scale part: done in {(time.monotonic() - t0) / 60:.1f} min")
