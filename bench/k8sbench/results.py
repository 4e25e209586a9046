"""results.json: writing it (keeping the section bench/cluster.py owns), and the local
part's figures as it keeps them."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from .common import SHORT_TIMINGS, T0, TIMINGS
from .control_plane import audit_totals
from .provenance import machine_section, sha256
from .replicas import Replica
from .stats import ok_values, trial_summaries
from .timeline import timeline


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


def method(lanes: int) -> dict:
    """How each figure of the local part was measured, as results.json says it."""
    return {
        "crash_failover_s": "kill -9 of the leader; from the old holder's last renewTime seen by "
                            "the driver's watch to the new holder's acquireTime (both written by "
                            "the replicas, one host, one wall clock)",
        "crash_failover_seen_s": "same start; end when the driver's watch received the new holder",
        "graceful_handoff_s": "from the driver sending SIGTERM to the new holder's acquireTime",
        "graceful_handoff_seen_s": "from SIGTERM to the driver's watch receiving the new holder",
        "api_load": "kube-apiserver audit log (level Metadata, Lease requests by ServiceAccounts), "
                    "one ServiceAccount per replica; requests counted by auditID with "
                    "requestReceivedTimestamp in the window; a WATCH counts once, when opened; "
                    "per-role rates are requests made while in that role divided by the time "
                    "spent in it (standby: mean per standby)",
        "rss_mib": "VmRSS from /proc/PID/status at the end of the steady-state window, mean "
                   "over the 3 replicas of the steady-state set (each up for minutes)",
        "binary_mib": "file size of the stripped binary / 2^20",
        "first_leadership_s": "from spawning one replica on a namespace without the Lease "
                              "to its acquireTime; median",
        "percentiles": "linear interpolation between closest ranks",
        "concurrency": "every replica set has its own namespace and Lease. Steady state (API "
                       "load, memory) is measured on one set per implementation that no trial "
                       "touches, while the trials run on the others. Crash trials run on "
                       f"{lanes} lane(s) per implementation, all at the same time; graceful "
                       "trials then run on the first lane, one trial at a time, alternating "
                       "between the implementations",
        "lanes": lanes,
        "machine_load": "share of all CPUs busy (/proc/stat) and 1-min load average, sampled "
                        "every 2 s by the driver; it includes the benchmark's own processes and "
                        "anything else running on the host",
    }


def local_results(run, f) -> dict:
    """results.json from the local part's figures (local.Figures): the run's provenance, then
    each implementation's figures and timeline, then every request of the whole run."""
    results = run_header(run, f.finished_at)
    for k in run.impls:
        results[k] = impl_figures(run, f, k)
        # The picture follows the first lane, which ran both kinds of trial.
        key, first_lane = run.impls[k]["key"], f.lanes[k][0]
        ids = [r.identity for r in first_lane.replicas]
        evs = run.watcher.all(first_lane.ns)
        mk = [m for m in run.markers if m["ns"] == first_lane.ns]
        mine = [t for t in f.crash[key] if t.get("ns") == first_lane.ns]
        results["timeline"][k] = {"crash": timeline(evs, mk, mine, "crash", ids),
                                  "graceful": timeline(evs, mk, f.graceful[key], "graceful", ids)}
    watcher = run.watcher
    results["watch"] = {"reconnects": watcher.reconnects, "relists": watcher.relists,
                        "errors": watcher.errors[-10:]}
    time.sleep(1.0)
    totals = audit_totals(run.audit_log, {n: k for (k, _), n in f.ns.items()},
                          run.started_at.timestamp(), time.time())
    for k in run.impls:
        results[k]["argv"] = Replica(run.impls[k], "NAMESPACE", 0, Path("KUBECONFIG"), TIMINGS).argv()
        results[k]["api_requests_whole_run"] = totals.get(k, {})
    return results


def run_header(run, finished_at) -> dict:
    """The keys of results.json before the implementations': when, how long, the builds,
    the machine, the source, the timings and the method."""
    args = run.args
    return {
        "command": run.command,
        "generated_at": finished_at.isoformat(timespec="seconds"),
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - T0, 1),
        "build": {
            "k8sensus": {"seconds": round(run.t_built_rust - run.t_build0, 1),
                         "cached": bool(args.skip_build)},
            "client_go_ref": {"seconds": round(run.t_built_go - run.t_built_rust, 1), "cached": run.go_cached},
            "control_plane": run.cp_build,
            "images": run.images_build,
            "measuring_s": round(time.monotonic() - run.t_built, 1),
            "caches": run.caches,
        },
        "seed": run.seed,
        "machine": machine_section(run.load_at_start, run.sampler),
        "source": {**run.source, "k8sensus_binary_sha256": sha256(run.rust_bin),
                   "client_go_ref_binary_sha256": sha256(run.go_bin),
                   "client_go_version": "v0.33.13",
                   "kubernetes_version": run.cp.state.get("kubernetes_version"), "etcd_version": "v3.5.21"},
        "timings": TIMINGS,
        "short_timings": SHORT_TIMINGS,
        "method": method(args.lanes),
        "timeline": {},
    }


def impl_figures(run, f, k: str) -> dict:
    """One implementation's figures (k: its impls key)."""
    key = run.impls[k]["key"]
    L, M = f.load[key], f.mem[key]
    binp = run.impls[k]["bin"]
    fl = ok_values(f.first[k], "first_leadership_s")
    return {
        "binary_path": str(binp),
        **trial_summaries(f.crash[key], f.graceful[key]),
        "standby_requests_per_s": L["standby_requests_per_s"],
        "standby_requests_per_s_max": L["standby_requests_per_s_max"],
        "leader_requests_per_s": L["leader_requests_per_s"],
        "leader_reads_per_s": L["leader_reads_per_s"],
        "leader_writes_per_s": L["leader_writes_per_s"],
        "leader_writes_in_window": L["leader_writes_in_window"],
        "leader_writes_allowed": L["leader_writes_allowed"],
        "leader_write_interval_s": L["leader_write_interval_s"],
        "requests_by_verb_per_s": L["by_verb_per_s"],
        "api_load": L,
        "rss_mib": M["rss_mib"],
        "rss_per_replica": M["per_replica"],
        "binary_mib": binp.stat().st_size / 2**20,
        "binary_bytes": binp.stat().st_size,
        "first_leadership_s": statistics.median(fl) if fl else None,
        "first_leadership_runs_s": fl,
        "short": trial_summaries(f.short_crash[key], f.short_graceful[key]),
        "raw": {"crash": f.crash[key], "graceful": f.graceful[key], "short_crash": f.short_crash[key],
                "short_graceful": f.short_graceful[key], "first_leadership": f.first[k],
                "process_exits": {f"{rs.ns}/{r.identity}": r.exits for rs in run.sets
                                  if rs.impl["key"] == key for r in rs.replicas}},
    }
