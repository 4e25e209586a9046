"""Child processes that die with the driver: each in its own process group, with
PR_SET_PDEATHSIG (hack/control-plane/controlplane.py's child_dies_with_us, the one
implementation), forked from the main thread only; and a command run to completion."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time

from .common import REPO, BenchError, elapsed, log

sys.path.insert(0, str(REPO / "hack" / "control-plane"))
import controlplane  # noqa: E402  (the runner's module: its child_dies_with_us)

_MAIN_THREAD = threading.main_thread()


def spawn(argv, **kw) -> subprocess.Popen:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits: fork only from
    # the main thread, which lives as long as the run.
    assert threading.current_thread() is _MAIN_THREAD
    return subprocess.Popen(argv, preexec_fn=controlplane.child_dies_with_us, **kw)


def kill_group(p: subprocess.Popen) -> None:
    """SIGKILL a child's whole process group (make -> cargo -> rustc, go -> compile),
    which spawn() made its own: PR_SET_PDEATHSIG only covers the child itself."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_program(argv, what: str, grace: float = 240.0) -> int:
    """Runs a part of the benchmark program (bench/main.rs) to its end, its progress lines
    straight to the terminal, and returns its exit status. Ctrl-C or SIGTERM here is passed
    on as SIGTERM, and it is given `grace` s to stop what it started (a cluster, control
    planes, replicas) before it is killed with its process group, then KeyboardInterrupt is
    raised again; any other error kills it at once."""
    p = spawn(argv, cwd=REPO, stdin=subprocess.DEVNULL)
    try:
        return p.wait()
    except KeyboardInterrupt:
        log(f"interrupted; the {what} stops what it started")
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_group(p)
        raise
    except BaseException:
        kill_group(p)
        raise


HEARTBEAT = 30.0  # seconds between "still running" lines of a long step


def run_cmd(argv, *, input=None, cwd=REPO, env=None, timeout=600, heartbeat: str | None = None,
            show_stderr: bool = False) -> str:
    """Run a command to completion and return its stdout; raise BenchError with its output on
    failure. A `heartbeat` names the step in a line every HEARTBEAT s, so that a long build
    does not look hung; `show_stderr` passes the command's stderr (its own progress) through."""
    p = spawn(argv, cwd=cwd, env=env, stdin=subprocess.PIPE if input is not None else
              subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=None if show_stderr else subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        while True:
            left = timeout - (time.monotonic() - start)
            try:
                out, err = p.communicate(input, timeout=max(0.1, min(HEARTBEAT, left)))
                break
            except subprocess.TimeoutExpired:
                input = None  # sent with the first call; communicate() keeps what is pending
                if time.monotonic() - start >= timeout:
                    raise BenchError(f"timed out after {timeout:.0f} s: {shlex.join(map(str, argv))}")
                if heartbeat:
                    log(f"  ... still {heartbeat} ({elapsed(time.monotonic() - start)})")
    except BaseException:
        kill_group(p)
        raise
    if p.returncode != 0:
        raise BenchError(f"command failed (exit {p.returncode}): {shlex.join(map(str, argv))}\n"
                         f"{out[-3000:]}{(err or '')[-3000:]}")
    return out
