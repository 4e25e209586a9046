#!/usr/bin/env python3
"""k8sensus vs client-go in a real one-node cluster: delete the leader pod, roll out, crash it.

    python3 bench/cluster.py        (or `make bench-cluster`; `make bench` runs it after run.py)

What it does, unattended (about 15 minutes on a 2-core machine once the binaries and the
images are cached; a cold first run also builds them, see hack/cluster/README.md):

1. builds client-go-ref as bench/run.py does (a static Go binary, cached) and wraps it into
   an image on the distroless stand-in (`hack/cluster/images.py client-go-ref`, cached);
2. starts the one-node cluster (`hack/cluster/cluster.py run --lifeline-stdin`, which builds
   or finds k8sensus:0.1.0 from the Dockerfile) with that image imported too;
3. deploys k8sensus exactly as the README does (`kubectl apply -k .`, namespace `k8sensus`)
   and the reference from an overlay of the same kustomization (namespace `client-go`):
   the same Namespace, RBAC, Deployment (3 replicas, maxSurge 1, maxUnavailable 0, the
   probes on :8080, the 15s/10s/2s defaults, a task every 10 s), with only the image and
   the arguments changed. Each has its own Lease, k8sensus-lease in its own namespace;
4. measures, per implementation (both deployments run at the same time, see "Alongside"):
   - apply: `kubectl apply` on an empty namespace to the first work;
   - delete: `kubectl delete pod <leader>` to the new holder's acquireTime, and to the new
     leader's first work (20 trials);
   - rollout: `kubectl rollout restart` (5 trials): the handovers, the leaderless time from
     one term's end of work to the next term's start, and any overlap of two terms;
   - crash: SIGKILL of the leader's container process (its host PID from containerd), so
     that the kubelet restarts the container, to the next work by any pod (20 trials);
     each crashed pod is then deleted, so that the next trial's leader is a pod the kubelet
     has no restart back-off for;
5. merges its section, "cluster", into bench/results.json (every other key kept) and runs
   bench/render.py.

Work is read from the pods' own log lines, from the kubelet's log files under the cluster's
state directory (DIR/pod-logs), tailed every 50 ms so that a deleted pod's last lines are
kept: the start of a term's work (`event` work_started), each run (work_run) and its stop
(work_stopped), each with `mono_ns`, the host's
CLOCK_MONOTONIC, which every container shares with this driver. Terms and overlaps follow
tests/support/overlap.rs. The Lease is watched through the API (the LeaseWatcher of
bench/run.py's scale part, in bench/k8sbench/lease_watch.py).

Alongside: the two deployments run at the same time, each through its own sequence of
phases, but the moments that matter are taken in turns: a trial holds the cluster-wide turn
from its fault to the end of the churn it causes (the replacement pod Ready, the rollout
finished, the crashed container running again, the crashed pod replaced), and no other
trial starts a fault meanwhile. Only the quiet waits overlap (a crash trial's wait for the
lease to expire, a settle between trials). Each trial records what the other deployment
was doing when its fault was injected.

Only the standard library, and the helpers it shares with bench/run.py (bench/k8sbench/).
Every process it starts dies with it (PR_SET_PDEATHSIG), and the cluster tears itself down
when its stdin closes, which the finally block does on every exit path (an error, Ctrl-C,
SIGTERM).

This file is the entry point: the flags, and the steps in their order. The steps live in
bench/k8sbench/cluster/ (bench/k8sbench/__init__.py has the layout).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from k8sbench import session
from k8sbench.cluster import driver
from k8sbench.common import BENCH, BenchError, log
from k8sbench.results import read_results, write_results


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


def main() -> int:
    args = parse_args()
    begun = session.begin(args.seed)  # its lock is held until main returns
    if begun is None:
        return 1
    command, seed, _lock = begun
    if not driver.can_run():
        return 1
    run = driver.prepare(args, command, seed)
    left: list[str] = []
    try:
        driver.start(run)
        driver.apply(run)
        driver.trials(run)
        sec = driver.cluster_section(run)
        out = Path(args.out)
        results = read_results(out)
        results["cluster"] = sec
        write_results(out, results)
        log(f"wrote the \"cluster\" section of {out}")
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        left = driver.stop_everything(run)
    if left:
        return 1
    return session.render_and_finish(args.out, args.no_render)


if __name__ == "__main__":
    sys.exit(main())
