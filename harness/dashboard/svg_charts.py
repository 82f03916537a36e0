"""Line charts as inline SVG, rendered on the server: no script, nothing from a CDN. Pure:
numbers in, markup out; every label is escaped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 560, 180
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 12, 14, 26


@dataclass(frozen=True)
class Line:
    name: str
    values: Sequence[float | None]
    """One value per bucket, oldest first; None leaves a gap."""
    css_class: str


def nice_ceiling(value: float) -> float:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for m in (1, 2, 5, 10):
        if m * scale >= value:
            return m * scale
    return 10 * scale


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.3g}"


def line_chart(title: str, unit: str, lines: Sequence[Line], x_labels: Sequence[str]) -> str:
    """An SVG of `lines` over equally spaced buckets; `x_labels` spread under the axis."""
    n = max((len(line.values) for line in lines), default=0)
    top = nice_ceiling(max((v for line in lines for v in line.values if v is not None), default=0))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (plot_w * (i + 0.5) / n if n else 0)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{html.escape(title)}</title>",
    ]
    for k in range(5):  # gridlines and the y axis's labels
        v = top * k / 4
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(v):.1f}" '
            f'y2="{y(v):.1f}"/><text class="tick" x="{_LEFT - 6}" y="{y(v) + 4:.1f}" '
            f'text-anchor="end">{html.escape(_fmt(v))}</text>'
        )
    parts.append(
        f'<text class="unit" x="{_LEFT}" y="{_TOP - 3}" text-anchor="start">'
        f"{html.escape(unit)}</text>"
    )
    for j, label in enumerate(x_labels):
        lx = _LEFT + plot_w * j / max(1, len(x_labels) - 1)
        anchor = "start" if j == 0 else "end" if j == len(x_labels) - 1 else "middle"
        parts.append(
            f'<text class="tick" x="{lx:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{html.escape(label)}</text>"
        )
    for line in lines:
        for run in _runs(line.values):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            parts.append(
                f'<polyline class="{html.escape(line.css_class)}" points="{points}">'
                f"<title>{html.escape(line.name)}</title></polyline>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The unbroken stretches of values (a single point is drawn as a short run of one)."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((i, v))
    out = [r for r in runs if r]
    return [r if len(r) > 1 else [r[0], (r[0][0], r[0][1])] for r in out]
