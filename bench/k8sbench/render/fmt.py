"""How the renderers write a figure (seconds, rates, MiB, ratios, targets met), and the
pieces of tables that several sections share."""

from __future__ import annotations

IMPLS = (("k8sensus", "k8sensus"), ("client_go", "client-go"))


def fs(v) -> str:
    """Seconds: milliseconds below 1 s, else seconds with 3 decimals."""
    if v is None:
        return "n/a"
    if abs(v) < 1:
        return f"{v * 1000:.1f} ms" if abs(v) < 0.01 else f"{v * 1000:.0f} ms"
    return f"{v:.3f} s"


def fr(v, digits=3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def fm(v) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def fn(v, digits=1) -> str:
    if v is None:
        return "n/a"
    return f"{v:g}" if float(v).is_integer() else f"{v:.{digits}f}"


def ratio(a, b) -> str:
    if a is None or b is None:
        return "n/a"
    if b == 0:
        return "equal (both 0)" if a == 0 else "n/a (client-go 0)"
    r = a / b
    if r == 0:
        return "0 (none)"
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"


def met(ok) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def dur(t: dict) -> str:
    def one(s):
        return f"{s:g}s" if s >= 1 else f"{s * 1000:g}ms"
    return f"{one(t['lease_duration_s'])}/{one(t['renew_deadline_s'])}/{one(t['retry_period_s'])}"


def p3(P: dict | None, bold: str = "") -> str:
    """p50 / p90 / max of a P, the figure named by `bold` in bold."""
    if not P or not P.get("trials"):
        return "n/a"
    return " / ".join(f"**{fs(P[k])}**" if k == bold else fs(P[k]) for k in ("p50", "p90", "max"))


def load_rows(phases: list[dict]) -> list[str]:
    """The rows of a machine-load table (phase, length, CPUs busy mean and max, load1 max)."""
    return [f"| {ph['phase']} | {ph['seconds']:.0f} s | {ph['cpu_busy_mean'] * 100:.0f} % | "
            f"{ph['cpu_busy_max'] * 100:.0f} % | {ph['load1_max']:g} |" for ph in phases]
