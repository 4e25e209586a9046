"""results.json: reading it, and writing it keeping the sections a run did not measure
(bench/cluster.py's, and the scale part's with --no-scale). The local part's sections are
written by its Rust program (bench/main.rs, bench/results.rs)."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def write_results(out: Path, results: dict) -> None:
    """Writes the results file, keeping the "scale" and "cluster" sections of the one there
    when this run did not measure them (`--no-scale`; bench/cluster.py writes its section
    alone): each section carries its own command, times and source."""
    if out.exists():
        before = json.loads(out.read_text())
        for section in ("scale", "cluster"):
            if section not in results and before.get(section):
                results[section] = before[section]
    out.write_text(json.dumps(results, indent=1) + "\n")


def read_results(out: Path) -> dict:
    """The results file as it is, or {} if there is none yet."""
    return json.loads(out.read_text()) if out.exists() else {}


def with_python_facts(machine: dict) -> dict:
    """A machine section as the program wrote it, with what only Python knows in results.json's
    order: `platform` after `kernel`, `python` after `memory_gib`."""
    out = {}
    for k, v in machine.items():
        out[k] = v
        if k == "kernel":
            out["platform"] = platform.platform()
        if k == "memory_gib":
            out["python"] = platform.python_version()
    return out
