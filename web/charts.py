"""Statistics as pictures: inline SVG drawn on the server (no script, no chart library).

status_series() walks the recent history back from today's counts; line_chart() and
bar_chart() draw. Every label goes through h(), like everything else on a page.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from web.html import Safe, h, join

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
COLORS = {"pending": "#7a818c", "in_progress": "#2f6fdb", "completed": "#2e9e5b", "failed": "#d64545", "cancelled": "#b39a3c"}
STEPS = (  # bucket sizes, the smallest that draws the window in at most POINTS points
    timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=6),
    timedelta(days=1),
)
POINTS = 30


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("T", " ")[:26])


def status_series(history: dict[str, Any], now_counts: dict[str, int]) -> list[tuple[datetime, dict[str, int]]]:
    """[(bucket end, {status: tasks}), ...] oldest first, ending now with today's counts.

    From the newest bucket back: undo each move (to -1, from +1) and each creation
    (pending -1) that happened after the bucket's end."""
    now = _time(history["now"])
    first = min([_time(t) for t in history["created"]] + [_time(m[0]) for m in history["moves"]], default=now)
    span = max(now - first, timedelta(minutes=1))
    step = next((s for s in STEPS if span / s <= POINTS), STEPS[-1])
    ends = [now - step * i for i in range(min(POINTS, int(span / step) + 2))]
    events: list[tuple[datetime, str | None, str]] = [(_time(m[0]), m[1], m[2]) for m in history["moves"]]
    events += [(_time(t), None, "pending") for t in history["created"]]
    events.sort(key=lambda e: e[0], reverse=True)
    counts = {s: int(now_counts.get(s, 0)) for s in STATUSES}
    series, i = [], 0
    for end in ends:
        while i < len(events) and events[i][0] > end:
            at, source, target = events[i]
            if target in counts:
                counts[target] -= 1
            if source in counts:
                counts[source] += 1
            i += 1
        series.append((end, {s: max(0, n) for s, n in counts.items()}))
    series.reverse()
    return series


def _label(at: datetime, span: timedelta) -> str:
    if span <= timedelta(minutes=10):
        return at.strftime("%H:%M:%S")
    return at.strftime("%H:%M") if span <= timedelta(days=1) else at.strftime("%m-%d")


def line_chart(series: list[tuple[datetime, dict[str, int]]], width: int = 720, height: int = 260) -> Safe:
    left, right, top, bottom = 44, 130, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1] + [n for _, counts in series for n in counts.values()])
    count = max(len(series) - 1, 1)
    span = series[-1][0] - series[0][0] if series else timedelta(0)

    def x(i: int) -> float:
        return left + plot_w * i / count

    def y(n: int) -> float:
        return top + plot_h * (1 - n / peak)

    parts = [h('<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>', left, top + plot_h, left + plot_w, top + plot_h)]
    for tick in sorted({0, peak // 2, peak}):
        parts.append(h('<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>', left - 6, round(y(tick) + 4, 1), tick))
    for i in sorted({0, len(series) // 2, len(series) - 1}):
        if 0 <= i < len(series):
            parts.append(h('<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>', round(x(i), 1), height - 8,
                           _label(series[i][0], span)))
    for row, status in enumerate(STATUSES):
        points = " ".join(f"{x(i):.1f},{y(counts[status]):.1f}" for i, (_, counts) in enumerate(series))
        parts.append(h('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></polyline>',
                       points, COLORS[status], status))
        ly = top + 14 + row * 20
        last = series[-1][1][status] if series else 0
        parts.append(h('<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" class="legend">{} {}</text>',
                       width - right + 12, ly - 10, COLORS[status], width - right + 30, ly, status.replace("_", " "), last))
    return h('<svg class="chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="Tasks by status over time">{}</svg>',
             width, height, width, height, join(parts))


BARS_MAX = 12  # bars a chart draws; the long tail is one "other" bar


def ranked_bars(items: list[tuple[str, float]], fmt: Callable[[float], str], what: str = "models") -> list[tuple[str, float, str]]:
    """The largest BARS_MAX - 1 items as bars, the rest summed in one "other (n models)" bar,
    so 5,000 models draw as 12 bars, not 5,000."""
    ranked = sorted(items, key=lambda item: item[1] or 0, reverse=True)
    if len(ranked) <= BARS_MAX:
        return [(label, value or 0, fmt(value or 0)) for label, value in ranked]
    kept, rest = ranked[:BARS_MAX - 1], ranked[BARS_MAX - 1:]
    other = sum(value or 0 for _, value in rest)
    return [(label, value or 0, fmt(value or 0)) for label, value in kept] + [(f"other ({len(rest):,} {what})", other, fmt(other))]


def bar_chart(rows: list[tuple[str, float, str]], title: str, color: str, width: int = 720) -> Safe:
    """Horizontal bars: (label, value, value as text)."""
    if not rows:
        return h('<p class="empty">No results with {} yet.</p>', title)
    label_w, bar_h, gap = 220, 18, 8
    height = len(rows) * (bar_h + gap) + gap
    peak = max(v for _, v, _ in rows) or 1
    parts = []
    for i, (label, value, text) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(1.0, (width - label_w - 110) * value / peak)
        parts.append(h(
            '<text x="{}" y="{}" class="legend" text-anchor="end">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>'
            '<text x="{}" y="{}" class="legend">{}</text>',
            label_w - 8, y + 13, label[:32], label_w, y, round(w, 1), bar_h, color, label, text,
            round(label_w + w + 6, 1), y + 13, text,
        ))
    return h('<svg class="chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">{}</svg>',
             width, height, width, height, title, join(parts))
