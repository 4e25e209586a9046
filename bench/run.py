#!/usr/bin/env python3
"""k8sensus vs client-go: failover time, API load, memory and size, on real API servers.

    python3 bench/run.py            (or `make bench`)

What it does, unattended (in about 9 minutes on a 2-core machine once both
electors and the control plane are built, plus the scale part):

1. builds both electors if needed: `make build` (target/release/k8sensus) and
   bench/client-go-ref (client-go's tools/leaderelection with a LeaseLock), the
   latter cached outside the repository like the control plane binaries;
2. builds the benchmark's program (bench/main.rs, `cargo test --test bench
   --no-run`), which starts its own etcd + kube-apiserver
   (hack/control-plane/controlplane.py run --lifeline-stdin) with an audit log of
   every request made by a ServiceAccount (a wrapper around kube-apiserver, see
   tests/support/audit.rs), for the local part and again for the scale part;
3. gives each replica set its own namespace, rbac.yaml applied there, and
   one ServiceAccount per replica (so that the audit log attributes every
   request to a replica); per implementation: one set left alone for the
   steady-state window, and --lanes sets (default 2) that share the crash
   trials; the first lane then runs the graceful trials;
4. measures, from the outside, through a watch on the Leases and the audit log:
   steady-state API load and memory (on the untouched sets, while the trials
   run on the others), crash failover (kill -9 of the leader), graceful
   handoff (SIGTERM to the leader, one trial at a time), first leadership on
   an empty namespace; with 15s/10s/2s timings and, if asked for
   (--short-crash-trials, --short-graceful-trials), labelled apart, with
   4s/3s/0.5s;
5. at scale (--scale, default N = 3, 10, 30, 100; skipped with --no-scale, run
   alone with --scale-only or `make bench-scale`): for each N, per
   implementation a trial set of N replicas on one Lease, crash trials on both
   at once, graceful trials alternating, and the requests each takeover caused,
   from the audit log; beside the trials, a steady set of N replicas per
   implementation, each on a control plane of its own (started once for the
   part), both in their steady-state window at once (requests per standby,
   that kube-apiserver's CPU seconds from its own /metrics, RSS); about 14
   minutes with the defaults;
6. writes bench/results.json (--scale-only: only its "scale" section, every other
   key kept) and runs bench/render.py (BENCHMARKS.md, bench/*.svg).

Steps 3 to 5 are the Rust program's (bench/main.rs, on the test harness the
chaos suite shares): this script runs it once for the local part, passing it the
binaries, the seed, the trial counts and the steady seconds, and merges what it
alone knows (the builds) into its results; then once more with --scale-only for
the scale part (bench/scale/), which writes its section into the results file
itself, every other key kept.

Only the standard library. Every process it starts is tied to it with
PR_SET_PDEATHSIG (they are all started from the main thread, since the signal
follows the thread that forked) and stopped in a finally block.

This file is the entry point: the flags, and the parts in their order. The parts
live in bench/k8sbench/ (its __init__.py has the layout).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from k8sbench import driver, local, scale_part, session
from k8sbench.common import BENCH, BenchError, log
from k8sbench.results import write_results
from k8sbench.scale_part import SCALE_NS


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crash-trials", type=int, default=20,
                    help="crash trials per implementation, shared between its lanes")
    ap.add_argument("--lanes", type=int, default=2,
                    help="replica sets per implementation that run crash trials side by side, each "
                         "on its own Lease (default 2); the first one then runs the graceful trials")
    ap.add_argument("--graceful-trials", type=int, default=20)
    ap.add_argument("--short-crash-trials", type=int, default=0,
                    help="also crash trials with 4s/3s/0.5s timings (default 0: skipped, to keep "
                         "a fresh machine's run within 30 minutes)")
    ap.add_argument("--short-graceful-trials", type=int, default=0,
                    help="also graceful trials with 4s/3s/0.5s timings (default 0: skipped)")
    ap.add_argument("--steady-seconds", type=float, default=360.0,
                    help="steady-state window; a k8sensus standby re-reads and re-watches every "
                         "120 to 180 s, so the window must hold at least two of those")
    ap.add_argument("--first-runs", type=int, default=5)
    ap.add_argument("--budget-minutes", type=float, default=28.0,
                    help="skip the short-timing graceful trials if they would end the run past this")
    ap.add_argument("--out", default=str(BENCH / "results.json"))
    ap.add_argument("--no-render", action="store_true", help="do not run bench/render.py at the end")
    ap.add_argument("--skip-build", action="store_true",
                    help="use the existing target/release/k8sensus instead of running `make build`")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--images", action="store_true",
                    help="also build the cluster part's images (hack/cluster/images.py build) "
                         "alongside the other builds, before measuring: `make bench` passes it "
                         "when the cluster part will run")
    sc = ap.add_argument_group("at scale", "one Lease with N candidates, for each N (`make bench-scale` "
                               "runs this part alone, keeping the rest of the results file)")
    sc.add_argument("--scale", default=",".join(map(str, SCALE_NS)),
                    help="the numbers of candidates, comma-separated (default %(default)s)")
    sc.add_argument("--no-scale", action="store_true", help="skip the scale part")
    sc.add_argument("--scale-only", action="store_true",
                    help="run only the scale part and merge its section into --out")
    sc.add_argument("--scale-crash-trials", type=int, default=5,
                    help="crash trials per implementation and N (default 5: the whole run must fit "
                         "in 60 minutes on a fresh 2-core machine)")
    sc.add_argument("--scale-graceful-trials", type=int, default=5)
    sc.add_argument("--scale-steady-seconds", type=float, default=120.0,
                    help="each steady-state window at scale (one per implementation and N, both "
                         "implementations' at once, beside the trials, each on a control plane of its own; "
                         "it closes at least 185 s after the steady sets have leaders, so that it holds "
                         "each k8sensus standby's first resync)")
    args = ap.parse_args()
    try:
        args.scale = [] if args.no_scale else [int(x) for x in args.scale.split(",") if x.strip()]
    except ValueError:
        ap.error("--scale takes numbers separated by commas")
    if args.scale_only and not args.scale:
        ap.error("--scale-only with no N to run")
    if any(n < 2 for n in args.scale):
        ap.error("--scale: every N must be at least 2 (a takeover needs a standby)")
    if args.lanes < 1:
        ap.error("--lanes must be at least 1")
    if args.steady_seconds < 60:
        log("note: --steady-seconds below 60 does not meet the benchmark's definition")
    return args


def main() -> int:
    args = parse_args()
    begun = session.begin(args.seed)  # its lock is held until main returns
    if begun is None:
        return 1
    command, seed, _lock = begun
    run = driver.prepare(args, command, seed)
    try:
        driver.build(run)
        driver.get_control_plane_binaries(run)
        driver.finish_images(run)
        out = Path(args.out)
        if not args.scale_only:
            write_results(out, local.measure(run))
            log(f"wrote {out}")
        if args.scale:
            # The scale part's program writes its section into the results file, every other
            # key kept (with --scale-only, the file as it was).
            scale_part.measure(run)
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        driver.stop_everything(run)
    return session.render_and_finish(args.out, args.no_render)


if __name__ == "__main__":
    sys.exit(main())
