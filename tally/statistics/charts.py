"""Server-side SVG bar charts for the statistics page: no JavaScript, readable at 390 px.

Each chart is an image with a name and a description (role="img", <title>, <desc>, aria-labelledby), and
the page prints the same numbers in a table next to it. Labels sit above their bars so long district names
and dates need no label column (at phone width a label column left the bars a few pixels wide)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 360
BAR = 14
LINE = 14  # the label's line above each bar
GAP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: a hidden cell, drawn as no bar with its text ("hidden")
    text: str  # the value as the table prints it


def bar_chart(*, chart_id: str, title: str, desc: str, bars: list[Bar]) -> SafeString:
    if not bars:
        return mark_safe("")
    top = max((b.value for b in bars if b.value is not None), default=0) or 1
    room = WIDTH - 70  # space for the value after the longest bar
    height = len(bars) * (LINE + BAR + GAP) + GAP
    tid, did = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="stat-chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" aria-labelledby="{tid} {did}">',
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>',
    ]
    for i, b in enumerate(bars):
        y = GAP + i * (LINE + BAR + GAP)
        parts.append(f'<text x="0" y="{y + LINE - 3}" font-size="12">{escape(b.label)}</text>')
        w = 0 if b.value is None else max(1, round(room * b.value / top))
        if b.value is not None:
            parts.append(f'<rect x="0" y="{y + LINE}" width="{w}" height="{BAR}" fill="#0b5cad"/>')
        style = ' font-style="italic"' if b.value is None else ""
        parts.append(
            f'<text x="{w + 4}" y="{y + LINE + BAR - 3}" font-size="12"{style}>{escape(b.text)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
