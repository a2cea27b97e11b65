"""Charts drawn on the server as inline SVG: no chart library, no JS, readable when printed.

A bar chart of one series (cost per bucket): the SVG scales to its container (viewBox), each
bar carries a <title> for a hover read-out, and the chart's own <title> names what it shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core.time import from_epoch_ms

WIDTH = 1000
HEIGHT = 200


@dataclass(frozen=True)
class Bar:
    start_ms: int
    value: float


def usd_label(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def _tick(value: datetime, step_ms: int) -> str:
    return f"{value:%b %d}" if step_ms >= 86_400_000 else f"{value:%b %d %H:%M}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^n at or above `value` (the chart's top line)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value * (1 - 1e-12):
            return factor * magnitude
    return 10 * magnitude


def axis_usd(top: float) -> Callable[[float], str]:
    """Axis labels with as many decimals as the scale needs ($0.005, $2.50, $1,200)."""
    places = 0 if top >= 100 else 2 if top >= 0.1 else 3 if top >= 0.01 else 4
    return lambda value: f"${value:,.{places}f}"


def bar_chart(
    bars: Sequence[Bar],
    *,
    step_ms: int,
    label: str,
    fmt: Callable[[float], str] = usd_label,
    chart_id: str = "chart",
) -> SafeString:
    """A bar chart of `bars` (bucket start in epoch ms, value), times in UTC.

    The bars are an SVG stretched to the box (any width, fixed height); the axis labels are
    HTML beside it, so text keeps its size on a phone and on a wide screen alike."""
    count = max(1, len(bars))
    top = nice_ceiling(max((bar.value for bar in bars), default=0.0))
    axis = axis_usd(top)
    slot = WIDTH / count
    gap = min(slot * 0.2, 2.0)
    rects = []
    for index, bar in enumerate(bars):
        height = 0.0 if top <= 0 else HEIGHT * max(bar.value, 0) / top
        when = _tick(from_epoch_ms(bar.start_ms), step_ms)
        rects.append(
            f'<rect class="chart-bar" x="{index * slot + gap / 2:.2f}" y="{HEIGHT - height:.2f}" '
            f'width="{max(slot - gap, 0.5):.2f}" height="{height:.2f}" data-ts="{bar.start_ms}" '
            f'data-value="{bar.value:.6f}"><title>{escape(when)} UTC: {escape(fmt(bar.value))}'
            "</title></rect>"
        )
    grid = "".join(
        f'<line class="chart-grid" x1="0" x2="{WIDTH}" y1="{HEIGHT * (1 - f):.1f}" '
        f'y2="{HEIGHT * (1 - f):.1f}" vector-effect="non-scaling-stroke"/>'
        for f in (0, 0.5, 1)
    )
    y_labels = "".join(
        f'<span style="top: {100 * (1 - f):.0f}%">{escape(axis(top * f))}</span>'
        for f in (1, 0.5, 0)
    )
    x_labels = ""
    if bars:
        first = _tick(from_epoch_ms(bars[0].start_ms), step_ms)
        last = _tick(from_epoch_ms(bars[-1].start_ms), step_ms)
        x_labels = f"<span>{escape(first)}</span><span>{escape(last)}</span>"
    cid = escape(chart_id)
    html = (
        f'<figure class="chart-box" id="{cid}">'
        f'<div class="chart-y" aria-hidden="true">{y_labels}</div>'
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-labelledby="{cid}-title">'
        f'<title id="{cid}-title">{escape(label)}</title>{grid}{"".join(rects)}</svg>'
        f'<figcaption class="chart-x">{x_labels}</figcaption></figure>'
    )
    return mark_safe(html)  # noqa: S308 - every interpolated text is escaped above


def series_bars(bounds: Sequence[int], values: Sequence[float]) -> list[Bar]:
    return [Bar(start, value) for start, value in zip(bounds, values, strict=False)]
