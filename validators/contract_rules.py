"""Compiled contracts, the check of one file's text, and the verdict. Pure: the caller reads files.

A contract is compiled once (every pattern, glob and layer map), then each file's whole
text is searched with ``finditer``; offsets become line numbers by bisecting the
newline offsets, which are only computed for a file that has a hit. Every regex a contract
brings runs on RE2 (validators/safe_regex.py): linear time for any pattern, so no rule can
stall a check, whatever a contract contains.
"""
from __future__ import annotations

import posixpath
import re
from bisect import bisect_left
from typing import Any, Callable, Iterable, Mapping, Sequence

from domain.errors import QualityError, shorten
from domain.quality import (
    DEFAULT_THRESHOLDS,
    MATCH_MAX,
    REDACTED,
    VERDICT_RANK,
    VERDICTS,
    Violation,
)
from validators.contract_schema import validate_contract
from validators.globs import GlobSet
from validators.safe_regex import compile_regex
from validators.imports import JS_RESOLVE_SUFFIXES, ImportRef, extract_imports

_NEWLINE = re.compile("\n")


class Lines:
    """Line arithmetic over one text; the newline offsets are found only when first needed."""

    __slots__ = ("text", "count", "_newlines")

    def __init__(self, text: str):
        self.text = text
        self.count = count_lines(text)
        self._newlines: list[int] | None = None

    def line_of(self, offset: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in _NEWLINE.finditer(self.text)]
        return bisect_left(self._newlines, offset) + 1


def count_lines(text: str) -> int:
    """Lines as an editor counts them: a last line without a newline still counts."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


class Rule:
    """What every check type shares: identity, severity, message and the files it covers."""

    __slots__ = ("id", "check_type", "severity", "message", "secret", "files", "exclude_files", "contract")

    def __init__(self, spec: Mapping[str, Any], contract: str):
        self.id: str = spec["id"]
        self.check_type: str = spec["check_type"]
        self.severity: str = spec["severity"]
        self.message: str = " ".join(spec["message"].split())
        self.secret: bool = bool(spec.get("secret", False))
        self.files = GlobSet(_as_list(spec.get("files")))
        self.exclude_files = GlobSet(_as_list(spec.get("exclude_files")))
        self.contract = contract

    def applies_to(self, rel_path: str) -> bool:
        # On the hot path of every file: the compiled regexes directly, not GlobSet.matches.
        include, exclude = self.files.regex, self.exclude_files.regex
        if include is not None and include.fullmatch(rel_path) is None:
            return False
        return exclude is None or exclude.fullmatch(rel_path) is None

    def check(self, rel_path: str, lines: Lines) -> list[Violation]:
        raise NotImplementedError

    def _violation(self, rel_path: str, line: int, match: str, detail: str = "") -> Violation:
        if self.secret and match:
            match = REDACTED
        elif len(match) > MATCH_MAX:
            match = match[: MATCH_MAX - 3] + "..."
        message = f"{self.message} ({detail})" if detail else self.message
        return Violation(rel_path, line, self.id, self.severity, message, match, self.contract)


class ForbiddenPattern(Rule):
    """``unless``: a hit whose matched text one of these regexes finds is not reported (what
    a look-ahead did before; RE2 has none): ``print_r\\s*\\([^;\\n]*`` unless ``,\\s*true\\s*\\)``."""

    __slots__ = ("regexes", "unless")

    def __init__(self, spec: Mapping[str, Any], contract: str):
        super().__init__(spec, contract)
        self.regexes = _compile_patterns(spec)
        self.unless = tuple(compile_regex(p, multiline=True) for p in spec.get("unless") or ())

    def check(self, rel_path: str, lines: Lines) -> list[Violation]:
        text = lines.text
        # Most files hit nothing: one search per pattern is cheaper than setting up finditer.
        hit = [regex for regex in self.regexes if regex.search(text) is not None]
        if not hit:
            return []
        found: list[Violation] = []
        seen: set[int] = set()  # one violation per rule and line, however many patterns hit it
        for regex in hit:
            for m in regex.finditer(text):
                if self.unless and any(u.search(m.group()) is not None for u in self.unless):
                    continue
                line = lines.line_of(m.start())
                if line not in seen:
                    seen.add(line)
                    found.append(self._violation(rel_path, line, m.group()))
        return found


class RequiredPattern(Rule):
    __slots__ = ("regexes", "details", "within_lines")

    def __init__(self, spec: Mapping[str, Any], contract: str):
        super().__init__(spec, contract)
        self.regexes = _compile_patterns(spec)
        self.within_lines: int | None = spec.get("within_lines")
        where = "" if self.within_lines is None else f" in the first {self.within_lines} lines"
        # The message already says what is required; a regex's source would only add noise.
        patterns = spec["patterns"]
        if not spec.get("regex"):
            self.details = tuple(f"missing{where}: {shorten(p, 60)}" for p in patterns)
        elif len(patterns) == 1:
            self.details = (f"missing{where}",)
        else:
            self.details = tuple(f"missing{where}: pattern {i} of {len(patterns)}" for i in range(1, len(patterns) + 1))

    def check(self, rel_path: str, lines: Lines) -> list[Violation]:
        text = lines.text if self.within_lines is None else _head(lines.text, self.within_lines)
        return [
            self._violation(rel_path, 1, "", detail)
            for regex, detail in zip(self.regexes, self.details)
            if regex.search(text) is None
        ]


class MaxLines(Rule):
    __slots__ = ("max_lines",)

    def __init__(self, spec: Mapping[str, Any], contract: str):
        super().__init__(spec, contract)
        self.max_lines: int = spec["max_lines"]

    def check(self, rel_path: str, lines: Lines) -> list[Violation]:
        if lines.count <= self.max_lines:
            return []
        return [self._violation(rel_path, self.max_lines + 1, "", f"{lines.count} lines, at most {self.max_lines} allowed")]


class Naming(Rule):
    __slots__ = ("regex",)

    def __init__(self, spec: Mapping[str, Any], contract: str):
        super().__init__(spec, contract)
        self.regex = compile_regex(spec["filename_regex"])

    def check(self, rel_path: str, lines: Lines) -> list[Violation]:
        name = posixpath.basename(rel_path)
        if self.regex.fullmatch(name):
            return []
        return [self._violation(rel_path, 1, name, f"the file name must match {shorten(self.regex.pattern, 60)}")]


class LayerDependency(Rule):
    """Which layer a file is in (first layer whose paths match) and which layers its imports name."""

    __slots__ = ("allowed", "prefixes", "_layer_regex", "_layer_names")

    def __init__(self, spec: Mapping[str, Any], contract: str):
        super().__init__(spec, contract)
        layers = [(name, GlobSet(_as_list(layer.get("paths")))) for name, layer in spec["layers"].items()]
        # All layers in one regex, a named group each: one match finds a file's layer, and an
        # alternation tries its branches in order, so the first layer declared still wins.
        branches = [(name, paths.regex.pattern) for name, paths in layers if paths.regex is not None]
        self._layer_regex = compile_regex("|".join(f"(?P<L{i}>{p})" for i, (_, p) in enumerate(branches)), dotall=True)
        self._layer_names = [name for name, _ in branches]
        # A layer may always use itself; one missing from `allow` may use nothing else.
        self.allowed = {name: {name, *(spec["allow"].get(name) or ())} for name in spec["layers"]}
        prefixes = [
            (prefix.strip().strip("\\./"), name)
            for name, layer in spec["layers"].items()
            for prefix in layer.get("prefixes") or ()
        ]
        self.prefixes = sorted(prefixes, key=lambda item: -len(item[0]))  # longest wins

    def layer_of_path(self, rel_path: str) -> str | None:
        m = self._layer_regex.fullmatch(rel_path) if self._layer_names else None
        return self._layer_names[int(m.lastgroup[1:])] if m else None

    def applies_to(self, rel_path: str) -> bool:
        return self.layer_of_path(rel_path) is not None and super().applies_to(rel_path)

    def layer_of_import(self, ref: ImportRef) -> str | None:
        if not ref.separator:
            if ref.target.startswith(".."):
                return None  # outside the checked tree
            for suffix in JS_RESOLVE_SUFFIXES:
                layer = self.layer_of_path(ref.target + suffix)
                if layer:
                    return layer
            return None
        target = ref.target
        for prefix, name in self.prefixes:
            if target == prefix or target.startswith(prefix + ref.separator):
                return name
        return None

    def check(self, rel_path: str, lines: Lines) -> list[Violation]:
        own = self.layer_of_path(rel_path)
        if own is None:
            return []
        found = []
        for ref in extract_imports(rel_path, lines.text):
            target = self.layer_of_import(ref)
            if target is not None and target not in self.allowed[own]:
                found.append(self._violation(rel_path, lines.line_of(ref.offset), ref.statement, f"{own} → {target}: {ref.target}"))
        return found


RULE_CLASSES = {
    "forbidden_pattern": ForbiddenPattern,
    "required_pattern": RequiredPattern,
    "max_lines": MaxLines,
    "layer_dependency": LayerDependency,
    "naming": Naming,
}


class Contract:
    """A validated contract, compiled: ask it which of its rules cover a file."""

    __slots__ = ("name", "version", "status", "description", "source", "thresholds", "paths", "excludes", "rules")

    def __init__(self, body: Mapping[str, Any], source: str | None = None):
        self.name: str = body["name"]
        self.version: str = body["version"]
        self.status: str = body.get("status", "active")
        self.description: str = " ".join((body.get("description") or "").split())
        self.source = source
        self.thresholds = {**DEFAULT_THRESHOLDS, **(body.get("thresholds") or {})}
        scope = body.get("scope") or {}
        self.paths = GlobSet(_as_list(scope.get("paths")))
        self.excludes = GlobSet(_as_list(scope.get("excludes")))
        self.rules: tuple[Rule, ...] = tuple(RULE_CLASSES[r["check_type"]](r, self.name) for r in body["rules"])

    def in_scope(self, rel_path: str) -> bool:
        include, exclude = self.paths.regex, self.excludes.regex
        if include is not None and include.fullmatch(rel_path) is None:
            return False
        return exclude is None or exclude.fullmatch(rel_path) is None

    def rules_for(self, rel_path: str, explicit_only: bool = False) -> list[Rule]:
        """The rules that cover a file. With ``explicit_only`` (a file that holds secrets by its
        name), only rules whose globs name the file itself (``*.pem``), not a folder or ``**``."""
        if not self.in_scope(rel_path):
            return []
        rules = [rule for rule in self.rules if rule.applies_to(rel_path)]
        if explicit_only and rules and not self.paths.names_explicitly(rel_path):
            rules = [rule for rule in rules if rule.files.names_explicitly(rel_path)]
        return rules

    def excludes_directory(self, rel_dir: str) -> bool:
        """True when nothing below ``rel_dir`` can be in scope, so a walk need not enter it."""
        return bool(self.excludes) and self.excludes.matches(rel_dir + "/")  # "/" so that `vendor/**` counts

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "description": self.description,
            "rules": len(self.rules),
            "scope": {"paths": list(self.paths.globs) or ["**"], "excludes": list(self.excludes.globs)},
            "thresholds": dict(self.thresholds),
            "source": self.source,
        }


def compile_contract(document: Any, source: str | None = None) -> Contract:
    """Validate and compile one parsed contract document; QualityError lists every schema error."""
    errors = validate_contract(document)
    if errors:
        where = f" in {source}" if source else ""
        listed = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise QualityError(f"The contract{where} is not valid: {listed}{more}. Fix these keys and load it again.")
    return Contract(document["contract"], source)


def check_file(
    rules: Iterable[Rule], rel_path: str, text: str, stop: Callable[[], bool] | None = None
) -> tuple[list[Violation] | None, int]:
    """The violations of one file's text under the given rules, and its line count; ``None``
    instead of the violations when ``stop()`` said the time ran out before a rule."""
    lines = Lines(text)
    found: list[Violation] = []
    for rule in rules:
        if stop is not None and stop():
            return None, lines.count
        found.extend(rule.check(rel_path, lines))
    return found, lines.count


def check_text(contract: Contract, rel_path: str, text: str) -> list[Violation]:
    """The violations of one file under one contract (scope and rule globs applied)."""
    return check_file(contract.rules_for(rel_path), rel_path, text)[0]


def verdict_for(counts: Mapping[str, int], thresholds: Mapping[str, int] = DEFAULT_THRESHOLDS) -> str:
    """rejected > revision_required > approved_with_notes > approved, by the contract's thresholds."""
    if counts.get("critical", 0) > thresholds.get("critical", 0):
        return "rejected"
    if counts.get("major", 0) > thresholds.get("major", 2) or counts.get("minor", 0) > thresholds.get("minor", 5):
        return "revision_required"
    if any(counts.get(s, 0) for s in ("critical", "major", "minor", "info")):
        return "approved_with_notes"
    return "approved"


def worst_verdict(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=VERDICT_RANK.__getitem__, default=VERDICTS[0])


def _compile_patterns(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    as_regex = spec.get("regex", False)
    return tuple(compile_regex(p, multiline=True, literal=not as_regex) for p in spec["patterns"])


def _head(text: str, lines: int) -> str:
    end = -1
    for _ in range(lines):
        end = text.find("\n", end + 1)
        if end == -1:
            return text
    return text[:end]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
