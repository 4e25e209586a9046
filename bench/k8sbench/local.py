"""The local part of bench/run.py: the Rust program bench/main.rs (the `bench` test target,
on the test harness the chaos suite shares, tests/support/) measures it and writes
results.json's local sections; this module runs it with the run's binaries, seed, trial
counts and timings, and merges in what run.py alone knows (the builds and the source they
were built from, Python's version and the platform)."""

from __future__ import annotations

import json
import time

from .common import LOG_DIR, T0, BenchError, log
from .processes import run_program
from .results import with_python_facts


def argv(run, out) -> list[str]:
    """The program's command line for this run."""
    a = run.args
    return [str(run.bench_bin),
            f"--crash-trials={a.crash_trials}", f"--lanes={a.lanes}",
            f"--graceful-trials={a.graceful_trials}",
            f"--short-crash-trials={a.short_crash_trials}",
            f"--short-graceful-trials={a.short_graceful_trials}",
            f"--steady-seconds={a.steady_seconds}", f"--first-runs={a.first_runs}",
            f"--budget-minutes={a.budget_minutes}", *run_flags(run, out)]


def run_flags(run, out) -> list[str]:
    """What every part of the program gets from the run: the binaries it built, the seed,
    the results file, the logs, the recorded command and the run's start."""
    return [f"--k8sensus-bin={run.rust_bin}", f"--client-go-bin={run.go_bin}",
            f"--control-plane-bin={run.cp_bin}", f"--seed={run.seed}",
            f"--out={out}", f"--log-dir={LOG_DIR}", f"--command={run.command}",
            # The run's start as an epoch time: the program's progress lines, its budget and
            # duration_s count from it, as run.py's own do.
            f"--since={time.time() - (time.monotonic() - T0):.3f}"]


def measure(run) -> dict:
    """Runs the local part's program (its progress lines go straight to the terminal) and
    returns results.json without its scale section."""
    out = run.work / "local-results.json"
    code = run_program(argv(run, out), "local part")
    if code != 0:
        raise BenchError(f"the local part failed (exit {code}); its error is above, the logs in {LOG_DIR}")
    results = merge(run, json.loads(out.read_text()))
    log(f"local part: done in {(time.monotonic() - run.t_built) / 60:.1f} min of measuring")
    return results


def merge(run, local: dict) -> dict:
    """results.json from the program's local sections and what run.py alone knows, in the
    order results.json keeps its keys."""
    args = run.args
    machine = with_python_facts(local["machine"])
    # The load at run.py's start, before the builds, rather than at the program's.
    machine["loadavg_at_start"] = [round(x, 2) for x in run.load_at_start]
    measured = ("k8sensus_binary_sha256", "client_go_ref_binary_sha256", "client_go_version",
                "kubernetes_version", "etcd_version")
    results = {
        "command": run.command,
        "generated_at": local["generated_at"],
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - T0, 1),
        "build": {
            "k8sensus": {"seconds": round(run.t_built_rust - run.t_build0, 1),
                         "cached": bool(args.skip_build)},
            "client_go_ref": {"seconds": round(run.t_built_go - run.t_built_rust, 1), "cached": run.go_cached},
            "control_plane": run.cp_build,
            "images": run.images_build,
            "measuring_s": round(time.monotonic() - run.t_built, 1),
            "caches": run.caches,
        },
        "seed": local["seed"],
        "machine": machine,
        "source": {**run.source, **{k: local["source"][k] for k in measured}},
    }
    for key in ("timings", "short_timings", "method", "timeline", "k8sensus", "client_go", "watch"):
        results[key] = local[key]
    return results
