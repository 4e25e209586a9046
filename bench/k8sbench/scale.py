"""At scale: one Lease with N candidates, for each N."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from pathlib import Path

from .common import LOG_DIR, TIMINGS, BenchError, elapsed, fs_log, log
from .control_plane import ControlPlane, audit_counts
from .provenance import sha256
from .replicas import ReplicaSet, setup_namespaces
from .schedule import drive, g_sleep, run_all
from .stats import trial_summaries
from .steady import memory, steady_state
from .results import write_results
from .trials import g_crash_trials, g_graceful_alternating, g_wait_leaders, progress


SCALE_NS = (3, 10, 30, 100)


def g_scale_window(rs: ReplicaSet, cp: ControlPlane, seconds: float, settle: float, out: dict):
    """A steady-state window on `rs` alone: kube-apiserver's own CPU seconds over it (from
    /metrics) and every replica's memory at its end. Nothing else runs on the control plane
    meanwhile but the driver's watch."""
    yield from g_wait_leaders([rs], 180)
    yield from g_sleep(settle)
    cpu0, t0 = cp.cpu_seconds(), time.time()
    log(f"scale: steady window on {rs.ns} ({len(rs.replicas)} replicas) for {seconds:.0f} s, alone")
    yield from g_sleep(seconds)
    cpu1, t1 = cp.cpu_seconds(), time.time()
    if not all(r.alive() for r in rs.replicas):
        raise BenchError(f"a replica of {rs.ns} exited during the steady-state window; see {LOG_DIR}")
    out.update(t0=t0, t1=t1, cpu_s=cpu1 - cpu0, memory=memory([rs])[rs.impl["key"]])


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
    """For each N: both implementations' sets of N replicas (one Lease each) started together;
    crash trials on both at once, then graceful trials alternating; then the client-go set is
    stopped and the k8sensus set (running since the start, its standbys' resyncs spread by the
    trials) gets a steady-state window alone; then the k8sensus set is stopped and the client-go
    set restarted for its own window, alone. After each N, `save` gets the section so far
    (its "ns" the N done, "complete" false until the last), so that a run cut short keeps them."""
    args, impls = run.args, run.impls
    t_start = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    names = {(k, n): f"bench-{run.seed % 100000}-n{n}-{impls[k]['key']}" for k in impls for n in args.scale}
    kubeconfigs = setup_namespaces(run.cp, run.work, sorted(names.values()),
                                   {v: n for (k, n), v in names.items()})
    log(f"scale: namespaces ready for N = {', '.join(map(str, args.scale))}")
    res = {k: {} for k in impls}
    done: list[int] = []

    def section(res, done, complete):
        return scale_section(res, done, complete, started_at=started_at, t_start=t_start,
                             timings=TIMINGS, args=args)
    for n in args.scale:
        t_n = time.monotonic()
        rsets = start_sets(run, {k: names[(k, n)] for k in impls}, kubeconfigs, n)
        crash, graceful = trials(run, rsets, n)
        windows = steady_windows(run, rsets, n)
        for k in impls:
            res[k][str(n)] = figures(run, rsets[k], crash, graceful, windows[k], n)
        log(f"scale N={n}: done in {elapsed(time.monotonic() - t_n)}")
        done.append(n)
        save(section(res, done, done == list(args.scale)))
    return section(res, done, True)


def start_sets(run, names: dict, kubeconfigs: dict, n: int) -> dict:
    """Both implementations' sets of `n` replicas ({impls key: namespace}), started, each with
    a leader."""
    impls = run.impls
    run.sampler.phase(f"scale N={n}: trials")
    rsets = {k: ReplicaSet(impls[k], names[k], kubeconfigs, TIMINGS, run.watcher, run.markers, n)
             for k in impls}
    run.sets += rsets.values()
    for rs in rsets.values():
        rs.start_all()
    log(f"scale N={n}: started {n} replicas of each on one Lease each; waiting for leaders")
    drive(g_wait_leaders(list(rsets.values()), 180))
    return rsets


def trials(run, rsets: dict, n: int) -> tuple[dict, dict]:
    """Crash trials on both sets at once, then graceful trials alternating."""
    impls, args = run.impls, run.args
    crash = {impls[k]["key"]: [] for k in impls}
    graceful = {impls[k]["key"]: [] for k in impls}
    log(f"scale N={n}: crash failover, {args.scale_crash_trials} trials each, both at once")
    run_all(*[g_crash_trials(rs, range(args.scale_crash_trials), f"N={n} crash",
                             crash[rs.impl["key"]], progress) for rs in rsets.values()])
    log(f"scale N={n}: graceful handoff, {args.scale_graceful_trials} trials each, alternating")
    drive(g_graceful_alternating(list(rsets.values()), args.scale_graceful_trials, f"N={n} graceful",
                                 graceful, progress))
    return crash, graceful


def steady_windows(run, rsets: dict, n: int) -> dict:
    """A steady-state window per set, each alone on the control plane: k8sensus first (its
    set has run longest), the other set stopped meanwhile and restarted for its own."""
    impls = run.impls
    windows = {}
    order = sorted(impls, key=lambda k: k != "k8sensus")  # k8sensus first: its set has run longest
    for k in impls:
        if k != order[0]:
            rsets[k].stop_all()
    for i, k in enumerate(order):
        rs = rsets[k]
        if i > 0:
            for r in rs.replicas:
                rs.mark("start", r.identity, r.start())
        run.sampler.phase(f"scale N={n}: steady window {impls[k]['key']}")
        windows[k] = {}
        drive(g_scale_window(rs, run.cp, run.args.scale_steady_seconds, 15.0, windows[k]))
        rs.stop_all()
    run.sampler.phase("")
    return windows


def figures(run, rs: ReplicaSet, crash: dict, graceful: dict, w: dict, n: int) -> dict:
    """One implementation's figures at N = `n`, from its trials and its window `w`."""
    key = rs.impl["key"]
    load = steady_state([rs], run.audit_log, w["t0"], w["t1"])[key]
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
            "sets": "for each N, one set of N replicas per implementation, each on its own Lease and "
                    "namespace, one ServiceAccount per replica",
            "alongside": "the crash trials of both implementations run at the same time (two Leases); the "
                         "graceful trials run one at a time, alternating, both sets running; each steady-"
                         "state window runs with only that one set on the control plane (the other "
                         "implementation's set stopped), k8sensus first (its set running since the "
                         "trials), then client-go (its set restarted)",
            "crash_failover_s": "as in the 3-replica figures: old holder's last renewTime to the new "
                                "holder's acquireTime",
            "graceful_handoff_s": "SIGTERM to the new holder's acquireTime",
            "standby_requests_per_s": "requests made while standing by / time spent standing by, i.e. "
                                      "the mean per standby, over the steady-state window (audit log)",
            "all_standbys_requests_per_s": "every request made by standbys in the window / the window",
            "takeover_requests": "median over the crash trials of the requests (any resource, any "
                                 "outcome) by every replica but the old leader's slot, received from "
                                 "the old holder's last renewal + the lease duration to the new "
                                 "acquireTime + one retry period (for the new holder: + half a retry "
                                 "period, so that its first renewal is not counted); *_graceful: the "
                                 "same from SIGTERM",
            "apiserver_cpu_s_per_min": "kube-apiserver's process_cpu_seconds_total (its /metrics) over "
                                       "the steady-state window, per minute; etcd not included",
            "rss_mib": "VmRSS at the end of the steady-state window, mean over the N replicas",
        },
    }
