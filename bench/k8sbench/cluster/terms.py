"""Terms of leader work from the pods' lines, and the overlaps between them, as
tests/support/overlap.rs has them."""

from __future__ import annotations


def terms(lines: list[dict]) -> list[dict]:
    """The terms of leader work in one namespace's lines (tests/support/overlap.rs's
    terms_in_logs, per pod): a term runs from its start line to its stop line's
    `ended_mono_ns` (the earlier of the stop and the term's deadline) and never ends before
    its last run; a term with no stop line (the process was killed) ends at its last line."""
    out = []
    for pod in sorted({x["pod"] for x in lines}):
        mine = sorted((x for x in lines if x["pod"] == pod and x["mono"]), key=lambda x: x["mono"])
        cur, last_work = None, 0
        for x in mine:
            m, k = x["mono"], x["kind"]
            if k == "start" or (k == "run" and cur is None):
                cur = {"pod": pod, "first_ns": m, "last_ns": m, "runs": int(k == "run"),
                       "stopped": False, "token": x["json"].get("fencing_token")}
                out.append(cur)
                last_work = m
                continue
            if cur is None:
                continue
            if k == "stop":
                ended = x["ended"] if isinstance(x["ended"], int) else m
                cur["last_ns"] = max(min(ended, m), last_work)
                cur["stopped"] = True
                cur = None
                continue
            cur["last_ns"] = max(cur["last_ns"], m)
            if k == "run":
                cur["runs"] += 1
                last_work = m
    return sorted(out, key=lambda t: (t["first_ns"], t["last_ns"]))


def overlaps(ts: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of terms that share more than a boundary instant (overlap.rs's find_overlaps)."""
    def inside(t, term):
        return term["first_ns"] < t < term["last_ns"]

    def overlap(a, b):
        ia, ib = a["first_ns"] == a["last_ns"], b["first_ns"] == b["last_ns"]
        if not ia and not ib:
            return max(a["first_ns"], b["first_ns"]) < min(a["last_ns"], b["last_ns"])
        if ia and not ib:
            return inside(a["first_ns"], b)
        if ib and not ia:
            return inside(b["first_ns"], a)
        return a["first_ns"] == b["first_ns"]
    found = []
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            if b["first_ns"] > a["last_ns"]:
                break
            if a is not b and overlap(a, b):
                found.append((a, b))
    return found
