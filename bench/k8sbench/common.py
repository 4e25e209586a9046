"""What every part of the benchmark shares: the repository's paths, the Lease's name, the
timings, the progress line, and the error that ends a run."""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BENCH = REPO / "bench"
LOG_DIR = BENCH / ".logs"
LEASE = "k8sensus-lease"
# The timings of every figure but the short-timing ones: k8sensus's defaults, and client-go's
# usual 15s/10s/2s. The cluster part uses them too (deployment.yaml leaves the defaults).
TIMINGS = {"lease_duration_s": 15.0, "renew_deadline_s": 10.0, "retry_period_s": 2.0}
SHORT_TIMINGS = {"lease_duration_s": 4.0, "renew_deadline_s": 3.0, "retry_period_s": 0.5}
T0 = time.monotonic()  # the driver's start: log() and the durations count from it


def log(msg: str) -> None:
    e = time.monotonic() - T0
    print(f"[bench {int(e // 60):02d}:{e % 60:04.1f}] {msg}", flush=True)


class BenchError(Exception):
    """A run cannot go on; the entry point logs it, stops everything and exits 1."""


def elapsed(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def fs_log(v) -> str:
    """Seconds as a progress line writes them: ms below 1 s, else s with 3 decimals."""
    return "n/a" if v is None else f"{v * 1000:.0f} ms" if v < 1 else f"{v:.3f} s"
