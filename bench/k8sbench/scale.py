"""At scale: one Lease with N candidates, for each N. The trials run on the run's control
plane; beside them, each implementation's steady-state window runs on a control plane of its
own (scale_planes), so that its kube-apiserver's CPU and audit log belong to that
implementation alone while both windows and the trials run at the same time."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from pathlib import Path

from .common import LOG_DIR, TIMINGS, BenchError, elapsed, fs_log, log
from .control_plane import audit_counts
from .provenance import sha256
from .replicas import ReplicaSet, setup_namespaces
from .scale_planes import SteadyPlane, launch_steady_planes, stop_steady_planes, wait_steady_planes
from .schedule import drive, g_sleep, run_all
from .stats import trial_summaries
from .steady import memory, steady_state
from .results import write_results
from .trials import g_crash_trials, g_graceful_alternating, g_wait_leaders, progress


SCALE_NS = (3, 10, 30, 100)
SETTLE_S = 15.0  # from the steady sets' leaders to the earliest opening of their windows
# A k8sensus standby re-reads the Lease and re-opens its watch 120 to 180 s after it opened
# the last one (src/elector/config.rs: DEFAULT_RESYNC_PERIOD, 150 s, ±20 % jitter).
K8SENSUS_RESYNC_S = (120.0, 180.0)
RESYNC_MARGIN_S = 5.0


def window_span(leaders_t: float, seconds: float, settle: float) -> tuple[float, float]:
    """(t0, t1) of the steady-state windows of sets started together that all had a renewed
    leader at `leaders_t`: `seconds` long, opening `settle` s after that at the earliest, and
    closing no earlier than RESYNC_MARGIN_S after the latest first resync of a k8sensus
    standby whose watch was open by `leaders_t`. With the default 120 s, and sets that had
    their leaders within 55 s of starting, the window then holds every standby's first resync
    (it opens 65 s after `leaders_t`, before any can come) and no second one (240 s or more
    after the standby started), however the jitter fell: one resync per standby."""
    t1 = max(leaders_t + settle + seconds, leaders_t + K8SENSUS_RESYNC_S[1] + RESYNC_MARGIN_S)
    return t1 - seconds, t1


def g_scale_windows(sets: dict, planes: dict, seconds: float, settle: float, out: dict):
    """Both implementations' steady-state windows at once ({impls key: ReplicaSet} on the
    SteadyPlane of the same key), over the same span (window_span()): each steady control
    plane's kube-apiserver CPU seconds over it (from its /metrics) and every replica's
    memory at its end, into out[impls key]. Each steady control plane serves that one set
    and the driver's watch, nothing else. Stepped beside the trials, which run on the run's
    control plane."""
    yield from g_wait_leaders(list(sets.values()), 180)
    t0, t1 = window_span(time.time(), seconds, settle)
    yield from g_sleep(t0 - time.time())
    cpu0 = {k: planes[k].cp.cpu_seconds() for k in sets}
    t0 = time.time()
    log(f"scale: steady windows on {', '.join(rs.ns for rs in sets.values())} "
        f"({len(next(iter(sets.values())).replicas)} replicas each, each on its own control plane) "
        f"for {seconds:.0f} s")
    yield from g_sleep(seconds)
    cpu1 = {k: planes[k].cp.cpu_seconds() for k in sets}
    t1 = time.time()
    for rs in sets.values():
        if not all(r.alive() for r in rs.replicas):
            raise BenchError(f"a replica of {rs.ns} exited during the steady-state window; see {LOG_DIR}")
    mem = memory(list(sets.values()))
    for k, rs in sets.items():
        out[k] = {"t0": t0, "t1": t1, "cpu_s": cpu1[k] - cpu0[k], "memory": mem[rs.impl["key"]]}
    log("scale: steady windows closed")


def takeover_requests(audit_log: Path, rs: ReplicaSet, trials: list[dict], kind: str) -> list[dict]:
    """For each good trial, every request (any resource) by the set's replicas but the old
    leader's slot, received from the moment the takeover could begin (crash: the old
    holder's last renewal + the lease duration; graceful: SIGTERM) to one retry period
    after the new holder's acquireTime. The old leader's slot is left out: its process is
    dead or exiting, and the restarted one's start-up requests are not the takeover's. The new
    holder's requests count up to half a retry period after its acquireTime: the winning write
    and what comes with it, not its first renewal."""
    t = rs.timings
    good = [x for x in trials if x.get("ok")]
    if not good:
        return []

    def span(x):
        start = x["last_renew_t"] + t["lease_duration_s"] if kind == "crash" else x["sigterm_t"]
        return start, x["acquire_t"] + t["retry_period_s"]
    spans = [span(x) for x in good]
    seen = audit_counts(audit_log, min(a for a, _ in spans), max(b for _, b in spans), leases_only=False)
    out = []
    for x, (a, b) in zip(good, spans):
        skip = f"system:serviceaccount:{rs.ns}:replica-{rs.by_id[x['old']].slot}"
        winner = f"system:serviceaccount:{rs.ns}:replica-{rs.by_id[x['new']].slot}"
        by = {}
        for user, reqs in seen.items():
            if not user.startswith(f"system:serviceaccount:{rs.ns}:") or user == skip:
                continue
            # The new holder's renewals, one retry period on, are the leader's steady work.
            end = x["acquire_t"] + t["retry_period_s"] / 2 if user == winner else b
            for q in reqs.values():
                if a <= q["t"] <= end:
                    k = f"{q['resource']} {q['verb']} {q['code']}"
                    by[k] = by.get(k, 0) + 1
        out.append({"trial": x["trial"], "from_t": a, "to_t": b, "requests": sum(by.values()),
                    "by_request": dict(sorted(by.items()))})
    return out


def measure(run, results: dict) -> None:
    """The scale part, its section put into `results` and the results file written after
    each N (and at the end)."""
    def save(section):
        save_section(run, results, section)
    save(scale_part(run, save))


def save_section(run, results: dict, section: dict) -> None:
    """The scale section with the run's provenance, written at once."""
    section["command"] = run.command
    section["seed"] = run.seed
    section["source"] = {**run.source, "k8sensus_binary_sha256": sha256(run.rust_bin),
                         "client_go_ref_binary_sha256": sha256(run.go_bin),
                         "kubernetes_version": run.cp.state.get("kubernetes_version")}
    section["machine"] = {"cpus": os.cpu_count(), "load_by_phase": [
        p for p in run.sampler.summary() if p["phase"].startswith("scale")]}
    results["scale"] = section
    write_results(Path(run.args.out), results)
    log(f"wrote {run.args.out} (scale: N = {', '.join(map(str, section['ns']))}"
        f"{'' if section['complete'] else ', so far'})")


def scale_part(run, save) -> dict:
    """The steady control planes started once; then for each N: both implementations' trial
    sets of N replicas on the run's control plane and steady sets of N replicas on their
    steady control planes, all started together; crash trials on both trial sets at once,
    then graceful trials alternating, and beside them both steady-state windows at once
    (g_scale_windows()); the trial sets are stopped when their trials end, the steady sets
    when the windows close. After each N, `save` gets the section so far (its "ns" the N
    done, "complete" false until the last), so that a run cut short keeps them."""
    args, impls = run.args, run.impls
    t_start = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    planes = launch_steady_planes(run)
    names, steady_names = scale_namespaces(run.seed, {k: impls[k]["key"] for k in impls}, args.scale)
    # The trial control plane's namespaces while the steady ones come up.
    kubeconfigs = setup_namespaces(run.cp, run.work, sorted(names.values()),
                                   {v: n for (k, n), v in names.items()})
    wait_steady_planes(planes)
    for k, plane in planes.items():
        mine = {v: n for (kk, n), v in steady_names.items() if kk == k}
        kubeconfigs.update(setup_namespaces(plane.cp, run.work, sorted(mine), mine))
    log(f"scale: namespaces ready for N = {', '.join(map(str, args.scale))}, on the trial control "
        "plane and on each steady control plane")
    res = {k: {} for k in impls}
    done: list[int] = []

    def section(res, done, complete):
        return scale_section(res, done, complete, started_at=started_at, t_start=t_start,
                             timings=TIMINGS, args=args)
    for n in args.scale:
        t_n = time.monotonic()
        rsets, steady = start_sets(run, planes, {k: names[(k, n)] for k in impls},
                                   {k: steady_names[(k, n)] for k in impls}, kubeconfigs, n)
        windows: dict = {}
        steady_gen = g_scale_windows(steady, planes, args.scale_steady_seconds, SETTLE_S, windows)
        crash, graceful = trials(run, rsets, n, steady_gen)
        close_windows(run, steady, steady_gen, windows, n)
        for k in impls:
            res[k][str(n)] = figures(run, rsets[k], steady[k], planes[k], crash, graceful, windows[k], n)
        log(f"scale N={n}: done in {elapsed(time.monotonic() - t_n)}")
        done.append(n)
        save(section(res, done, done == list(args.scale)))
    stop_steady_planes(run)
    return section(res, done, True)


def scale_namespaces(seed: int, keys: dict, ns: list[int]) -> tuple[dict, dict]:
    """({(impls key, N): namespace of its trial set}, {(impls key, N): of its steady set}).
    The seed is in every name, as in the local part's; the steady sets' names differ from the
    trial sets' too, so that their replicas' logs (LOG_DIR/namespace-identity.log) do not mix."""
    trial = {(k, n): f"bench-{seed % 100000}-n{n}-{key}" for k, key in keys.items() for n in ns}
    steady = {(k, n): f"bench-{seed % 100000}-n{n}-steady-{key}" for k, key in keys.items() for n in ns}
    return trial, steady


def start_sets(run, planes: dict, names: dict, steady_names: dict, kubeconfigs: dict,
               n: int) -> tuple[dict, dict]:
    """Both implementations' trial sets of `n` replicas ({impls key: namespace}, on the
    run's control plane) and steady sets ({impls key: namespace}, each on its steady control
    plane, watched by that plane's watcher), all started at once; returns ({impls key: trial
    set}, {impls key: steady set}). Waiting for their leaders is the trials' and the
    windows' own first step."""
    impls = run.impls
    run.sampler.phase(f"scale N={n}: start-up of the four sets")
    steady = {k: ReplicaSet(impls[k], steady_names[k], kubeconfigs, TIMINGS, planes[k].watcher,
                            run.markers, n) for k in impls}
    rsets = {k: ReplicaSet(impls[k], names[k], kubeconfigs, TIMINGS, run.watcher, run.markers, n)
             for k in impls}
    run.sets += [*steady.values(), *rsets.values()]
    for rs in [*steady.values(), *rsets.values()]:
        rs.start_all()
    log(f"scale N={n}: started {n} replicas of each implementation for the trials and {n} of each "
        "for the steady state, on one Lease each; waiting for leaders")
    return rsets, steady


def trials(run, rsets: dict, n: int, steady_gen) -> tuple[dict, dict]:
    """Crash trials on both trial sets at once, then graceful trials alternating, the
    steady-state windows stepped beside them; the trial sets are stopped after."""
    impls, args = run.impls, run.args
    crash = {impls[k]["key"]: [] for k in impls}
    graceful = {impls[k]["key"]: [] for k in impls}
    run_all(g_wait_leaders(list(rsets.values()), 180), beside=[steady_gen])
    run.sampler.phase(f"scale N={n}: crash trials, steady sets beside")
    log(f"scale N={n}: crash failover, {args.scale_crash_trials} trials each, both at once")
    run_all(*[g_crash_trials(rs, range(args.scale_crash_trials), f"N={n} crash",
                             crash[rs.impl["key"]], progress) for rs in rsets.values()],
            beside=[steady_gen])
    run.sampler.phase(f"scale N={n}: graceful trials, steady sets beside")
    log(f"scale N={n}: graceful handoff, {args.scale_graceful_trials} trials each, alternating")
    run_all(g_graceful_alternating(list(rsets.values()), args.scale_graceful_trials, f"N={n} graceful",
                                   graceful, progress), beside=[steady_gen])
    for rs in rsets.values():
        rs.stop_all()
    return crash, graceful


def close_windows(run, steady: dict, steady_gen, windows: dict, n: int) -> None:
    """The rest of the steady-state windows, if they outlast the trials (the steady sets
    alone on the machine then); then the steady sets stopped."""
    if not windows:
        run.sampler.phase(f"scale N={n}: steady sets alone, until their windows close")
        log(f"scale N={n}: trials done; waiting for the steady windows to close")
    drive(steady_gen)
    run.sampler.phase("")
    for rs in steady.values():
        rs.stop_all()


def figures(run, rs: ReplicaSet, steady: ReplicaSet, plane: SteadyPlane, crash: dict, graceful: dict,
            w: dict, n: int) -> dict:
    """One implementation's figures at N = `n`: the trials' from its trial set `rs` (the
    run's audit log), the steady state's from its steady set and window `w` (the audit log of
    its steady control plane `plane`)."""
    key = rs.impl["key"]
    load = steady_state([steady], plane.audit_log, w["t0"], w["t1"])[key]
    window = w["t1"] - w["t0"]
    standby_total = load["standby_requests_per_s"] * load["role_seconds"]["standby"] / window
    tk_crash = takeover_requests(run.audit_log, rs, crash[key], "crash")
    tk_grace = takeover_requests(run.audit_log, rs, graceful[key], "graceful")
    counts = [x["requests"] for x in tk_crash]
    counts_g = [x["requests"] for x in tk_grace]

    rss = [p["rss_mib"] for p in w["memory"]["per_replica"].values() if p["rss_mib"] is not None]
    S = {
        "replicas": n,
        **trial_summaries(crash[key], graceful[key]),
        "standby_requests_per_s": load["standby_requests_per_s"],
        "standby_requests_per_s_max": load["standby_requests_per_s_max"],
        "all_standbys_requests_per_s": standby_total,
        "leader_requests_per_s": load["leader_requests_per_s"],
        "takeover_requests": statistics.median(counts) if counts else None,
        "takeover_requests_max": max(counts) if counts else None,
        "takeover_requests_graceful": statistics.median(counts_g) if counts_g else None,
        "takeover_requests_graceful_max": max(counts_g) if counts_g else None,
        "apiserver_cpu_s_per_min": w["cpu_s"] / window * 60,
        "apiserver_cpu_s": w["cpu_s"],
        "window_s": window,
        "transitions_in_window": load["transitions_in_window"],
        "rss_mib": statistics.mean(rss) if rss else None,
        "rss_mib_max": max(rss) if rss else None,
        "raw": {"crash": crash[key], "graceful": graceful[key], "takeovers_crash": tk_crash,
                "takeovers_graceful": tk_grace,
                "window": {"t0": w["t0"], "t1": w["t1"]},
                "requests_by_replica": {r: {"role": p["role"], "requests": p["requests"],
                                            "by_verb": p["by_verb"]}
                                        for r, p in load["per_replica"].items()},
                "rss_per_replica": {r: p["rss_mib"] for r, p in w["memory"]["per_replica"].items()}},
    }
    log(f"scale N={n} {key:9s}: crash p90 {fs_log(S['crash_failover_s']['p90'])}, graceful p50 "
        f"{fs_log(S['graceful_handoff_s']['p50'])}, standby {S['standby_requests_per_s']:.4f} req/s "
        f"(all {standby_total:.3f}), takeover {S['takeover_requests']} requests, apiserver "
        f"{S['apiserver_cpu_s_per_min']:.2f} CPU s/min, RSS {S['rss_mib']:.1f} MiB")
    return S


def scale_section(res, done, complete, *, started_at, t_start, timings, args) -> dict:
    t = timings
    return {
        **res,
        "complete": complete,
        "started_at": started_at.isoformat(timespec="seconds"),
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t_start, 1),
        "ns": list(done),
        "timings": t,
        "crash_trials": args.scale_crash_trials,
        "graceful_trials": args.scale_graceful_trials,
        "steady_seconds": args.scale_steady_seconds,
        "method": {
            "sets": "for each N, per implementation: a trial set of N replicas on the run's control plane, "
                    "and a steady set of N replicas on that implementation's steady control plane (its own "
                    "etcd and kube-apiserver with the same audit logging, started once for the scale part); "
                    "each set on its own Lease and namespace, one ServiceAccount per replica",
            "alongside": "for each N the four sets start together. The crash trials of both "
                         "implementations run at the same time (two Leases); the graceful trials run one at "
                         "a time, alternating, both trial sets running. Beside the trials, both "
                         "implementations' steady-state windows run at the same time, over the same span, "
                         "each on its own steady control plane, which serves that one steady set and the "
                         "driver's watch, nothing else; they open "
                         f"{SETTLE_S:.0f} s after the steady sets have leaders at the earliest, and close "
                         f"{K8SENSUS_RESYNC_S[1] + RESYNC_MARGIN_S:.0f} s after that at the earliest (see "
                         "standby_requests_per_s), so they can outlast the trials: the trial sets are "
                         "stopped when their trials end, and the windows close with only the steady sets "
                         "running",
            "crash_failover_s": "as in the 3-replica figures: old holder's last renewTime to the new "
                                "holder's acquireTime",
            "graceful_handoff_s": "SIGTERM to the new holder's acquireTime",
            "standby_requests_per_s": "requests made while standing by / time spent standing by, i.e. "
                                      "the mean per standby, over the steady-state window (the steady "
                                      "control plane's audit log). The steady sets start fresh for each N; "
                                      "a k8sensus standby resyncs (one GET, one new watch) "
                                      f"{K8SENSUS_RESYNC_S[0]:.0f} to {K8SENSUS_RESYNC_S[1]:.0f} s after it "
                                      "opened its watch, and the window closes late enough to hold each "
                                      "standby's first resync: with a 120 s window, one resync per standby, "
                                      "the most a 120 s window can hold (over a long run, one per 150 s on "
                                      "average)",
            "all_standbys_requests_per_s": "every request made by standbys in the window / the window",
            "takeover_requests": "median over the crash trials of the requests (any resource, any "
                                 "outcome) by every replica but the old leader's slot, received from "
                                 "the old holder's last renewal + the lease duration to the new "
                                 "acquireTime + one retry period (for the new holder: + half a retry "
                                 "period, so that its first renewal is not counted); *_graceful: the "
                                 "same from SIGTERM",
            "apiserver_cpu_s_per_min": "that implementation's steady control plane's kube-apiserver: its "
                                       "process_cpu_seconds_total (its /metrics) over the steady-state "
                                       "window, per minute; etcd not included. That kube-apiserver serves "
                                       "only the implementation's steady set and the driver's watch; the "
                                       "other implementation's steady set and, for part of the window, the "
                                       "trials run on the same machine, on the other control planes",
            "rss_mib": "VmRSS at the end of the steady-state window, mean over the N replicas of the "
                       "steady set",
        },
    }
