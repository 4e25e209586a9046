"""Percentiles and the summaries results.json keeps of a list of trials (the cluster part's;
the Rust programs' are tests/support/stats.rs)."""

from __future__ import annotations

import statistics


def pct(xs: list[float], p: float):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * p / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def ok_values(trials: list[dict], field: str) -> list:
    """`field` of every trial that succeeded and measured it."""
    return [t[field] for t in trials if t.get("ok") and t.get(field) is not None]


def summary(xs: list[float], failed: int = 0) -> dict:
    """p50, p90, max, min and mean of `xs`, with how many trials gave them and how many failed."""
    return {"p50": pct(xs, 50), "p90": pct(xs, 90), "max": max(xs) if xs else None,
            "min": min(xs) if xs else None, "mean": statistics.mean(xs) if xs else None,
            "trials": len(xs), "failed_trials": failed}


def failed_count(trials: list[dict]) -> int:
    return sum(1 for t in trials if not t.get("ok"))


def field_summary(trials: list[dict], field: str, count_failed: bool = True) -> dict:
    """summary() of `field` over the trials that succeeded; failed_trials counts those that did
    not (0 if not `count_failed`: a figure that only some trials have, e.g. the one seen by
    the watch, leaves the count to its main figure)."""
    return summary(ok_values(trials, field), failed_count(trials) if count_failed else 0)
