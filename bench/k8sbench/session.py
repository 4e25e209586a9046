"""What both entry points do around their measuring: the command line and the seed they
record, signals turned into KeyboardInterrupt, one run at a time, and the render at the end."""

from __future__ import annotations

import fcntl
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from .common import BENCH, REPO, T0, log


def one_run_at_a_time():
    """The benchmark lock (bench/.run.lock), held as long as the returned file is open; None
    (after saying why) if another run holds it: a second run would wipe this one's logs and
    skew its timings. bench/cluster.py takes the same lock."""
    lock = open(BENCH / ".run.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        log(f"error: another benchmark run is going on ({lock.read().strip() or 'pid unknown'}); "
            "two at once would overwrite each other's logs and skew each other's timings")
        return None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()} ({Path(sys.argv[0]).name}), started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    lock.flush()
    return lock


def recorded_command() -> str:
    """The command line as results.json records it: `python3 bench/run.py ...`."""
    return shlex.join(["python3", os.path.relpath(sys.argv[0], REPO) if not os.path.isabs(sys.argv[0])
                       else sys.argv[0], *sys.argv[1:]])


def seed_random(seed: int | None) -> int:
    """Seeds `random` (the trials' random waits) with `seed`, or a fresh one; returns it."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 30)
    random.seed(seed)
    return seed


def interrupt_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread, so that every
    exit path goes through the entry point's finally block."""
    def on_term(_s, _f):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)


def begin(seed: int | None):
    """What every entry point does first: record its command line, seed the random choices,
    turn SIGTERM into an interrupt, and take the benchmark lock. Returns (command, seed,
    lock), the lock held as long as it is referenced, or None if another run holds it."""
    command = recorded_command()
    seed = seed_random(seed)
    interrupt_on_signals()
    lock = one_run_at_a_time()
    if lock is None:
        return None
    return command, seed, lock


def render_and_finish(results: str, no_render: bool) -> int:
    """bench/render.py on the results file (unless `no_render`), then the run's last line;
    returns the exit code."""
    if not no_render:
        r = subprocess.run([sys.executable, str(BENCH / "render.py"), "--results", results])
        if r.returncode != 0:
            return r.returncode
    log(f"done in {(time.monotonic() - T0) / 60:.1f} min")
    return 0
