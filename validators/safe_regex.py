"""Every regular expression a contract brings (patterns, file-name regexes, globs) runs on RE2.

Python's ``re`` backtracks: ``(a+)+$`` takes exponential time on 30 characters, and a
look-ahead after a common prefix makes a rule quadratic on one long line. A contract is
input, so its regexes must have a bound that holds for any of them, not only the shipped
ones. RE2 (``google-re2``) matches in time linear in the text, uses at most ``max_mem`` per
regex and releases the GIL while it matches, so other sessions' calls keep running. What
RE2 cannot run in linear time (look-around, backreferences) it refuses to compile: the
schema check turns that into a message, so such a contract never loads.

A program larger than ``MAX_PROGRAM_SIZE`` instructions is refused too: RE2's worst case is
(text length) x (program size), and the size is what bounds the second factor.
"""
from __future__ import annotations

from typing import Any

import re2

MAX_PROGRAM_SIZE = 20_000  # the shipped SQL patterns are ~3,300; ten times that is still fast
MAX_MEM = 8 << 20  # RE2's own default, stated: the most one compiled regex and its DFA cache may use

_UNSUPPORTED_HINT = (
    "RE2, which runs every contract regex in linear time, cannot run it (look-ahead/look-behind, "
    "backreferences and \\Z are not supported). Rewrite it without them: use \\b for a word boundary, "
    "(?m)^ for a line start, \\z for the end, and the rule's 'unless' patterns for an exception"
)


def _options(literal: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # the refusal says what is wrong; RE2's own line on stderr would only repeat it
    options.max_mem = MAX_MEM
    options.literal = literal
    return options


def compile_regex(pattern: str, *, multiline: bool = False, dotall: bool = False, literal: bool = False) -> Any:
    """A compiled RE2 regex with the ``re``-like API (search, finditer, fullmatch, lastgroup).

    Raises ValueError with a message for people when RE2 cannot compile it or it is too large.
    """
    if not literal:
        flags = ("m" if multiline else "") + ("s" if dotall else "")
        if flags:
            pattern = f"(?{flags}){pattern}"
    try:
        compiled = re2.compile(pattern, _options(literal))
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "invalid perl operator" in detail or "invalid escape sequence" in detail:
            raise ValueError(f"{_UNSUPPORTED_HINT} ({detail})") from None
        raise ValueError(f"is not a valid regular expression: {detail}") from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise ValueError(
            f"is too large ({compiled.programsize} RE2 instructions, at most {MAX_PROGRAM_SIZE}); "
            "split it into several patterns or use smaller repetition counts"
        )
    return compiled
