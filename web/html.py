"""Escaping for server-rendered pages: every value is escaped unless it is `Safe`.

Titles, descriptions, comments and names are written by agents and people alike, so a page
is built only with `h(template, *values)`: the template is ours, every value goes through
html.escape (quotes included, so a value may sit in an attribute), and only fragments that
h() itself made (`Safe`) pass unchanged. No template engine: this is all the board needs.
"""
from __future__ import annotations

from html import escape
from typing import Any, Iterable
from urllib.parse import urlencode


class Safe(str):
    """Markup built by h() or join(): inserted as it is."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    if isinstance(value, Safe):
        return value
    if value is None:
        return Safe("")
    return Safe(escape(str(value), quote=True))


def h(template: str, *args: Any, **kwargs: Any) -> Safe:
    """str.format over escaped values. A value's own braces are not formatted again."""
    return Safe(template.format(*(esc(a) for a in args), **{k: esc(v) for k, v in kwargs.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(esc(p) for p in parts))


def url(path: str, **query: Any) -> str:
    """A path with a query of the given non-empty values (escaped later, by h())."""
    pairs = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(pairs)}" if pairs else path
