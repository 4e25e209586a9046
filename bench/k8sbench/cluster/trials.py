"""The cluster trials: delete the leader pod, crash the leader's container, roll out; each
deployment's sequence of them; and the first apply."""

from __future__ import annotations

import os
import shlex
import signal
import time
from pathlib import Path

from ..common import REPO, BenchError, fs_log, log
from ..lease_watch import new_holder_pred
from ..processes import run_cmd
from ..schedule import drive, g_sleep, g_wait
from .config import API_POLL, DEPLOYMENT, LD, LOG_DIR, LOG_POLL, REPLICAS
from .deployment import (Deployment, container_status, g_kubectl_done, g_replaced, g_steady, is_ready,
                         spawn_kubectl)
from .terms import overlaps, terms


def g_steady_turn(dep: Deployment, out: list, k: int, n: int, waiting: str, what: str, **steady):
    """The start of every trial: wait for a steady deployment, then for the cluster-wide
    turn. Returns the steady state, or None (the trial recorded as failed) if the deployment
    never steadied. The caller gives the turn back when its trial is over."""
    dep.activity = f"{waiting} ({k + 1}/{n})"
    st = yield from g_steady(dep, what, **steady)
    if not st:
        out.append({"trial": k, "ok": False, "reason": "no steady deployment"})
        return None
    yield from dep.turn.take(dep)
    return st


def g_delete_trial(dep: Deployment, k: int, n: int):
    out = dep.results["delete"]
    st = yield from g_steady_turn(dep, out, k, n, "waiting to delete the leader pod", "a delete trial")
    if st is None:
        return
    try:
        dep.activity = f"delete trial {k + 1}"
        old = st["holder"]
        beside = dep.beside()
        idx = dep.watcher.count(dep.ns)
        p, t_wall, t_mono = spawn_kubectl(dep, "delete", "pod", old, "-n", dep.ns, "--wait=false")
        ev = yield from g_wait(new_holder_pred(dep, idx, old), 60, every=0.0)
        kubectl_t = yield from g_kubectl_done(p, f"delete pod {old}")
        work = ev and (yield from g_wait(lambda: dep.logs.first_work_after(dep.ns, t_mono, ev["holder"]), 60,
                                                   LOG_POLL))
        stop = yield from g_wait(lambda: dep.logs.stopped_after(dep.ns, old, t_mono), 10, LOG_POLL)
        accepted = dep.pod_watcher.deletion_seen(dep.ns, old)
        rec = {"trial": k, "ok": bool(ev and work and ev["acquire"]), "old": old, "beside": beside,
               "delete_t": t_wall, "delete_mono_ns": t_mono, "kubectl_returned_s": kubectl_t - t_wall,
               "deletion_seen_s": accepted - t_wall if accepted else None}
        if ev and ev["acquire"] and accepted:
            rec["deletion_seen_to_holder_s"] = ev["acquire"] - accepted
        if ev:
            rel = next((e for e in dep.watcher.since(dep.ns, idx) if e["holder"] == ""), None)
            rec.update(new=ev["holder"], acquire_t=ev["acquire"], seen_t=ev["t"],
                       to_holder_s=ev["acquire"] - t_wall if ev["acquire"] else None,
                       to_holder_seen_s=ev["t"] - t_wall, released=rel is not None,
                       release_seen_s=rel["t"] - t_wall if rel else None, transitions=ev["transitions"])
        if work:
            rec.update(work_mono_ns=work["mono"], to_work_s=(work["mono"] - t_mono) / 1e9)
        if work and stop:
            rec.update(old_stop_mono_ns=stop["mono"], leaderless_s=(work["mono"] - stop["mono"]) / 1e9)
        out.append(rec)
        log(f"delete  {dep.key:9s} trial {k + 1:2d}/{n}: new holder {fs_log(rec.get('to_holder_s'))}, "
            f"first work {fs_log(rec.get('to_work_s'))} (the API's deletion seen at {fs_log(rec['deletion_seen_s'])}; "
            f"beside {beside})")
        done = yield from g_replaced(dep, {old})
        if not done:
            log(f"{dep.key}: the deleted pod {old} was not replaced within 120 s")
    finally:
        dep.turn.give(dep)


def g_crash_trial(dep: Deployment, k: int, n: int):
    out = dep.results["crash"]
    st = yield from g_steady_turn(dep, out, k, n, "waiting to crash the leader's container", "a crash trial",
                                  no_restarts=True)
    if st is None:
        return
    try:
        dep.activity = f"crash trial {k + 1} (the kill and the container's restart)"
        old = st["holder"]
        cid = (container_status(st["pods"][old]).get("containerID") or "").removeprefix("containerd://")
        pid = dep.cluster.task_pid(cid) if cid else None
        if pid is None:
            out.append({"trial": k, "ok": False, "old": old, "reason": f"no running task for {cid!r}"})
            return
        beside = dep.beside()
        last_renew = dep.watcher.latest(dep.ns)["renew"]
        idx = dep.watcher.count(dep.ns)
        t_wall, t_mono = time.time(), time.monotonic_ns()
        os.kill(pid, signal.SIGKILL)
        restarted = yield from g_wait(lambda: dep.logs.first_line(dep.ns, old, 1), 60, LOG_POLL)
        dep.turn.give(dep)
        dep.activity = f"crash trial {k + 1} (waiting for a leader to work again)"
        work = yield from g_wait(lambda: dep.logs.first_work_after(dep.ns, t_mono), LD + 45, LOG_POLL)
        rec = {"trial": k, "ok": bool(work), "old": old, "beside": beside, "kill_t": t_wall,
               "kill_mono_ns": t_mono, "host_pid": pid, "last_renew_t": last_renew,
               "kill_after_renew_s": t_wall - last_renew if last_renew else None,
               "restarted_s": (restarted["cri_t"] - t_wall) if restarted and restarted["cri_t"] else None}
        if work:
            rec.update(worker=work["pod"], same_pod=work["pod"] == old, work_mono_ns=work["mono"],
                       to_work_s=(work["mono"] - t_mono) / 1e9,
                       worker_restarted_container=work["restart"] > 0 and work["pod"] == old)
        evs = [e for e in dep.watcher.since(dep.ns, idx) if e["holder"]]
        taken = next((e for e in evs if e["holder"] != old or (e["acquire"] or 0) > t_wall), None)
        renewed = next((e for e in evs if e["holder"] == old and (e["renew"] or 0) > t_wall), None)
        if taken:
            rec.update(new_holder=taken["holder"], acquire_t=taken["acquire"],
                       last_renew_to_acquire_s=taken["acquire"] - last_renew if taken["acquire"] and last_renew else None)
        if renewed:
            rec.update(first_renewal_by_old_holder_s=renewed["renew"] - t_wall)
        out.append(rec)
        who = "none" if not work else ("the restarted container" if rec["same_pod"] else work["pod"])
        log(f"crash   {dep.key:9s} trial {k + 1:2d}/{n}: work again after {fs_log(rec.get('to_work_s'))} by {who} "
            f"(container restarted after {fs_log(rec['restarted_s'])}, killed {fs_log(rec['kill_after_renew_s'])} "
            f"after the last renewal; beside {beside})")
        # The kubelet restarts a container at once only the first time; the next crash of the same
        # pod would wait out a back-off of 10 s and more. Replace the crashed pod.
        yield from dep.turn.take(dep)
        dep.activity = f"crash trial {k + 1} (replacing the crashed pod)"
        p, _, _ = spawn_kubectl(dep, "delete", "pod", old, "-n", dep.ns, "--wait=false")
        yield from g_kubectl_done(p, f"delete pod {old}")
        if not (yield from g_replaced(dep, {old})):
            log(f"{dep.key}: the crashed pod {old} was not replaced within 120 s")
    finally:
        dep.turn.give(dep)


def g_rollout_trial(dep: Deployment, k: int, n: int):
    out = dep.results["rollout"]
    st = yield from g_steady_turn(dep, out, k, n, "waiting to roll out", "a rollout")
    if st is None:
        return
    try:
        dep.activity = f"rollout {k + 1}"
        beside = dep.beside()
        old_pods = set(st["pods"])
        p, t_wall, t_mono = spawn_kubectl(dep, "rollout", "restart", f"deployment/{DEPLOYMENT}", "-n", dep.ns)
        yield from g_kubectl_done(p, "rollout restart")

        def finished():
            pods = dep.pods()
            h = dep.holder()
            if len(pods) != REPLICAS or old_pods & set(pods) or not all(is_ready(x) for x in pods.values()):
                return None
            w = dep.logs.first_work_after(dep.ns, t_mono, h) if h in pods else None
            return w and dep.logs.working(dep.ns, h)
        done = yield from g_wait(finished, 300, API_POLL)
        yield from g_sleep(1.0)  # the last lines of the old pods reach the tailer
        t_end = time.monotonic_ns()
        # The terms that worked during the rollout, the one working when it began included
        # (a term works until its stop line, so its end is after the restart).
        ts = [t for t in terms(dep.logs.of(dep.ns)) if t["last_ns"] >= t_mono and t["first_ns"] <= t_end]
        gaps = [(b["first_ns"] - a["last_ns"]) / 1e9 for a, b in zip(ts, ts[1:])]
        ov = overlaps(ts)
        rec = {"trial": k, "ok": bool(done) and bool(ts), "beside": beside, "restart_t": t_wall,
               "restart_mono_ns": t_mono, "end_mono_ns": t_end, "duration_s": (t_end - t_mono) / 1e9 - 1.0,
               "handovers": max(0, len(ts) - 1), "gaps_s": gaps,
               "leaderless_total_s": sum(g for g in gaps if g > 0), "leaderless_max_s": max(gaps, default=0.0),
               "overlaps": len(ov), "terms": [{k2: t[k2] for k2 in ("pod", "first_ns", "last_ns", "runs", "token")}
                                               for t in ts],
               "old_pods": sorted(old_pods)}
        if ov:
            rec["overlap_detail"] = [f"{a['pod']} [{a['first_ns']}, {a['last_ns']}] and "
                                     f"{b['pod']} [{b['first_ns']}, {b['last_ns']}]" for a, b in ov]
        out.append(rec)
        log(f"rollout {dep.key:9s} trial {k + 1:2d}/{n}: {rec['handovers']} handovers, leaderless "
            f"{fs_log(rec['leaderless_total_s'])} in all (longest {fs_log(rec['leaderless_max_s'])}), "
            f"{len(ov)} overlaps, rollout {rec['duration_s']:.1f} s (beside {beside})")
    finally:
        dep.turn.give(dep)


PHASES = {"delete": g_delete_trial, "crash": g_crash_trial, "rollout": g_rollout_trial}


def g_sequence(dep: Deployment, order: list[str], counts: dict[str, int]):
    for phase in order:
        n = counts[phase]
        if not n:
            continue
        t0 = time.time()
        log(f"{dep.key}: {phase} trials, {n}")
        for k in range(n):
            yield from PHASES[phase](dep, k, n)
        dep.sampler.span(f"{dep.key}: {phase} trials", t0, time.time())
    dep.activity = "done (its pods running)"


def apply_and_first_work(dep: Deployment, kustomization: Path) -> None:
    """`kubectl apply -k` on an empty namespace, to the first work, the first holder and
    three Ready pods."""
    dep.activity = "kubectl apply"
    idx = dep.watcher.count(dep.ns)
    argv = dep.cluster.kubectl_argv("apply", "-k", str(kustomization))
    t_wall, t_mono = time.time(), time.monotonic_ns()
    run_cmd(argv)
    work = drive(g_wait(lambda: dep.logs.first_work_after(dep.ns, t_mono), 180, LOG_POLL))
    if not work:
        raise BenchError(f"{dep.key}: no work within 180 s of kubectl apply; pod logs in {LOG_DIR}")
    first = next((e for e in dep.watcher.since(dep.ns, idx) if e["holder"]), None)
    ready = drive(g_replaced(dep, set()))
    dep.apply = {"command": shlex.join(["kubectl", "apply", "-k", os.path.relpath(kustomization, REPO)]),
                 "apply_t": t_wall, "first_work_s": (work["mono"] - t_mono) / 1e9, "first_worker": work["pod"],
                 "first_holder": first["holder"] if first else None,
                 "first_acquire_s": first["acquire"] - t_wall if first and first["acquire"] else None,
                 "three_ready_s": time.time() - t_wall if ready else None}
    if first and first["acquire"]:
        dep.apply["acquire_to_work_s"] = dep.apply["first_work_s"] - dep.apply["first_acquire_s"]
    log(f"apply   {dep.key:9s}: first holder after {fs_log(dep.apply['first_acquire_s'])}, first work after "
        f"{fs_log(dep.apply['first_work_s'])}")
