#!/usr/bin/env python3
"""Render bench/results.json as BENCHMARKS.md (top level) and bench/timeline.svg.

    python3 bench/render.py [--results bench/results.json]

Every figure in the outputs is read from results.json (bench/run.py writes it);
nothing here is a measured value. This file is the entry point; each section and
picture has its function in bench/k8sbench/render/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from k8sbench.render.benchmarks_md import markdown
from k8sbench.render.readme import readme_block, with_readme_block
from k8sbench.render.scale_md import scale_ns
from k8sbench.render.scale_svg import SCALE_SVGS, scale_svgs
from k8sbench.render.timeline_svg import svg

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=str(REPO / "bench" / "results.json"))
    ap.add_argument("--markdown", default=str(REPO / "BENCHMARKS.md"))
    ap.add_argument("--svg", default=str(REPO / "bench" / "timeline.svg"))
    ap.add_argument("--readme", default=str(REPO / "README.md"),
                    help="the README whose comparison table is rewritten between its markers")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if any output differs from what results.json gives")
    args = ap.parse_args()
    r = json.loads(Path(args.results).read_text())
    svg_path, md_path = Path(args.svg).resolve(), Path(args.markdown).resolve()
    readme_path = Path(args.readme).resolve()
    try:
        rel = svg_path.relative_to(md_path.parent)
    except ValueError:
        rel = svg_path
    want = {svg_path: svg(r), md_path: markdown(r, str(rel)) + "\n",
            readme_path: with_readme_block(readme_path.read_text(), readme_block(r))}
    if r.get("scale") and scale_ns(r["scale"]):
        for name, text in zip(SCALE_SVGS, scale_svgs(r)):
            want[svg_path.parent / name] = text
    if args.check:
        stale = [str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p, text in want.items()
                 if not p.exists() or p.read_text() != text]
        if stale:
            print(f"[render] out of date with {args.results}: {', '.join(stale)}; "
                  "run `python3 bench/render.py` (or `make bench` for new figures)", flush=True)
            return 1
        print(f"[render] {', '.join(p.name for p in want)} match {args.results}", flush=True)
        return 0
    for p, text in want.items():
        p.write_text(text)
    print(f"[render] wrote {', '.join(str(p) for p in want)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
