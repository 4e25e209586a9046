"""The builds a run needs, each timed: `make build` for k8sensus; bench/client-go-ref,
cached outside the repository like the control plane's binaries; the control plane's
binaries (controlplane.py build); the benchmark program (bench/main.rs); the cluster part's
images alongside. And what a run records of them: the build caches found at the start, and
the source tree before and after `make build` (the program's --source-snapshot)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import BENCH, LOG_DIR, REPO, BenchError, elapsed, log
from .processes import HEARTBEAT, kill_group, run_cmd, spawn

CLIENT_GO_SRC = BENCH / "client-go-ref"
CONTROLPLANE = REPO / "hack" / "control-plane" / "controlplane.py"
# cargo's target directory: CARGO_TARGET_DIR if set (make and cargo honour it too).
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
RUST_BIN = TARGET / "release" / "k8sensus"


def cache_root() -> Path:
    base = os.environ.get("K8SENSUS_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = os.path.join(xdg, "k8sensus")
    return Path(base)


GO_LDFLAGS = "-s -w"


def build_client_go_ref() -> tuple[Path, bool]:
    """bench/client-go-ref, built stripped, cached by a hash of its sources and Go version.
    Returns the binary and whether it came from the cache."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    gover = run_cmd(["go", "env", "GOVERSION"], env=env).strip()
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        h.update(name.encode() + b"\0" + (CLIENT_GO_SRC / name).read_bytes() + b"\0")
    h.update(f"{gover}\0{GO_LDFLAGS}\0{platform.machine()}".encode())
    key = f"{gover}-{platform.machine()}-{h.hexdigest()[:12]}"
    final = cache_root() / "client-go-ref" / key / "client-go-ref"
    if os.access(final, os.X_OK):
        log(f"client-go-ref: cached {final}")
        return final, True
    tmp = final.parent.parent / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"client-go-ref: building ({gover}, CGO_ENABLED=0 go build -trimpath -ldflags '{GO_LDFLAGS}')")
    try:
        run_cmd(["go", "build", "-trimpath", "-ldflags", GO_LDFLAGS, "-o", str(tmp / "client-go-ref"),
                 "."], cwd=CLIENT_GO_SRC, env=env, timeout=1200, heartbeat="building client-go-ref")
        final.parent.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final.parent)
        except OSError:  # someone else finished first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, False


def wait_logging(p: subprocess.Popen, start: float, logfile: Path, what: str, shown) -> None:
    """Wait for `p`, whose output goes to `logfile`: every HEARTBEAT s a line saying `what`,
    how long, and the last line of the log that `shown` picks. On any exception (Ctrl-C
    included) its whole process group is killed."""
    try:
        while True:
            try:
                p.wait(timeout=HEARTBEAT)
                return
            except subprocess.TimeoutExpired:
                last = [ln.strip() for ln in logfile.read_text(errors="replace").splitlines()
                        if shown(ln.strip())]
                log(f"  ... {what} ({elapsed(time.monotonic() - start)}"
                    + (f"; {last[-1][:90]}" if last else "") + ")")
    except BaseException:
        kill_group(p)
        raise


def build_rust() -> Path:
    """`make build`, its output in LOG_DIR/make-build.log; every HEARTBEAT s a line with the
    crate cargo reached last."""
    logfile = LOG_DIR / "make-build.log"
    log(f"k8sensus: make build (output in {logfile})")
    start = time.monotonic()
    with open(logfile, "w") as out:
        p = spawn(["make", "build"], cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                  stderr=subprocess.STDOUT)
    wait_logging(p, start, logfile, "still running make build",
                 lambda ln: ln.startswith(("Compiling", "Building", "Downloaded", "Updating")))
    text = logfile.read_text(errors="replace")
    if p.returncode != 0:
        raise BenchError(f"make build failed (exit {p.returncode}):\n{text[-4000:]}")
    log(f"k8sensus: built in {elapsed(time.monotonic() - start)}")
    return RUST_BIN


def build_bench_program() -> tuple[Path, float]:
    """The benchmark's local part, a Rust program (bench/main.rs, the `bench` test target):
    `cargo test --no-run` (in the test profile, so it shares the test targets' build), its
    output in LOG_DIR/bench-build.log, a heartbeat every HEARTBEAT s. Returns its executable
    and the build's seconds."""
    logfile = LOG_DIR / "bench-build.log"
    log(f"benchmark program: cargo test --test bench --no-run (output in {logfile})")
    start = time.monotonic()
    argv = ["cargo", "test", "--locked", "--test", "bench", "--no-run", "--message-format=json"]
    with open(logfile, "w") as out:
        # The JSON messages go to stdout (the log); cargo's progress to stderr (the log too).
        p = spawn(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    wait_logging(p, start, logfile, "still building the benchmark program",
                 lambda ln: ln.startswith(("Compiling", "Building", "Downloaded", "Updating")))
    text = logfile.read_text(errors="replace")
    if p.returncode != 0:
        raise BenchError(f"building the benchmark program failed (exit {p.returncode}):\n{text[-4000:]}")
    exe = None
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
                and (msg.get("target") or {}).get("name") == "bench"):
            exe = Path(msg["executable"])
    if exe is None:
        raise BenchError(f"cargo built no `bench` test executable; see {logfile}")
    seconds = time.monotonic() - start
    log(f"benchmark program: built in {elapsed(seconds)} ({exe})")
    return exe, seconds


IMAGES_PY = REPO / "hack" / "cluster" / "images.py"


class ImagesBuild:
    """The cluster part's images (`hack/cluster/images.py build`: the pause image and the
    k8sensus image from the Dockerfile), built in the background while this run builds the
    electors and the control plane.

    Why beside them: on a fresh machine the one-time builds take longer than all the
    measuring, and they do not keep both CPUs busy all the time (downloads, `go mod download`,
    buildah writing layers, the linker's serial steps). Run in a row they cost their sum; run
    together the image build fills the gaps. It runs under `nice`, so the builds the next
    measurement waits for come first. `wait()` is called before any measuring starts, so no
    figure is taken while it runs."""

    def __init__(self) -> None:
        self.logfile = LOG_DIR / "images-build.log"
        self.start = time.monotonic()
        log(f"images: building in the background for the cluster part (output in {self.logfile})")
        with open(self.logfile, "w") as out:
            self.p = spawn(["nice", "-n", "10", sys.executable, str(IMAGES_PY), "build"], cwd=REPO,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def wait(self) -> dict:
        """Block until the build ends, a line every HEARTBEAT s; its seconds and whether every
        image came from the cache. A failed build is an error: the cluster part would fail."""
        wait_logging(self.p, self.start, self.logfile, "waiting for the images", lambda ln: bool(ln))
        text = self.logfile.read_text(errors="replace")
        if self.p.returncode != 0:
            raise BenchError(f"the images build failed (exit {self.p.returncode}), "
                             f"see {self.logfile}:\n{text[-3000:]}")
        seconds = round(time.monotonic() - self.start, 1)
        cached = "building" not in text
        log(f"images: {'cached' if cached else 'built'} in {elapsed(seconds)}")
        return {"seconds": seconds, "cached": cached, "beside": "the builds of k8sensus, "
                "client-go-ref and the control plane (niced); done before any measuring"}

    def kill(self) -> None:
        if self.p.poll() is None:
            kill_group(self.p)


def control_plane_binaries() -> tuple[Path, dict]:
    """The binaries as built by controlplane.py (built now or cached), and how they were had."""
    t0, started = time.monotonic(), time.time()
    # controlplane.py prints its own progress (a cold build takes minutes) on stderr.
    real = Path(run_cmd([sys.executable, str(CONTROLPLANE), "build"], timeout=3600, show_stderr=True)
                .strip().splitlines()[-1])
    info = {"seconds": round(time.monotonic() - t0, 1), "cached": True}
    try:
        bi = json.loads((real.parent / "build-info.json").read_text())
        built_at = dt.datetime.fromisoformat(bi["built_at"].replace("Z", "+00:00")).timestamp()
        info["cached"] = built_at < started - 1
        info["build_info"] = bi
    except (OSError, ValueError, KeyError):
        pass
    return real, info


def source_snapshot(program: Path) -> dict:
    """The source tree as the results record it (the commit, the changed paths, a hash of
    what `make build` compiles), from the benchmark program (tests/support/provenance.rs
    computes it for every harness)."""
    return json.loads(run_cmd([str(program), "--source-snapshot"], timeout=120))


def go_env(*names: str) -> list[str]:
    """`go env NAME...` with the local toolchain, one value per name ("" if go fails)."""
    try:
        out = subprocess.run(["go", "env", *names], capture_output=True, text=True, timeout=30,
                             env={**os.environ, "GOTOOLCHAIN": "local"}).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        out = []
    return [v.strip() for v in out] + [""] * (len(names) - len(out))


def cache_state() -> str:
    """Which build caches exist at the start, for the report: a fresh machine has none."""
    def has(p: str | Path) -> bool:
        try:
            return bool(p) and Path(p).is_dir() and any(Path(p).iterdir())
        except OSError:
            return False
    gomodcache, gocache = go_env("GOMODCACHE", "GOCACHE")
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    found = {
        "target/release": has(TARGET / "release"),
        "cargo registry": has(cargo_home / "registry"),
        "Go module cache": has(gomodcache),
        "Go build cache": has(gocache),
        "control plane": has(cache_root() / "control-plane"),
        "client-go-ref": has(cache_root() / "client-go-ref"),
        "images": has(cache_root() / "images"),
    }
    present = [k for k, v in found.items() if v]
    return ("none (a fresh machine)" if not present
            else "present: " + ", ".join(present) + "; absent: "
            + (", ".join(k for k, v in found.items() if not v) or "none"))
