"""Path globs of contracts, translated to one regex per set.

Globs are relative to the checked directory and use ``/``:

- ``*`` and ``?`` stay inside one path segment; ``[abc]`` is a class; ``{php,inc}`` a choice;
- ``**/`` is zero or more directories, a trailing ``/**`` everything below;
- a glob without ``/`` matches a name at any depth (``*.pem``, ``vendor``), as in .gitignore;
  a leading ``/`` anchors it to the checked directory (``/server.py``);
- a glob that matches a directory matches everything below it (``vendor/`` or ``src``).

``fnmatch`` is not used because its ``*`` crosses ``/`` and it has no ``**``. The regexes
run on RE2 (validators/safe_regex.py): ``**/**/**/x`` or ``*a*a*a*a*`` would backtrack
polynomially in Python's ``re``, and globs come from contracts.
"""
from __future__ import annotations

import re
from typing import Iterable

from validators.safe_regex import compile_regex

_WILDCARDS = frozenset("*?[]{}")


def glob_to_regex(glob: str) -> str:
    """The regex source (no anchors) of one glob."""
    anywhere = "/" not in glob.strip().rstrip("/")
    glob = _normalise(glob)
    out: list[str] = []
    i, n = 0, len(glob)
    in_braces = 0
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                i += 2
                if i < n and glob[i] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 2 if glob.startswith("[!", i) or glob.startswith("[^", i) else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "{" and "}" in glob[i:]:
            in_braces += 1
            out.append("(?:")
        elif c == "}" and in_braces:
            in_braces -= 1
            out.append(")")
        elif c == "," and in_braces:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    body = "".join(out)
    return "(?:.*/)?" + body if anywhere else body


def _normalise(glob: str) -> str:
    glob = glob.strip().replace("\\", "/")
    while glob.startswith("./"):
        glob = glob[2:]
    glob = glob.lstrip("/")
    if glob.endswith("/"):
        glob += "**"
    return glob or "**"


def glob_error(glob: object) -> str | None:
    """Why ``glob`` cannot be used, or None."""
    if not isinstance(glob, str) or not glob.strip():
        return "must be a non-empty string such as 'src/**/*.php'"
    try:
        compile_regex(glob_to_regex(glob), dotall=True)
    except ValueError as exc:
        return f"is not a usable glob ({exc})"
    return None


class GlobSet:
    """Several globs, matched with one regex against a relative path or any of its parents."""

    __slots__ = ("globs", "regex")

    def __init__(self, globs: Iterable[str]):
        self.globs = tuple(globs)
        if self.globs:
            alternatives = "|".join(glob_to_regex(g) for g in self.globs)
            self.regex = compile_regex(f"(?:{alternatives})(?:/.*)?", dotall=True)
        else:
            self.regex = None

    def __bool__(self) -> bool:
        return bool(self.globs)

    def matches(self, rel_path: str) -> bool:
        return self.regex is not None and self.regex.fullmatch(rel_path) is not None

    def names_explicitly(self, rel_path: str) -> bool:
        """Whether a glob with a literal file name part matches: ``*.pem`` names a key file, ``**`` does not."""
        for glob in self.globs:
            last = _normalise(glob).rsplit("/", 1)[-1]
            literal = "".join(ch for ch in last if ch not in _WILDCARDS).strip(".")
            if literal and compile_regex(glob_to_regex(glob), dotall=True).fullmatch(rel_path):
                return True
        return False
