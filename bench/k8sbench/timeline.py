"""The timeline sample for the picture: who held the Lease around the two consecutive trials
closest to the median."""

from __future__ import annotations

import statistics


def timeline(events: list[dict], markers: list[dict], trials: list[dict], kind: str,
             replicas: list[str], count: int = 2) -> dict | None:
    good = [t for t in trials if t.get("ok")]
    if not good:
        return None
    # The `count` consecutive trials closest to the median, so that the picture is typical.
    key = "failover_s" if kind == "crash" else "handoff_s"
    med = statistics.median(t[key] for t in good)
    starts = range(max(1, len(good) - count + 1))
    best = min(starts, key=lambda i: sum(abs(t[key] - med) for t in good[i:i + count]))
    ok = good[best:best + count]
    if kind == "crash":
        t0 = min(t["kill_t"] for t in ok) - 3.0
        t1 = max(t["acquire_t"] for t in ok) + 3.0
    else:
        t0 = min(t["sigterm_t"] for t in ok) - 2.0
        t1 = max(t["acquire_t"] for t in ok) + 2.0
    held = {r: [] for r in replicas}
    # Intervals: from acquireTime to the last renewTime (crash) or the release.
    cur, start, last = None, None, None
    for ev in events + [None]:
        h = None if ev is None or ev["type"] == "DELETED" else (ev["holder"] or None)
        if ev is not None and h == cur and h:
            last = ev["renew"] or last
            continue
        if cur:
            if ev is not None and h is None and ev["type"] != "DELETED":  # released
                end, how = (ev["renew"] if ev["renew"] and ev["renew"] > (last or 0) else ev["t"]), "released"
            elif ev is None:
                end, how = last, "running"
            else:
                end, how = last, "last renewal"
            held.setdefault(cur, []).append({"from": start - t0, "to": end - t0, "end": how})
        cur = h
        if h:
            start = ev["acquire"] or ev["t"]
            last = ev["renew"] or start
    for r in held:
        held[r] = [iv for iv in held[r] if iv["to"] > 0 and iv["from"] < t1 - t0]
    marks = [{"t": m["t"] - t0, "kind": m["kind"], "replica": m["replica"], "trial": m.get("trial")}
             for m in markers if t0 <= m["t"] <= t1 and m["kind"] in ("kill", "sigterm", "restart")]
    gaps = []
    for t in ok:
        if kind == "crash":
            gaps.append({"from": t["last_renew_t"] - t0, "to": t["acquire_t"] - t0,
                         "length_s": t["failover_s"], "old": t["old"], "new": t["new"],
                         "trial": t["trial"], "label": "last renewal to new acquireTime"})
        else:
            rel = t["release_renew_t"]
            start_gap = rel if rel and rel >= t["sigterm_t"] else (t["release_seen_t"] or t["sigterm_t"])
            gaps.append({"from": start_gap - t0, "to": t["acquire_t"] - t0,
                         "sigterm": t["sigterm_t"] - t0,
                         "length_s": t["acquire_t"] - start_gap, "handoff_s": t["handoff_s"],
                         "old": t["old"], "new": t["new"], "trial": t["trial"],
                         "label": "release to new acquireTime; handoff_s is SIGTERM to new acquireTime"})
    return {"t0_epoch": t0, "length_s": t1 - t0, "replicas": replicas, "held": held,
            "markers": marks, "gaps": gaps, "trials": [t["trial"] + 1 for t in ok],
            "chosen_as": f"the {len(ok)} consecutive trials closest to the median ({med:.6f} s)"}
