"""What the pictures share: the SVG document around their parts, and a tick step."""

from __future__ import annotations


def svg_doc(W: int, H: int, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
            f'<rect width="{W}" height="{H}" fill="#fff"/>' + "\n".join(parts) + "</svg>\n")


def nice_step(length: float, target: int = 10) -> float:
    raw = length / target
    for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60):
        if s >= raw:
            return s
    return 60
