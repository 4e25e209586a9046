"""bench/timeline.svg: who held each Lease over two crash trials and two graceful trials,
per implementation."""

from __future__ import annotations

import html

from .fmt import IMPLS, dur, fs
from .svg import nice_step, svg_doc


COLORS = ["#3b6fb6", "#2e9b57", "#8a4fb0"]
GAP = "#d6453d"
W, LEFT, RIGHT = 1200, 150, 30
LANE, LANE_GAP = 20, 8
PLOT_W = W - LEFT - RIGHT
SECTIONS = (("crash", "Crash: kill -9 of the leader"), ("graceful", "Graceful: SIGTERM to the leader"))


class Parts(list):
    """The picture's elements, in drawing order, with the text element they all use."""

    def text(self, x, y, s, size=12, anchor="start", weight="normal", fill="#222", extra=""):
        self.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                    f'font-weight="{weight}" fill="{fill}" {extra}>{html.escape(s)}</text>')


def svg(r: dict) -> str:
    """timeline.svg from results.json's "timeline": a heading and a legend, then per kind of
    trial one panel per implementation, each on its own time axis."""
    parts = Parts()
    y = heading(parts, r)
    for kind, title in SECTIONS:
        tls = [(name, r["timeline"].get(k, {}).get(kind)) for k, name in IMPLS]
        tls = [(n, tl) for n, tl in tls if tl]
        if not tls:
            continue
        length = max(tl["length_s"] for _, tl in tls)
        scale = PLOT_W / length
        y += 14
        parts.text(20, y, f"{title}: for each, the two consecutive trials closest to its median", 15, weight="bold")
        y += 10
        for name, tl in tls:
            y = panel(parts, kind, name, tl, y + 18, length, scale)
        y += 6
    return svg_doc(W, y + 10, parts)


def heading(parts: Parts, r: dict) -> float:
    """The title, what the bars and bands mean, and the legend; returns the y below them."""
    t = r["timings"]
    y = 28
    parts.text(20, y, f"Who held the Lease: k8sensus and client-go side by side ({dur(t)}, 3 replicas each, one API server)",
               17, weight="bold")
    y += 20
    parts.text(20, y, f"From bench/results.json ({r['generated_at']}, commit {r['source']['commit_short']}). "
               "Bars: from a replica's acquireTime to its last renewTime (kill -9) or to its release (SIGTERM).",
               12, fill="#555")
    y += 16
    parts.text(20, y, "Red band: from that moment to the next holder's acquireTime. "
               "Time axis: seconds from the start of each sample.", 12, fill="#555")
    y += 18
    return legend(parts, y)


def legend(parts: Parts, y: float) -> float:
    """One sample of each mark, in a row at `y`; returns the y below it."""
    lx = 20
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="{COLORS[0]}"/>')
    parts.text(lx + 32, y + 9, "holds the Lease", 11)
    lx += 140
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="{GAP}" fill-opacity="0.25" '
                 f'stroke="{GAP}"/>')
    parts.text(lx + 32, y + 9, "no working leader (length labelled)", 11)
    lx += 245
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="none" stroke="{COLORS[0]}" '
                 'stroke-width="1.5" stroke-dasharray="5,3"/>')
    parts.text(lx + 32, y + 9, "Lease still names the killed leader", 11)
    lx += 245
    parts.append(f'<path d="M{lx},{y} l10,10 M{lx + 10},{y} l-10,10" stroke="{GAP}" stroke-width="2.2"/>')
    parts.text(lx + 16, y + 9, "kill -9", 11)
    lx += 75
    parts.append(f'<path d="M{lx},{y} h12 l-6,10 z" fill="#e08a00"/>')
    parts.text(lx + 18, y + 9, "SIGTERM", 11)
    lx += 85
    parts.append(f'<circle cx="{lx + 5}" cy="{y + 5}" r="4" fill="none" stroke="#777" stroke-width="1.5"/>')
    parts.text(lx + 14, y + 9, "replica restarted", 11)
    y += 24
    return y


def panel(parts: Parts, kind: str, name: str, tl: dict, y: float, length: float, scale: float) -> float:
    """One implementation's sample (`tl`, a timeline of results.json) at `y`: its replicas'
    lanes over a time axis of `length` s, `scale` pixels per second; returns the y below it."""
    trials = tl.get("trials") or sorted({g["trial"] + 1 for g in tl["gaps"]})
    parts.text(20, y + 2, name, 14, weight="bold")
    parts.text(20 + 9 * len(name) + 12, y + 2, f"trials {', '.join(map(str, trials))}", 11, fill="#777")
    top = y + 10
    height = len(tl["replicas"]) * (LANE + LANE_GAP)
    grid(parts, top, height, length, scale)
    bars(parts, tl, top, length, scale)
    gap_bands(parts, kind, tl, top, height, length, scale)
    marks(parts, tl, top, length, scale)
    return top + height + 22


def grid(parts: Parts, top: float, height: float, length: float, scale: float) -> None:
    """The time axis: a line and a label every nice_step() seconds."""
    step = nice_step(length)
    tick = 0.0
    while tick <= length + 1e-9:
        x = LEFT + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + height}" '
                     'stroke="#e4e4e4" stroke-width="1"/>')
        parts.text(x, top + height + 13, f"{tick:g} s", 10, anchor="middle", fill="#777")
        tick += step


def bars(parts: Parts, tl: dict, top: float, length: float, scale: float) -> None:
    """Each replica's lane, with a bar for every stretch it held the Lease."""
    lanes = tl["replicas"]
    for i, rep in enumerate(lanes):
        ly = top + i * (LANE + LANE_GAP)
        parts.text(LEFT - 10, ly + LANE * 0.72, rep, 12, anchor="end")
        parts.append(f'<line x1="{LEFT}" y1="{ly + LANE / 2}" x2="{LEFT + PLOT_W}" '
                     f'y2="{ly + LANE / 2}" stroke="#ccc" stroke-dasharray="2,3"/>')
        for iv in tl["held"].get(rep, []):
            a, b = max(0.0, iv["from"]), min(length, iv["to"])
            if b <= a:
                continue
            parts.append(f'<rect x="{LEFT + a * scale:.1f}" y="{ly + 2}" '
                         f'width="{max(1.0, (b - a) * scale):.1f}" height="{LANE - 4}" '
                         f'fill="{COLORS[i % len(COLORS)]}" rx="2"/>')


def gap_bands(parts: Parts, kind: str, tl: dict, top: float, height: float, length: float, scale: float) -> None:
    """A band for each stretch without a working leader, labelled with its length (crash) or
    with the handoff time (graceful); after a crash, the killed leader's lane is outlined."""
    lanes = tl["replicas"]
    for g in tl["gaps"]:
        a, b = max(0.0, g["from"]), min(length, g["to"])
        x0, w = LEFT + a * scale, max(3.0, (b - a) * scale)
        parts.append(f'<rect x="{x0:.1f}" y="{top - 4}" width="{w:.1f}" height="{height + 2}" '
                     f'fill="{GAP}" fill-opacity="0.18" stroke="{GAP}" stroke-width="1"/>')
        if kind == "crash":
            label = f"{fs(g['length_s'])}: last renewal → new leader"
            if g["old"] in lanes:
                i = lanes.index(g["old"])
                ly = top + i * (LANE + LANE_GAP)
                parts.append(f'<rect x="{x0:.1f}" y="{ly + 3}" width="{w:.1f}" height="{LANE - 6}" '
                             f'fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5" '
                             'stroke-dasharray="5,3" rx="2"/>')
        else:
            label = f"SIGTERM → new leader {fs(g['handoff_s'])}"
        cx = x0 + w / 2
        anchor = "middle"
        if cx < LEFT + 110:
            anchor, cx = "start", x0
        elif cx > LEFT + PLOT_W - 110:
            anchor, cx = "end", x0 + w
        parts.text(cx, top - 8, label, 11.5, anchor=anchor, weight="bold", fill=GAP)


def marks(parts: Parts, tl: dict, top: float, length: float, scale: float) -> None:
    """The kills, SIGTERMs and restarts, on the lane of the replica they hit."""
    lanes = tl["replicas"]
    for m in tl["markers"]:
        if m["replica"] not in lanes or not (0 <= m["t"] <= length):
            continue
        i = lanes.index(m["replica"])
        x = LEFT + m["t"] * scale
        cy = top + i * (LANE + LANE_GAP) + LANE / 2
        if m["kind"] == "kill":
            parts.append(f'<path d="M{x - 6:.1f},{cy - 6:.1f} l12,12 M{x + 6:.1f},{cy - 6:.1f} l-12,12" '
                         f'stroke="{GAP}" stroke-width="2.5"/>')
        elif m["kind"] == "sigterm":
            parts.append(f'<path d="M{x - 7:.1f},{cy - 11:.1f} h14 l-7,11 z" fill="#e08a00" '
                         'stroke="#fff" stroke-width="0.8"/>')
        elif m["kind"] == "restart":
            parts.append(f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="4.5" fill="#fff" stroke="#777" '
                         'stroke-width="1.5"/>')
