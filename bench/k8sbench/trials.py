"""The trials on local replica sets, as the scale part runs them: crash (kill -9 of the
leader) and graceful (SIGTERM to the leader). (The local part's are bench/trials.rs.)"""

from __future__ import annotations

import random
import signal
import time

from .common import LOG_DIR, BenchError, fs_log, log
from .lease_watch import new_holder_pred
from .replicas import ReplicaSet
from .schedule import g_sleep, g_wait


def settle_time(t: dict) -> float:
    return max(3.0, 2 * t["retry_period_s"])


def takeover_timeout(t: dict) -> float:
    return t["lease_duration_s"] + 4 * 1.2 * t["retry_period_s"] + 20


def progress(rs: ReplicaSet, phase: str, k: int, value) -> None:
    """A trial's progress line: its figure (failover or handoff), or FAILED."""
    v = "FAILED" if value is None else fs_log(value)
    log(f"{phase:15s} {rs.impl['key']:9s} trial {k + 1:2d}: {v}")


def g_steady_leader(rs: ReplicaSet, k: int, phase: str, out: list, progress):
    """Every trial's start: let the set settle (plus a random part of a retry period, so the
    fault lands anywhere in the renewal cycle), then wait for a steady leader. Returns its
    state, or None after recording the trial as failed."""
    t = rs.timings
    yield from g_sleep(settle_time(t) + random.uniform(0, t["retry_period_s"]))
    st = yield from g_wait(lambda: rs.steady(settle_time(t)), 120)
    if not st:
        out.append({"trial": k, "ns": rs.ns, "ok": False, "reason": "no steady leader within 120 s"})
        progress(rs, phase, k, None)
    return st


def strike(rs: ReplicaSet, st: dict, sig, kind: str, phase: str, k: int):
    """Signal the steady leader `st` names, marked on the timeline. Returns the old holder,
    its replica, the watch position before the signal, and when it was sent."""
    old = st["holder"]
    rep = rs.by_id[old]
    idx = rs.watcher.count(rs.ns)
    t = rep.signal(sig)
    rs.mark(kind, old, t, phase=phase, trial=k)
    return old, rep, idx, t


def g_crash_trials(rs: ReplicaSet, trials: range, phase: str, out: list, progress):
    t = rs.timings
    for k in trials:
        st = yield from g_steady_leader(rs, k, phase, out, progress)
        if not st:
            continue
        old, rep, idx, t_kill = strike(rs, st, signal.SIGKILL, "kill", phase, k)
        rep.proc.wait()
        rep.reap("kill -9")
        ev = yield from g_wait(new_holder_pred(rs, idx, old), takeover_timeout(t))
        if not ev:
            out.append({"trial": k, "ns": rs.ns, "ok": False, "old": old, "reason": "no takeover before timeout"})
            rs.restart(rep, phase, k)
            progress(rs, phase, k, None)
            continue
        evs = rs.watcher.all(rs.ns)
        upto = evs[:evs.index(ev)]
        last = [e for e in upto if e["holder"] == old and e["renew"] is not None]
        last_renew = last[-1]["renew"] if last else None
        rec = {"trial": k, "ns": rs.ns, "ok": last_renew is not None and ev["acquire"] is not None,
               "old": old, "new": ev["holder"], "kill_t": t_kill, "last_renew_t": last_renew,
               "acquire_t": ev["acquire"], "seen_t": ev["t"],
               "failover_s": ev["acquire"] - last_renew if last_renew and ev["acquire"] else None,
               "failover_seen_s": ev["t"] - last_renew if last_renew else None,
               "kill_after_renew_s": t_kill - last_renew if last_renew else None,
               "transitions": ev["transitions"]}
        out.append(rec)
        rs.restart(rep, phase, k)
        progress(rs, phase, k, rec.get("failover_s"))


def g_graceful_trial(rs: ReplicaSet, k: int, phase: str, out: list, progress):
    t = rs.timings
    st = yield from g_steady_leader(rs, k, phase, out, progress)
    if not st:
        return
    old, rep, idx, t_term = strike(rs, st, signal.SIGTERM, "sigterm", phase, k)
    pred = new_holder_pred(rs, idx, old)
    ev, exit_t = None, None
    end = time.monotonic() + takeover_timeout(t)
    while time.monotonic() < end and (ev is None or exit_t is None):
        if exit_t is None and not rep.alive():
            exit_t = time.time()
        if ev is None:
            ev = pred()
        yield
    if exit_t is None:
        rep.kill()
    rep.reap("sigterm" if exit_t is not None else "sigterm, then kill -9 (did not exit)")
    code = rep.proc.returncode
    if not ev:
        out.append({"trial": k, "ns": rs.ns, "ok": False, "old": old, "reason": "no takeover before timeout",
                    "exit_code": code})
        rs.restart(rep, phase, k)
        progress(rs, phase, k, None)
        return
    evs = rs.watcher.since(rs.ns, idx)
    upto = evs[:evs.index(ev)]
    rel = next((e for e in upto if e["holder"] == ""), None)
    rec = {"trial": k, "ns": rs.ns, "ok": ev["acquire"] is not None, "old": old, "new": ev["holder"],
           "sigterm_t": t_term, "acquire_t": ev["acquire"], "seen_t": ev["t"],
           "handoff_s": ev["acquire"] - t_term if ev["acquire"] else None,
           "handoff_seen_s": ev["t"] - t_term,
           "released": rel is not None,
           "release_seen_t": rel["t"] if rel else None,
           "release_renew_t": rel["renew"] if rel else None,
           "release_after_sigterm_s": rel["t"] - t_term if rel else None,
           "exit_code": code, "exited_after_s": exit_t - t_term if exit_t else None,
           "transitions": ev["transitions"]}
    out.append(rec)
    rs.restart(rep, phase, k)
    progress(rs, phase, k, rec.get("handoff_s"))


def g_graceful_alternating(sets: list[ReplicaSet], n: int, phase: str, outs: dict, progress):
    for k in range(n):
        for rs in sets:
            yield from g_graceful_trial(rs, k, phase, outs[rs.impl["key"]], progress)


def g_wait_leaders(sets: list[ReplicaSet], timeout: float):
    ok = yield from g_wait(lambda: all(rs.steady(0) for rs in sets), timeout)
    if not ok:
        raise BenchError("no leader elected within "
                         f"{timeout:.0f} s in {[rs.ns for rs in sets if not rs.steady(0)]}; "
                         f"see {LOG_DIR}")
