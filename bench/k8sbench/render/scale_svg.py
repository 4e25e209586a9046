"""The two pictures at scale: API requests against N, and failover and handoff against N."""

from __future__ import annotations

import html
import math
from typing import NamedTuple

from .fmt import IMPLS, dur, fs
from .scale_md import scale_ns
from .svg import nice_step, svg_doc


SCALE_SVGS = ("scale-requests.svg", "scale-failover.svg")
SERIES_COLORS = {"k8sensus": "#3b6fb6", "client_go": "#d6453d"}


class ChartParts(list):
    """A chart's elements, in drawing order, with the text element they all use."""

    def text(self, x, y, s, size=11, anchor="start", fill="#222", weight="normal"):
        self.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                    f'font-weight="{weight}" fill="{fill}">{html.escape(s)}</text>')


class Frame(NamedTuple):
    """Where a chart's plot lies: `x0` is the chart's left edge; the plot's top-left corner
    is (left, top), its size pw × ph."""
    x0: float
    left: float
    top: float
    pw: float
    ph: float


def line_chart(x0: float, y0: float, w: float, h: float, title: str, xs: list[int], series: list[dict],
               log_y: bool, y_fmt, y_label: str, ref: tuple | None = None) -> list[str]:
    """A chart at (x0, y0) of size w×h: x is N on a log axis; series are
    {label, color, dash, points: [(n, value or None)]}. On a log y axis, zeros and None are
    not drawn (and say so in the label). The legend goes under the plot; `ref` is an optional
    (value, label) drawn as a grey horizontal line."""
    P = ChartParts()
    L, R, T, B = 70, 10, 30, 48 + 15 * len(series)
    box = Frame(x0, x0 + L, y0 + T, w - L - R, h - T - B)
    P.text(x0, y0 + 14, title, 14, weight="bold")
    vals = [v for s in series for _, v in s["points"] if v is not None and (v > 0 or not log_y)]
    if ref and vals:
        vals.append(ref[0])
    if not vals:
        P.text(box.left, box.top + 20, "no data", 12, fill="#777")
        return P
    ticks, fy = y_scale(min(vals), max(vals), log_y, box)
    lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))

    def fx(n):
        return box.left + (0.5 if lx1 == lx0 else (math.log10(n) - lx0) / (lx1 - lx0)) * box.pw
    axes(P, box, ticks, fy, y_fmt, xs, fx, y_label)
    if ref:
        y = fy(ref[0])
        P.append(f'<line x1="{box.left}" y1="{y:.1f}" x2="{box.left + box.pw}" y2="{y:.1f}" stroke="#888" '
                 'stroke-dasharray="2,3"/>')
        P.text(box.left + box.pw - 4, y - 4, ref[1], 10, anchor="end", fill="#666")
    lines_and_legend(P, box, series, log_y, fx, fy)
    return P


def y_scale(lo: float, hi: float, log_y: bool, box: Frame):
    """The y ticks and the function from a value to its y: decades on a log axis, else
    nice_step() steps around the values (not from 0: a failover of 15.0 s and one of 15.3 s
    must look different)."""
    ph = box.ph
    if log_y:
        lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if hi_e == lo_e:
            hi_e += 1
        ticks = [10.0 ** e for e in range(lo_e, hi_e + 1)]

        def fy(v):
            return box.top + ph - (math.log10(v) - lo_e) / (hi_e - lo_e) * ph
    else:
        step = nice_step(hi - lo, 6) if hi > lo else 0.1
        lo_v = math.floor(lo / step) * step
        top = math.ceil(hi / step) * step
        if top <= lo_v:
            top = lo_v + step
        ticks = [lo_v + i * step for i in range(int(round((top - lo_v) / step)) + 1)]

        def fy(v):
            return box.top + ph - (v - lo_v) / (top - lo_v) * ph
    return ticks, fy


def axes(P: ChartParts, box: Frame, ticks: list, fy, y_fmt, xs: list[int], fx, y_label: str) -> None:
    """The grid lines with their labels, the axes' titles and the plot's border."""
    x0, left, top, pw, ph = box
    for tv in ticks:
        y = fy(tv)
        P.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        P.text(left - 6, y + 4, y_fmt(tv), 10, anchor="end", fill="#777")
    for n in xs:
        x = fx(n)
        P.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#eee"/>')
        P.text(x, top + ph + 15, str(n), 10, anchor="middle", fill="#777")
    P.text(left + pw / 2, top + ph + 32, "N (candidates on one Lease), log scale", 11, anchor="middle",
           fill="#555")
    P.text(x0 + 12, top + ph / 2, y_label, 11, anchor="middle", fill="#555")
    P[-1] = P[-1].replace("<text ", f'<text transform="rotate(-90 {x0 + 12} {top + ph / 2:.1f})" ', 1)
    P.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>')


def lines_and_legend(P: ChartParts, box: Frame, series: list[dict], log_y: bool, fx, fy) -> None:
    """Each series as a line with its points, and its legend row under the plot (saying at
    which N it has no point)."""
    ly = box.top + box.ph + 48
    for s in series:
        pts = [(fx(n), fy(v)) for n, v in s["points"] if v is not None and (v > 0 or not log_y)]
        dash = ' stroke-dasharray="6,4"' if s.get("dash") else ""
        if len(pts) > 1:
            P.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}" fill="none" '
                     f'stroke="{s["color"]}" stroke-width="2"{dash}/>')
        for x, y in pts:
            P.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{s["color"]}"/>')
        missing = [n for n, v in s["points"] if v is None or (log_y and v <= 0)]
        label = s["label"] + (f" (not drawn at N = {', '.join(map(str, missing))}: "
                              f"{'0' if log_y else 'n/a'})" if missing else "")
        P.append(f'<line x1="{box.left + 10}" y1="{ly:.1f}" x2="{box.left + 34}" y2="{ly:.1f}" '
                 f'stroke="{s["color"]}" stroke-width="2"{dash}/>')
        P.text(box.left + 40, ly + 4, label, 10.5)
        ly += 15


def scale_svgs(r: dict) -> tuple[str, str]:
    sc = r["scale"]
    ns = scale_ns(sc)
    xs = [int(n) for n in ns]
    head = f"From bench/results.json ({sc['generated_at']}, {dur(sc['timings'])})"

    def pts(k, f):
        return [(int(n), f(sc[k][n])) for n in ns]
    series = []
    for k, name in IMPLS:
        series.append({"label": f"{name}: all standbys together", "color": SERIES_COLORS[k],
                       "points": pts(k, lambda S: S["all_standbys_requests_per_s"])})
        series.append({"label": f"{name}: each standby", "color": SERIES_COLORS[k], "dash": True,
                       "points": pts(k, lambda S: S["standby_requests_per_s"])})
    P = []
    P += line_chart(20, 10, 760, 480, "API requests per second in the steady state, against N", xs, series,
                    True, lambda v: f"{v:g}", "requests/s (log scale)")
    P.append(f'<text x="20" y="505" font-size="10.5" fill="#777">{html.escape(head)}; '
             'kube-apiserver audit log, standbys only (the leader renews on its own).</text>')
    req = svg_doc(800, 515, P)
    ld = sc["timings"]["lease_duration_s"]
    crash, grace = [], []
    for k, name in IMPLS:
        crash.append({"label": f"{name}: p90", "color": SERIES_COLORS[k],
                      "points": pts(k, lambda S: S["crash_failover_s"]["p90"])})
        crash.append({"label": f"{name}: max", "color": SERIES_COLORS[k], "dash": True,
                      "points": pts(k, lambda S: S["crash_failover_s"]["max"])})
        grace.append({"label": f"{name}: p50", "color": SERIES_COLORS[k],
                      "points": pts(k, lambda S: S["graceful_handoff_s"]["p50"])})
        grace.append({"label": f"{name}: max", "color": SERIES_COLORS[k], "dash": True,
                      "points": pts(k, lambda S: S["graceful_handoff_s"]["max"])})
    P = []
    P += line_chart(20, 10, 560, 440, "Crash failover (kill -9): last renewal to new acquireTime", xs, crash,
                    False, lambda v: f"{v:g} s", "seconds", ref=(ld, f"lease duration {ld:g} s"))
    P += line_chart(600, 10, 560, 440, "Graceful handoff: SIGTERM to new acquireTime", xs, grace,
                    True, lambda v: fs(v), "seconds (log scale)")
    P.append(f'<text x="20" y="465" font-size="10.5" fill="#777">{html.escape(head)}; '
             f'{sc["crash_trials"]} crash and {sc["graceful_trials"]} graceful trials per point.</text>')
    fo = svg_doc(1180, 475, P)
    return req, fo
