"""What a source file imports, read with regexes over its whole text (no parser, no execution).

- PHP: ``use A\\B;`` (with ``function``/``const``, aliases, lists and ``{}`` groups) and
  ``require``/``include`` (``_once``) of a quoted path;
- Python: ``import a.b`` and ``from a.b import c``; relative imports are made absolute
  from the file's own package;
- JS/TS: ``import ... from '...'``, ``export ... from '...'``, ``import('...')``, ``require('...')``.

Each reference is either a *name* (matched against layer prefixes, with the language's
separator) or a *path* inside the tree (matched against layer path globs). Imports
written inside strings or comments are read too; that is the price of not parsing.

Linear in the text: a line's start is found by bisecting the newline offsets (computed once),
never by scanning back from each hit, which was quadratic on one long line of many imports.
"""
from __future__ import annotations

import posixpath
import re
from bisect import bisect_right
from dataclasses import dataclass

PHP_EXTENSIONS = frozenset({".php", ".phtml", ".inc"})
PYTHON_EXTENSIONS = frozenset({".py", ".pyi"})
JS_EXTENSIONS = frozenset({".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".vue", ".svelte"})
# Tried in this order when a JS path import leaves out its extension.
JS_RESOLVE_SUFFIXES = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".vue", "/index.ts", "/index.tsx", "/index.js", "/index.jsx")


@dataclass(frozen=True, slots=True)
class ImportRef:
    offset: int  # where the statement starts in the text
    target: str  # a name (``App\\Domain\\User``, ``domain.models``, ``@app/ui``) or a tree path
    separator: str  # ``\\``, ``.`` or ``/`` for names; "" for a tree path
    statement: str  # the statement as written, for the report


# Each regex starts with a literal keyword, because Python's re skips ahead fast only then;
# a look-behind after the keyword does the work of \b, and the line start is checked in code.
_PHP_USE = re.compile(r"use(?<![^ \t\n]use)[ \t]+(?:(?:function|const)[ \t]+)?([\\A-Za-z_][^;(]{0,1000});")
_PHP_INCLUDES = tuple(
    re.compile(keyword + r"(?<!\w" + keyword + r")(?:_once)?\b[ \t]*\(?([^;\n]{1,300})") for keyword in ("require", "include")
)
_QUOTED = re.compile(r"""(['"])([^'"]+)\1""")
_PY_KEYWORD = re.compile(r"import(?<![^ \t\n]import)[ \t(\\]")
_PY_STATEMENT = re.compile(
    r"[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\(?[ \t]*([\w, \t]*)|import[ \t]+([\w.][\w., \t]*))"
)
_JS_IMPORTS = (
    re.compile(r"""from(?<!\wfrom)[ \t]*(['"`])([^'"`\n]+)\1"""),
    re.compile(r"""import(?<!\wimport)[ \t]*\(?[ \t]*(['"`])([^'"`\n]+)\1"""),
    re.compile(r"""require(?<!\wrequire)[ \t]*\([ \t]*(['"`])([^'"`\n]+)\1"""),
)


def extract_imports(rel_path: str, text: str) -> list[ImportRef]:
    """The imports of one file, by its extension; files of other languages give none."""
    ext = posixpath.splitext(rel_path)[1].lower()
    if ext in PHP_EXTENSIONS:
        return _php(rel_path, text)
    if ext in PYTHON_EXTENSIONS:
        return _python(rel_path, text)
    if ext in JS_EXTENSIONS:
        return _javascript(rel_path, text)
    return []


def _php(rel_path: str, text: str) -> list[ImportRef]:
    refs = []
    line_start = _LineStarts(text)
    indent_end: dict[int, int] = {}  # line start → end of its leading blanks, measured once per line
    for m in _PHP_USE.finditer(text):
        start = line_start(m.start())
        if start not in indent_end:
            indent_end[start] = _BLANK.match(text, start).end()
        if indent_end[start] != m.start():
            continue  # `use` inside a sentence or after code: not an import statement
        body = m.group(1)
        statement = _statement(m.group(0))
        if "{" in body:
            prefix, _, group = body.partition("{")
            names = [prefix.strip().rstrip("\\") + "\\" + item for item in group.rstrip("} \t\n").split(",")]
        else:
            names = body.split(",")
        for name in names:
            name = re.split(r"\s+as\s+", name.strip(), maxsplit=1)[0].replace(" ", "").strip("\\")
            if name:
                refs.append(ImportRef(m.start(), name, "\\", statement))
    folder = posixpath.dirname(rel_path)
    for regex in _PHP_INCLUDES:
        for m in regex.finditer(text):
            quoted = _QUOTED.search(m.group(1))
            if quoted:
                path = posixpath.normpath(posixpath.join(folder, quoted.group(2).lstrip("/")))
                refs.append(ImportRef(m.start(), path, "", _statement(m.group(0))))
    return refs


def _python(rel_path: str, text: str) -> list[ImportRef]:
    refs = []
    package = rel_path.split("/")[:-1]
    seen_lines: set[int] = set()
    line_start = _LineStarts(text)
    for hit in _PY_KEYWORD.finditer(text):
        start = line_start(hit.start())
        if start in seen_lines:
            continue
        seen_lines.add(start)
        m = _PY_STATEMENT.match(text, start)
        if m is None:
            continue
        dots, module, names, plain = m.groups()
        statement = _statement(m.group(0))
        if plain is not None:
            for part in plain.split(","):
                words = part.split()
                if words:
                    refs.append(ImportRef(start, words[0].strip("."), ".", statement))
            continue
        if dots:
            keep = len(package) - (len(dots) - 1)
            base = package[:keep] if keep >= 0 else []
            if module:
                targets = [".".join(base + [module])]
            else:  # `from . import a, b` imports the modules a and b of the package
                targets = [".".join(base + [n.split()[0]]) for n in names.split(",") if n.split()] or [".".join(base)]
        else:
            targets = [module]
        for target in targets:
            if target.strip("."):
                refs.append(ImportRef(start, target.strip("."), ".", statement))
    return refs


def _javascript(rel_path: str, text: str) -> list[ImportRef]:
    refs = []
    folder = posixpath.dirname(rel_path)
    line_start = _LineStarts(text)
    for regex in _JS_IMPORTS:
        for m in regex.finditer(text):
            spec = m.group(2)
            statement = _statement(text[max(line_start(m.start()), m.start() - STATEMENT_MAX) : m.end()])
            if spec.startswith("."):
                refs.append(ImportRef(m.start(), posixpath.normpath(posixpath.join(folder, spec)), "", statement))
            else:
                refs.append(ImportRef(m.start(), spec, "/", statement))
    return refs


STATEMENT_MAX = 300  # characters of a line before a JS import kept for the report
_BLANK = re.compile(r"[ \t]*")


class _LineStarts:
    """``line_start(offset)``: where the line holding ``offset`` starts, by bisection."""

    __slots__ = ("starts",)

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> int:
        return self.starts[bisect_right(self.starts, offset) - 1]


def _statement(raw: str) -> str:
    return " ".join(raw.split())
