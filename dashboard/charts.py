"""Charts drawn on the server as inline SVG: no chart library, no JS, readable when printed.

A bar chart of one series (cost per bucket): the SVG scales to its container (viewBox), each
bar carries a <title> for a hover read-out, and a visually hidden summary states the range and
the maximum for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core.time import from_epoch_ms

WIDTH = 720
HEIGHT = 200
PAD_LEFT = 56
PAD_BOTTOM = 22
PAD_TOP = 10


@dataclass(frozen=True)
class Bar:
    start_ms: int
    value: float


def usd_label(value: float) -> str:
    return f"${value:,.2f}"


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


def bar_chart(
    bars: Sequence[Bar],
    *,
    step_ms: int,
    label: str,
    fmt: Callable[[float], str] = usd_label,
    chart_id: str = "chart",
) -> SafeString:
    """An SVG bar chart of `bars` (bucket start in epoch ms, value), times in UTC."""
    count = max(1, len(bars))
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    top = nice_ceiling(max((bar.value for bar in bars), default=0.0))
    slot = plot_w / count
    gap = min(2.0, slot * 0.2)
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title" preserveAspectRatio="none">',
        f'<title id="{escape(chart_id)}-title">{escape(label)}</title>',
    ]
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="chart-grid" x1="{PAD_LEFT}" x2="{WIDTH - 4}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="chart-axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(top * fraction))}</text>"
        )
    for index, bar in enumerate(bars):
        height = 0.0 if top <= 0 else plot_h * max(bar.value, 0) / top
        x = PAD_LEFT + index * slot + gap / 2
        y = PAD_TOP + plot_h - height
        when = _tick(from_epoch_ms(bar.start_ms), step_ms)
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{y:.1f}" width="{max(slot - gap, 0.5):.1f}" '
            f'height="{height:.1f}" data-ts="{bar.start_ms}" data-value="{bar.value:.6f}">'
            f"<title>{escape(when)} UTC: {escape(fmt(bar.value))}</title></rect>"
        )
    if bars:
        baseline = HEIGHT - 6
        first = _tick(from_epoch_ms(bars[0].start_ms), step_ms)
        last = _tick(from_epoch_ms(bars[-1].start_ms), step_ms)
        parts.append(
            f'<text class="chart-axis" x="{PAD_LEFT}" y="{baseline}">{escape(first)}</text>'
            f'<text class="chart-axis" x="{WIDTH - 4}" y="{baseline}" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def series_bars(bounds: Sequence[int], values: Sequence[float]) -> list[Bar]:
    return [Bar(start, value) for start, value in zip(bounds, values, strict=False)]
