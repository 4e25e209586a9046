"""The local part of bench/run.py, 3 replicas per set: the steady state beside the crash
trials, then the graceful trials, then (if asked for) the short timings, then first
leadership. Its steps, in that order, each taking the run's shared state (driver.Run)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from .common import SHORT_TIMINGS, T0, TIMINGS, log
from .replicas import ReplicaSet, setup_namespaces
from .results import local_results
from .schedule import drive, run_all
from .steady import g_steady_window, steady_state
from .trials import (first_leadership, g_crash_trials, g_graceful_alternating, g_wait_leaders, lanes_of,
                     progress, settle_time)


@dataclass
class Figures:
    """What the local part measured, by implementation key ("k8sensus", "client-go") for the
    trials and by impls key ("k8sensus", "client_go") for the rest, as results.py reads it."""
    ns: dict  # (impls key, part) -> namespace
    lanes: dict = field(default_factory=dict)  # impls key -> its lane ReplicaSets
    crash: dict = field(default_factory=dict)
    graceful: dict = field(default_factory=dict)
    mem: dict = field(default_factory=dict)
    load: dict = field(default_factory=dict)
    short_crash: dict = field(default_factory=dict)
    short_graceful: dict = field(default_factory=dict)
    first: dict = field(default_factory=dict)
    finished_at: dt.datetime | None = None


def measure(run) -> dict:
    """Every step of the local part; returns results.json without its scale section."""
    lane_names = [f"lane{chr(ord('a') + i)}" for i in range(run.args.lanes)]
    f = Figures(ns=namespaces(run, lane_names))
    kubeconfigs = setup_namespaces(run.cp, run.work, sorted(f.ns.values()))
    log(f"namespaces ready: {', '.join(sorted(f.ns.values()))}")
    # -- 15s/10s/2s: steady state and memory beside crash, then graceful ----
    steady_sets, f.lanes = start_sets(run, f.ns, kubeconfigs, lane_names)
    window: dict = {}
    steady_gen = g_steady_window(steady_sets, run.args.steady_seconds, 15.0, window, run.sampler)
    f.crash = crash_trials(run, f.lanes, steady_gen)
    f.graceful = graceful_trials(run, f.lanes, steady_gen)
    f.mem, f.load = close_window(run, steady_sets, steady_gen, window)
    # -- 4s/3s/0.5s ---------------------------------------------------------
    f.short_crash, f.short_graceful = short_trials(run, f.ns, kubeconfigs)
    # -- first leadership ---------------------------------------------------
    run.sampler.phase("first leadership")
    log(f"time to first leadership on an empty namespace, {run.args.first_runs} runs each")
    f.first = first_leadership(run.cp, run.watcher, {k: (run.impls[k], f.ns[(k, "first")]) for k in run.impls},
                               kubeconfigs, TIMINGS, run.args.first_runs)
    f.finished_at = dt.datetime.now(dt.timezone.utc)
    return local_results(run, f)


def namespaces(run, lane_names: list[str]) -> dict:
    """{(impls key, part): namespace}. The run's seed is in every name: ServiceAccount names
    in the audit log then belong to this run alone, even if another run writes to the same
    audit log."""
    return {(k, p): f"bench-{run.seed % 100000}-{p}-{run.impls[k]['key']}" for k in run.impls
            for p in ("steady", *lane_names, "short", "first")}


def start_sets(run, ns: dict, kubeconfigs: dict, lane_names: list[str]) -> tuple[list, dict]:
    """Per implementation, the steady-state set and the lanes, started, each with a leader."""
    impls = run.impls

    def sets_of(k, part):
        return ReplicaSet(impls[k], ns[(k, part)], kubeconfigs, TIMINGS, run.watcher, run.markers)
    steady_sets = [sets_of(k, "steady") for k in impls]
    lanes = {k: [sets_of(k, lane) for lane in lane_names] for k in impls}
    lane_sets = [rs for k in impls for rs in lanes[k]]
    run.sets += steady_sets + lane_sets
    for rs in steady_sets + lane_sets:
        rs.start_all()
    log(f"started {len(steady_sets + lane_sets)} sets of 3 replicas (15s/10s/2s): per "
        f"implementation one for the steady state and {run.args.lanes} for the trials; waiting for leaders")
    drive(g_wait_leaders(steady_sets + lane_sets, 120))
    for rs in steady_sets + lane_sets:
        log(f"{rs.ns}: leader {run.watcher.latest(rs.ns)['holder']}")
    return steady_sets, lanes


def crash_trials(run, lanes: dict, steady_gen) -> dict:
    """The crash trials on every lane of both implementations at once, the steady-state
    window stepped beside them; every lane but the first is stopped after."""
    impls, args = run.impls, run.args
    crash = {impls[k]["key"]: [] for k in impls}
    run.sampler.phase("crash trials")
    log(f"crash failover (kill -9 of the leader), {args.crash_trials} trials each, "
        f"{args.lanes} lane(s) per implementation, all at once")
    run_all(*[g_crash_trials(rs, trials, "crash 15s", crash[impls[k]["key"]], progress)
              for k in impls for rs, trials in zip(lanes[k], lanes_of(args.crash_trials, args.lanes))],
            beside=[steady_gen])
    for k in impls:
        crash[impls[k]["key"]].sort(key=lambda t: t["trial"])
        for rs in lanes[k][1:]:
            rs.stop_all()
    return crash


def graceful_trials(run, lanes: dict, steady_gen) -> dict:
    """The graceful trials on the first lanes, alternating, the window still beside them."""
    impls = run.impls
    graceful = {impls[k]["key"]: [] for k in impls}
    run.sampler.phase("graceful trials")
    log(f"graceful handoff (SIGTERM to the leader), {run.args.graceful_trials} trials each, alternating")
    run_all(g_graceful_alternating([lanes[k][0] for k in impls], run.args.graceful_trials,
                                   "graceful 15s", graceful, progress), beside=[steady_gen])
    for k in impls:
        lanes[k][0].stop_all()
    return graceful


def close_window(run, steady_sets: list, steady_gen, window: dict) -> tuple[dict, dict]:
    """The rest of the steady-state window, then its memory and its API load."""
    if not window:
        run.sampler.phase("rest of the steady-state window")
        log("waiting for the steady-state window to close")
    drive(steady_gen)
    run.sampler.phase("")
    for rs in steady_sets:
        rs.stop_all()
    mem = window["memory"]
    load = steady_state(steady_sets, run.audit_log, window["t0"], window["t1"])
    for rs in steady_sets:
        L, M = load[rs.impl["key"]], mem[rs.impl["key"]]
        log(f"{rs.impl['key']:9s}: standby {L['standby_requests_per_s']:.3f} req/s, leader "
            f"{L['leader_requests_per_s']:.3f} req/s ({L['leader_reads_per_s']:.3f} reads/s), "
            f"RSS {M['rss_mib']:.1f} MiB")
    return mem, load


def short_trials(run, ns: dict, kubeconfigs: dict) -> tuple[dict, dict]:
    """With --short-crash-trials or --short-graceful-trials: 3 replicas of each with the
    short timings, crash trials on both at once, then graceful trials alternating if the
    budget allows."""
    impls, args, sampler = run.impls, run.args, run.sampler
    short_crash = {impls[k]["key"]: [] for k in impls}
    short_graceful = {impls[k]["key"]: [] for k in impls}
    if not (args.short_crash_trials or args.short_graceful_trials):
        return short_crash, short_graceful
    short_sets = [ReplicaSet(impls[k], ns[(k, "short")], kubeconfigs, SHORT_TIMINGS, run.watcher, run.markers)
                  for k in impls]
    run.sets += short_sets
    sampler.phase("")
    for rs in short_sets:
        rs.start_all()
    log("started 3 replicas of each with short timings (4s/3s/0.5s)")
    drive(g_wait_leaders(short_sets, 60))
    if args.short_crash_trials:
        sampler.phase("crash trials, short timings")
        log(f"crash failover, short timings, {args.short_crash_trials} trials each, both at once")
        run_all(*[g_crash_trials(rs, range(args.short_crash_trials), "crash 4s", short_crash[rs.impl["key"]],
                                 progress) for rs in short_sets])
    if args.short_graceful_trials:
        short_graceful_within_budget(run, short_sets, short_graceful)
    sampler.phase("")
    for rs in short_sets:
        rs.stop_all()
    return short_crash, short_graceful


def short_graceful_within_budget(run, short_sets: list, short_graceful: dict) -> None:
    """The short-timing graceful trials, skipped (and --short-graceful-trials set to 0) if
    they would end the run past --budget-minutes."""
    args = run.args
    per_trial = 2 * (settle_time(SHORT_TIMINGS) + SHORT_TIMINGS["retry_period_s"] + 1.5)
    projected = (time.monotonic() - T0) + args.short_graceful_trials * per_trial + 60
    if projected > args.budget_minutes * 60:
        log(f"skipping short-timing graceful trials: projected end {projected / 60:.1f} min "
            f"> budget {args.budget_minutes:.0f} min")
        args.short_graceful_trials = 0
    else:
        run.sampler.phase("graceful trials, short timings")
        log(f"graceful handoff, short timings, {args.short_graceful_trials} trials each, alternating")
        drive(g_graceful_alternating(short_sets, args.short_graceful_trials, "graceful 4s",
                                     short_graceful, progress))
