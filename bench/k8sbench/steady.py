"""The steady state, as the scale part measures it: the Lease requests each replica of a
set made in a window (from the audit log), by role, and the replicas' memory. (The local
part's are bench/steady.rs.)"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

from .control_plane import audit_counts
from .replicas import ReplicaSet


VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def holder_intervals(events: list[dict]) -> list[tuple]:
    """(holder, start, end) from the watch's events: a holder holds from its
    acquireTime to the next event that names someone else (by arrival time)."""
    out, cur, start = [], None, None
    for ev in events:
        h = ev["holder"] or None
        if ev["type"] == "DELETED":
            h = None
        if h != cur:
            if cur:
                out.append((cur, start, ev["t"]))
            cur, start = h, (ev["acquire"] or ev["t"]) if h else None
    if cur:
        out.append((cur, start, float("inf")))
    return out


def steady_state(sets: list[ReplicaSet], audit_log: Path, t0: float, t1: float) -> dict:
    """Each set's Lease requests over [t0, t1] from the audit log, per replica and per role,
    keyed by implementation."""
    time.sleep(1.0)  # let the last audit events reach the file
    seen = audit_counts(audit_log, t0, t1)
    everything = audit_counts(audit_log, t0, t1, leases_only=False)
    return {rs.impl["key"]: set_load(rs, seen, everything, t0, t1) for rs in sets}


def lead_time(ivs: list[tuple], ident: str, t0: float, t1: float) -> float:
    """Seconds of [t0, t1] during which `ident` held the Lease, by holder_intervals()."""
    return sum(max(0.0, min(e, t1) - max(s, t0)) for h, s, e in ivs if h == ident)


def holder_at(ivs: list[tuple], ts: float):
    for h, s, e in ivs:
        if s <= ts < e:
            return h
    return None


def count_requests(reqs, ivs: list[tuple], ident: str, role_counts: dict) -> tuple[dict, dict, list]:
    """One replica's Lease requests by verb and by status code, and the times of its writes
    while leading; each request is also added to `role_counts` under the role its replica
    had when it was received."""
    by_verb, codes, writes = {}, {}, []
    for q in reqs:
        by_verb[q["verb"]] = by_verb.get(q["verb"], 0) + 1
        codes[str(q["code"])] = codes.get(str(q["code"]), 0) + 1
        role = "leader" if holder_at(ivs, q["t"]) == ident else "standby"
        role_counts[role][q["verb"]] = role_counts[role].get(q["verb"], 0) + 1
        if role == "leader" and q["verb"] in ("create", "update", "patch"):
            writes.append(q["t"])
    return by_verb, codes, writes


def other_requests(reqs) -> dict:
    """{"resource verb": count} of the requests that are not for Leases."""
    other = {}
    for q in reqs:
        if q["resource"] != "leases":
            k = f"{q['resource']} {q['verb']}"
            other[k] = other.get(k, 0) + 1
    return other


def set_load(rs: ReplicaSet, seen: dict, everything: dict, t0: float, t1: float) -> dict:
    """One set's figures: audit_counts() of the Lease requests (`seen`) and of every
    request (`everything`) over [t0, t1], split by replica and by role."""
    window = t1 - t0
    ivs = holder_intervals(rs.watcher.all(rs.ns))
    transitions_in_window = sum(1 for h, s, e in ivs if t0 < s < t1)
    per_replica, role_counts, role_time = {}, {"leader": {}, "standby": {}}, {"leader": 0.0, "standby": 0.0}
    write_stats = {"count": 0, "allowed": 0, "intervals": []}
    for r in rs.replicas:
        user = f"system:serviceaccount:{rs.ns}:replica-{r.slot}"
        lt = lead_time(ivs, r.identity, t0, t1)
        role_time["leader"] += lt
        role_time["standby"] += window - lt
        by_verb, codes, writes = count_requests(seen.get(user, {}).values(), ivs, r.identity, role_counts)
        if lt > 0:
            # At most one write per retry period over lt seconds is floor(lt / RP) + 1
            # writes: the window's two edges can each catch one.
            write_stats["count"] += len(writes)
            write_stats["allowed"] += math.floor(lt / rs.timings["retry_period_s"]) + 1
            writes.sort()
            write_stats["intervals"] += [b - a for a, b in zip(writes, writes[1:])]
        total = sum(by_verb.values())
        per_replica[r.identity] = {
            "other_requests": other_requests(everything.get(user, {}).values()),
            "service_account": user, "led_s": round(lt, 3),
            "role": "leader" if lt > window / 2 else "standby",
            "requests": total, "requests_per_s": total / window,
            "by_verb": by_verb, "by_code": codes}
    return load_figures(window, transitions_in_window, role_counts, role_time, write_stats, per_replica)


def load_figures(window: float, transitions_in_window: int, role_counts: dict, role_time: dict,
                 write_stats: dict, per_replica: dict) -> dict:
    """A set's request rates per role (requests made in a role / the time spent in it; the
    standby rate is so the mean per standby), as results.json keeps them."""
    rate = {role: ({v: role_counts[role].get(v, 0) / role_time[role] for v in VERBS}
                   if role_time[role] > 0 else {}) for role in role_counts}
    leader_rps = sum(rate["leader"].values())
    standby_rps = sum(rate["standby"].values())
    standbys = [p["requests_per_s"] for p in per_replica.values() if p["role"] == "standby"]
    return {
        "window_s": window, "transitions_in_window": transitions_in_window,
        "standby_requests_per_s": standby_rps,
        "standby_requests_per_s_max": max(standbys) if standbys else None,
        "leader_requests_per_s": leader_rps,
        "leader_reads_per_s": rate["leader"].get("get", 0) + rate["leader"].get("list", 0),
        "leader_writes_per_s": sum(rate["leader"].get(v, 0) for v in ("create", "update", "patch")),
        "leader_writes_in_window": write_stats["count"],
        "leader_writes_allowed": write_stats["allowed"],
        "leader_write_interval_s": {"median": statistics.median(write_stats["intervals"]),
                                    "min": min(write_stats["intervals"]),
                                    "max": max(write_stats["intervals"])}
        if write_stats["intervals"] else None,
        "by_verb_per_s": {"leader": rate["leader"], "standby_mean": rate["standby"]},
        "role_seconds": role_time, "per_replica": per_replica}


def memory(sets: list[ReplicaSet]) -> dict:
    res = {}
    for rs in sets:
        holder = (rs.watcher.latest(rs.ns) or {}).get("holder")
        per = {}
        for r in rs.replicas:
            per[r.identity] = {"rss_mib": r.rss_mib(), "role": "leader" if r.identity == holder else "standby",
                               "uptime_s": time.time() - r.started}
        vals = [p["rss_mib"] for p in per.values() if p["rss_mib"] is not None]
        res[rs.impl["key"]] = {"rss_mib": statistics.mean(vals) if vals else None,
                               "per_replica": per}
    return res
