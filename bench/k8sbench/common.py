"""What every Python part of the benchmark shares: the repository's paths, the progress
line, and the error that ends a run."""

from __future__ import annotations

import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BENCH = REPO / "bench"
LOG_DIR = BENCH / ".logs"
T0 = time.monotonic()  # the driver's start: log() and the durations count from it


def log(msg: str) -> None:
    e = time.monotonic() - T0
    print(f"[bench {int(e // 60):02d}:{e % 60:04.1f}] {msg}", flush=True)


class BenchError(Exception):
    """A run cannot go on; the entry point logs it, stops everything and exits 1."""


def elapsed(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
