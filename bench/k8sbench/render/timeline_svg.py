"""bench/timeline.svg: who held each Lease over two crash trials and two graceful trials,
per implementation."""

from __future__ import annotations

import html

from .fmt import IMPLS, dur, fs
from .svg import nice_step, svg_doc


COLORS = ["#3b6fb6", "#2e9b57", "#8a4fb0"]


GAP = "#d6453d"


def svg(r: dict) -> str:
    W, LEFT, RIGHT = 1200, 150, 30
    LANE, LANE_GAP = 20, 8
    plot_w = W - LEFT - RIGHT
    parts, y = [], 0

    def text(x, y, s, size=12, anchor="start", weight="normal", fill="#222", extra=""):
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                     f'font-weight="{weight}" fill="{fill}" {extra}>{html.escape(s)}</text>')

    t = r["timings"]
    y = 28
    text(20, y, f"Who held the Lease: k8sensus and client-go side by side ({dur(t)}, 3 replicas each, one API server)",
         17, weight="bold")
    y += 20
    text(20, y, f"From bench/results.json ({r['generated_at']}, commit {r['source']['commit_short']}). "
         "Bars: from a replica's acquireTime to its last renewTime (kill -9) or to its release (SIGTERM).",
         12, fill="#555")
    y += 16
    text(20, y, "Red band: from that moment to the next holder's acquireTime. "
         "Time axis: seconds from the start of each sample.", 12, fill="#555")
    y += 18
    # legend
    lx = 20
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="{COLORS[0]}"/>')
    text(lx + 32, y + 9, "holds the Lease", 11)
    lx += 140
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="{GAP}" fill-opacity="0.25" '
                 f'stroke="{GAP}"/>')
    text(lx + 32, y + 9, "no working leader (length labelled)", 11)
    lx += 245
    parts.append(f'<rect x="{lx}" y="{y}" width="26" height="10" fill="none" stroke="{COLORS[0]}" '
                 'stroke-width="1.5" stroke-dasharray="5,3"/>')
    text(lx + 32, y + 9, "Lease still names the killed leader", 11)
    lx += 245
    parts.append(f'<path d="M{lx},{y} l10,10 M{lx + 10},{y} l-10,10" stroke="{GAP}" stroke-width="2.2"/>')
    text(lx + 16, y + 9, "kill -9", 11)
    lx += 75
    parts.append(f'<path d="M{lx},{y} h12 l-6,10 z" fill="#e08a00"/>')
    text(lx + 18, y + 9, "SIGTERM", 11)
    lx += 85
    parts.append(f'<circle cx="{lx + 5}" cy="{y + 5}" r="4" fill="none" stroke="#777" stroke-width="1.5"/>')
    text(lx + 14, y + 9, "replica restarted", 11)
    y += 24

    sections = (("crash", "Crash: kill -9 of the leader"), ("graceful", "Graceful: SIGTERM to the leader"))
    for kind, title in sections:
        tls = [(name, r["timeline"].get(k, {}).get(kind)) for k, name in IMPLS]
        tls = [(n, tl) for n, tl in tls if tl]
        if not tls:
            continue
        length = max(tl["length_s"] for _, tl in tls)
        scale = plot_w / length
        y += 14
        text(20, y, f"{title}: for each, the two consecutive trials closest to its median", 15, weight="bold")
        y += 10
        for name, tl in tls:
            y += 18
            trials = tl.get("trials") or sorted({g["trial"] + 1 for g in tl["gaps"]})
            text(20, y + 2, name, 14, weight="bold")
            text(20 + 9 * len(name) + 12, y + 2, f"trials {', '.join(map(str, trials))}", 11, fill="#777")
            top = y + 10
            lanes = tl["replicas"]
            height = len(lanes) * (LANE + LANE_GAP)
            # axis grid
            step = nice_step(length)
            tick = 0.0
            while tick <= length + 1e-9:
                x = LEFT + tick * scale
                parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + height}" '
                             'stroke="#e4e4e4" stroke-width="1"/>')
                text(x, top + height + 13, f"{tick:g} s", 10, anchor="middle", fill="#777")
                tick += step
            for i, rep in enumerate(lanes):
                ly = top + i * (LANE + LANE_GAP)
                text(LEFT - 10, ly + LANE * 0.72, rep, 12, anchor="end")
                parts.append(f'<line x1="{LEFT}" y1="{ly + LANE / 2}" x2="{LEFT + plot_w}" '
                             f'y2="{ly + LANE / 2}" stroke="#ccc" stroke-dasharray="2,3"/>')
                for iv in tl["held"].get(rep, []):
                    a, b = max(0.0, iv["from"]), min(length, iv["to"])
                    if b <= a:
                        continue
                    parts.append(f'<rect x="{LEFT + a * scale:.1f}" y="{ly + 2}" '
                                 f'width="{max(1.0, (b - a) * scale):.1f}" height="{LANE - 4}" '
                                 f'fill="{COLORS[i % len(COLORS)]}" rx="2"/>')
            # gaps
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
                elif cx > LEFT + plot_w - 110:
                    anchor, cx = "end", x0 + w
                text(cx, top - 8, label, 11.5, anchor=anchor, weight="bold", fill=GAP)
            # markers
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
            y = top + height + 22
        y += 6
    H = y + 10
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
            f'<rect width="{W}" height="{H}" fill="#fff"/>')
    return head + "\n".join(parts) + "</svg>\n"
