"""Where the figures come from: the machine, the git commit and the build inputs, the build
caches found at the start, the binaries' hashes."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

from .build import TARGET, cache_root
from .common import REPO


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                               timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        rustc = None
    return {"hostname": platform.node(), "kernel": platform.release(), "platform": platform.platform(),
            "cpu_model": cpu, "cpus": os.cpu_count(), "memory_gib": mem,
            "python": platform.python_version(), "go": go_env("GOVERSION")[0] or None,
            "rustc": rustc}


def machine_section(load_at_start: tuple, sampler) -> dict:
    """The machine as results.json records it: machine_info(), the load averages at the
    start and now, and the LoadSampler's load per phase (which closes its current phase)."""
    return {**machine_info(), "loadavg_at_start": [round(x, 2) for x in load_at_start],
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "load_by_phase": sampler.summary()}


def git_info() -> dict:
    def git(*a):
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", ".", ":!bench",
                             ":!BENCHMARKS.md"], capture_output=True, text=True).stdout
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": git("rev-parse", "HEAD"), "commit_short": git("rev-parse", "--short", "HEAD"),
            "commit_subject": git("log", "-1", "--format=%s"), "dirty_paths": dirty,
            "dirty": bool(dirty)}


BUILD_INPUTS = ("Cargo.toml", "Cargo.lock", "build.rs", "src/")


def source_snapshot() -> dict:
    """The git commit, and a hash of what `make build` compiles (src/, Cargo.toml,
    Cargo.lock), so that a binary built while others commit is still identified."""
    h = hashlib.sha256()
    files = [REPO / "Cargo.toml", REPO / "Cargo.lock", REPO / "build.rs"]
    files += sorted(p for p in (REPO / "src").rglob("*") if p.is_file())
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    g = git_info()
    g["build_inputs_sha256"] = h.hexdigest()
    g["build_inputs_dirty"] = [p for p in g["dirty_paths"]
                               if p.startswith("src/") or p in BUILD_INPUTS]
    return g


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


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()
