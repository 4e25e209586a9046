#!/usr/bin/env python3
"""k8sensus vs client-go in a real one-node cluster: delete the leader pod, roll out, crash it.

    python3 bench/cluster.py        (or `make bench-cluster`; `make bench` runs it after run.py)

The measuring is the bench program's cluster part (bench/cluster/, `cargo test --test bench
-- --cluster ...`, whose module doc says what it does and how). This entry point keeps what
is Python's around it (about 15 minutes in all on a 2-core machine once the binaries and the
images are cached; a cold first run also builds them, see hack/cluster/README.md):

1. the flags, the recorded command line and seed, and the benchmark's lock (one run at a
   time, with bench/run.py);
2. the bench program built (`cargo test --no-run`, as bench/run.py builds it);
3. client-go-ref built as bench/run.py builds it (a static Go binary, cached) and wrapped
   into an image on the distroless stand-in (`hack/cluster/images.py client-go-ref`,
   cached); then the program run with that image: it starts the
   cluster, deploys both, measures, writes its section, "cluster", and tears the cluster
   down, checking that nothing is left on the host and that the egress guard counted
   nothing;
4. the section merged into the results file (every other key kept), with the machine's
   `platform` and `python`, which only Python knows; then bench/render.py on the results.

Every process it starts dies with it (PR_SET_PDEATHSIG); Ctrl-C or SIGTERM reaches the bench
program as SIGTERM, which stops the cluster and checks the host before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import subprocess
import sys
import time
from pathlib import Path

from k8sbench import session
from k8sbench.build import build_bench_program, build_client_go_ref
from k8sbench.common import BENCH, LOG_DIR, REPO, T0, log
from k8sbench.processes import run_cmd, run_program
from k8sbench.results import read_results, with_python_facts, write_results

CLUSTER = REPO / "hack" / "cluster" / "cluster.py"
IMAGES = REPO / "hack" / "cluster" / "images.py"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--delete-trials", type=int, default=20)
    ap.add_argument("--crash-trials", type=int, default=20)
    ap.add_argument("--rollouts", type=int, default=5)
    ap.add_argument("--out", default=str(BENCH / "results.json"),
                    help="results file: its \"cluster\" section is replaced, every other key kept")
    ap.add_argument("--no-render", action="store_true", help="do not run bench/render.py at the end")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    return args


def can_run() -> bool:
    """Whether the cluster can run here (root, and hack/cluster/cluster.py check), after
    saying why not."""
    if os.geteuid() != 0 or subprocess.run([sys.executable, str(CLUSTER), "check"]).returncode != 0:
        log("error: the cluster cannot run here (see the line above); `make bench-cluster` needs root")
        return False
    return True


def client_go_image() -> tuple[Path, str, Path, bool]:
    """client-go-ref's binary and its image: (archive, NAME:TAG, binary, binary cached)."""
    binary, cached = build_client_go_ref()
    out = run_cmd([sys.executable, str(IMAGES), "client-go-ref", str(binary)], timeout=1800,
                  heartbeat="building or finding the client-go-ref image", show_stderr=True)
    _, archive, name = out.strip().splitlines()[-1].split()
    return Path(archive), name, binary, cached


def run_cluster_part(program: Path, args: argparse.Namespace, command: str, seed: int,
                     image: tuple[Path, str, Path, bool], build_since: float, section: Path) -> int:
    """The bench program's cluster part, to its end (processes.run_program: Ctrl-C or
    SIGTERM is passed on, and it is given the time to stop the cluster), its section written
    to `section`. Its exit status."""
    archive, name, binary, cached = image
    since = time.time() - (time.monotonic() - T0)
    argv = [str(program), "--cluster", "--delete-trials", str(args.delete_trials),
            "--crash-trials", str(args.crash_trials), "--rollouts", str(args.rollouts),
            "--client-go-image", name, "--client-go-archive", str(archive),
            "--client-go-bin", str(binary), *(["--client-go-cached"] if cached else []),
            "--seed", str(seed), "--out", str(section),
            "--log-dir", str(LOG_DIR / "cluster"), "--command", command,
            "--since", f"{since:.3f}", "--build-since", f"{build_since:.3f}"]
    return run_program(argv, "bench program's cluster part")


def main() -> int:
    args = parse_args()
    begun = session.begin(args.seed)  # its lock is held until main returns
    if begun is None:
        return 1
    command, seed, _lock = begun
    if not can_run():
        return 1
    try:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        program, _ = build_bench_program()
        # build_and_start_s: from here (the image) to the cluster up, as before the program.
        build_since = time.time()
        image = client_go_image()
        log(f"client-go-ref image {image[1]} ({image[0].name})")
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    with tempfile.TemporaryDirectory(prefix="k8sensus-bench-cluster-section-") as d:
        section = Path(d) / "cluster.json"
        try:
            code = run_cluster_part(program, args, command, seed, image, build_since, section)
        except KeyboardInterrupt:
            return 130
        if code != 0:
            return code
        merge_section(Path(args.out), json.loads(section.read_text()))
    return session.render_and_finish(args.out, args.no_render)


def merge_section(out: Path, sec: dict) -> None:
    """The "cluster" section into the results file, every other key kept, its machine with
    what only Python knows."""
    sec["machine"] = with_python_facts(sec["machine"])
    results = read_results(out)
    results["cluster"] = sec
    write_results(out, results)
    log(f"wrote the \"cluster\" section of {out}")


if __name__ == "__main__":
    sys.exit(main())
