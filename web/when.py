"""Times in people's form: "5 min ago" with the exact time on hover, due dates as dates.

The database gives ISO text on its own clock (README: Timestamps); a page is drawn against
that clock's `now` (TaskRepository.clock), so "ago" is right whatever zone the server uses.
"""
from __future__ import annotations

from datetime import datetime

from web.html import Safe, h


def parse(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def exact(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"), (60, "min")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}" + ("s" if n > 1 and unit != "min" else "")
    return ""


def ago(text: str | None, now: datetime | None) -> Safe:
    """<time> saying how long ago, its title the exact time; the exact time alone without a clock."""
    moment = parse(text)
    if moment is None:
        return h("{}", text or "")
    if now is None:
        return h('<time datetime="{}">{}</time>', moment.isoformat(), exact(moment))
    span = _span((now - moment).total_seconds())
    words = "just now" if not span else (f"{span} ago" if moment <= now else f"in {span}")
    return h('<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact(moment), words)


def due(text: str | None, now: datetime | None) -> Safe:
    """A due date as a date ("2026-12-31"; its time only when it has one), and how far off."""
    moment = parse(text)
    if moment is None:
        return h("{}", text or "")
    shown = moment.strftime("%Y-%m-%d") if moment.time() == datetime.min.time() else moment.strftime("%Y-%m-%d %H:%M")
    if now is None:
        return h('<time datetime="{}">{}</time>', moment.isoformat(), shown)
    days = (moment.date() - now.date()).days
    if moment < now and moment.time() != datetime.min.time() or days < 0:
        state, words = "overdue", "overdue"
    elif days == 0:
        state, words = "soon", "today"
    elif days == 1:
        state, words = "soon", "tomorrow"
    else:
        state, words = "later", f"in {days} days"
    return h('<time class="due" data-due="{}" datetime="{}" title="{}">{} ({})</time>', state, moment.isoformat(),
             exact(moment), shown, words)


