"""The two pictures at scale: API requests against N, and failover and handoff against N."""

from __future__ import annotations

import html
import math

from .fmt import IMPLS, dur, fs
from .scale_md import scale_ns
from .svg import nice_step, svg_doc


SCALE_SVGS = ("scale-requests.svg", "scale-failover.svg")


SERIES_COLORS = {"k8sensus": "#3b6fb6", "client_go": "#d6453d"}


def line_chart(x0: float, y0: float, w: float, h: float, title: str, xs: list[int], series: list[dict],
               log_y: bool, y_fmt, y_label: str, ref: tuple | None = None) -> list[str]:
    """A chart at (x0, y0) of size w×h: x is N on a log axis; series are
    {label, color, dash, points: [(n, value or None)]}. On a log y axis, zeros and None are
    not drawn (and say so in the label). The legend goes under the plot; `ref` is an optional
    (value, label) drawn as a grey horizontal line."""
    P = []

    def text(x, y, s, size=11, anchor="start", fill="#222", weight="normal"):
        P.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{fill}">{html.escape(s)}</text>')
    L, R, T, B = 70, 10, 30, 48 + 15 * len(series)
    pw, ph = w - L - R, h - T - B
    text(x0, y0 + 14, title, 14, weight="bold")
    vals = [v for s in series for _, v in s["points"] if v is not None and (v > 0 or not log_y)]
    if ref and vals:
        vals.append(ref[0])
    if not vals:
        text(x0 + L, y0 + T + 20, "no data", 12, fill="#777")
        return P
    lo, hi = min(vals), max(vals)
    if log_y:
        lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if hi_e == lo_e:
            hi_e += 1
        ticks = [10.0 ** e for e in range(lo_e, hi_e + 1)]

        def fy(v):
            return y0 + T + ph - (math.log10(v) - lo_e) / (hi_e - lo_e) * ph
    else:
        # Not from 0: a failover of 15.0 s and one of 15.3 s must look different.
        step = nice_step(hi - lo, 6) if hi > lo else 0.1
        lo_v = math.floor(lo / step) * step
        top = math.ceil(hi / step) * step
        if top <= lo_v:
            top = lo_v + step
        ticks = [lo_v + i * step for i in range(int(round((top - lo_v) / step)) + 1)]

        def fy(v):
            return y0 + T + ph - (v - lo_v) / (top - lo_v) * ph
    lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))

    def fx(n):
        return x0 + L + (0.5 if lx1 == lx0 else (math.log10(n) - lx0) / (lx1 - lx0)) * pw
    for tv in ticks:
        y = fy(tv)
        P.append(f'<line x1="{x0 + L}" y1="{y:.1f}" x2="{x0 + L + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        text(x0 + L - 6, y + 4, y_fmt(tv), 10, anchor="end", fill="#777")
    for n in xs:
        x = fx(n)
        P.append(f'<line x1="{x:.1f}" y1="{y0 + T}" x2="{x:.1f}" y2="{y0 + T + ph}" stroke="#eee"/>')
        text(x, y0 + T + ph + 15, str(n), 10, anchor="middle", fill="#777")
    text(x0 + L + pw / 2, y0 + T + ph + 32, "N (candidates on one Lease), log scale", 11, anchor="middle",
         fill="#555")
    text(x0 + 12, y0 + T + ph / 2, y_label, 11, anchor="middle", fill="#555")
    P[-1] = P[-1].replace("<text ", f'<text transform="rotate(-90 {x0 + 12} {y0 + T + ph / 2:.1f})" ', 1)
    P.append(f'<rect x="{x0 + L}" y="{y0 + T}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>')
    if ref:
        y = fy(ref[0])
        P.append(f'<line x1="{x0 + L}" y1="{y:.1f}" x2="{x0 + L + pw}" y2="{y:.1f}" stroke="#888" '
                 'stroke-dasharray="2,3"/>')
        text(x0 + L + pw - 4, y - 4, ref[1], 10, anchor="end", fill="#666")
    ly = y0 + T + ph + 48
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
        P.append(f'<line x1="{x0 + L + 10}" y1="{ly:.1f}" x2="{x0 + L + 34}" y2="{ly:.1f}" '
                 f'stroke="{s["color"]}" stroke-width="2"{dash}/>')
        text(x0 + L + 40, ly + 4, label, 10.5)
        ly += 15
    return P


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
