"""The schema of a quality contract, checked on a parsed YAML document.

``validate_contract(document)`` returns every problem at once, each as
``{"location": "contract.rules[2].severity", "message": "..."}``, so whoever writes a
contract fixes them in one round. Unknown keys are errors: a misspelt ``exclude_file``
would otherwise switch a rule off without a word.

    contract:
      name: php-layered-architecture        # [a-z0-9][a-z0-9-]*
      version: "1.0"                        # a string
      status: active                        # draft | active | deprecated (default active)
      description: ...
      scope: {paths: ["src/**/*.php"], excludes: ["vendor/**"]}
      thresholds: {critical: 0, major: 2, minor: 5}
      rules:
        - {id: ..., check_type: ..., severity: ..., message: ..., files: glob?, exclude_files: glob?, secret: bool?}

Every regex (patterns, unless, filename_regex) and glob must compile on RE2 (validators/safe_regex.py):
linear-time matching for any contract, so look-around and backreferences are refused.
"""
from __future__ import annotations

import re
from typing import Any

from domain.errors import shorten
from domain.quality import CONTRACT_STATUSES, SEVERITIES
from validators.globs import glob_error
from validators.safe_regex import compile_regex

NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
RULE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
LAYER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

CONTRACT_KEYS = ("name", "version", "status", "description", "scope", "thresholds", "rules", "metadata")
SCOPE_KEYS = ("paths", "excludes")
THRESHOLD_KEYS = ("critical", "major", "minor")
COMMON_RULE_KEYS = ("id", "check_type", "severity", "message", "description", "files", "exclude_files", "secret")
CHECK_TYPE_KEYS = {
    "forbidden_pattern": ("patterns", "regex", "unless"),
    "required_pattern": ("patterns", "regex", "within_lines"),
    "max_lines": ("max_lines",),
    "layer_dependency": ("layers", "allow"),
    "naming": ("filename_regex",),
}
CHECK_TYPES = tuple(CHECK_TYPE_KEYS)
LAYER_KEYS = ("paths", "prefixes")


def validate_contract(document: Any) -> list[dict[str, str]]:
    """Every schema error of a parsed contract document; an empty list means valid."""
    errors = _Errors()
    if not isinstance(document, dict) or "contract" not in document:
        errors.add("contract", "the document must be a mapping with one top-level key 'contract:'")
        return errors.items
    for key in document:
        if key != "contract":
            errors.add(str(key), "unknown top-level key; everything belongs under 'contract:'")
    body = document["contract"]
    if not isinstance(body, dict):
        errors.add("contract", f"must be a mapping with name, version and rules, not {_kind(body)}")
        return errors.items
    _check_keys(errors, "contract", body, CONTRACT_KEYS)

    name = body.get("name")
    if name is None:
        errors.add("contract.name", "is required: a lower-case name such as 'php-layered-architecture'")
    elif not isinstance(name, str) or not NAME_RE.fullmatch(name):
        errors.add("contract.name", f"{shorten(name)} is not allowed; use lower-case letters, digits and '-', starting with a letter or digit")
    version = body.get("version")
    if version is None:
        errors.add("contract.version", "is required: a quoted string such as \"1.0\"")
    elif not isinstance(version, str) or not version.strip():
        errors.add("contract.version", f"{shorten(version)} is not a string; quote it, e.g. version: \"1.0\"")
    status = body.get("status", "active")
    if not _one_of(status, CONTRACT_STATUSES):
        errors.add("contract.status", f"{shorten(status)} is not allowed; use one of {', '.join(CONTRACT_STATUSES)}")
    if "description" in body and not isinstance(body["description"], str):
        errors.add("contract.description", f"must be text, not {_kind(body['description'])}")
    if "metadata" in body and not isinstance(body["metadata"], dict):
        errors.add("contract.metadata", f"must be a mapping, not {_kind(body['metadata'])}")

    if "scope" in body:
        scope = body["scope"]
        if not isinstance(scope, dict):
            errors.add("contract.scope", f"must be a mapping with paths and excludes, not {_kind(scope)}")
        else:
            _check_keys(errors, "contract.scope", scope, SCOPE_KEYS)
            for key in SCOPE_KEYS:
                if key in scope:
                    _check_globs(errors, f"contract.scope.{key}", scope[key])

    if "thresholds" in body:
        thresholds = body["thresholds"]
        if not isinstance(thresholds, dict):
            errors.add("contract.thresholds", f"must be a mapping such as {{critical: 0, major: 2, minor: 5}}, not {_kind(thresholds)}")
        else:
            _check_keys(errors, "contract.thresholds", thresholds, THRESHOLD_KEYS)
            for key in THRESHOLD_KEYS:
                if key in thresholds and not _is_int(thresholds[key], low=0):
                    errors.add(f"contract.thresholds.{key}", f"{shorten(thresholds[key])} is not allowed; use a whole number ≥ 0 (the most {key} violations that still pass)")

    rules = body.get("rules")
    if rules is None:
        errors.add("contract.rules", "is required: a list of rules, each with id, check_type, severity and message")
    elif not isinstance(rules, list) or not rules:
        errors.add("contract.rules", f"must be a non-empty list of rules, not {_kind(rules)}")
    else:
        seen: dict[str, int] = {}
        for index, rule in enumerate(rules):
            _check_rule(errors, f"contract.rules[{index}]", rule, seen, index)
    return errors.items


def _check_rule(errors: "_Errors", where: str, rule: Any, seen: dict[str, int], index: int) -> None:
    if not isinstance(rule, dict):
        errors.add(where, f"must be a mapping with id, check_type, severity and message, not {_kind(rule)}")
        return
    rule_id = rule.get("id")
    if rule_id is None:
        errors.add(f"{where}.id", "is required: a short identifier such as 'no-var-dump'")
    elif not isinstance(rule_id, str) or not RULE_ID_RE.fullmatch(rule_id):
        errors.add(f"{where}.id", f"{shorten(rule_id)} is not allowed; use letters, digits, '-', '_' and '.'")
    elif rule_id in seen:
        errors.add(f"{where}.id", f"{rule_id!r} is already the id of contract.rules[{seen[rule_id]}]; rule ids must be unique in a contract")
    else:
        seen[rule_id] = index

    check_type = rule.get("check_type")
    if check_type is None:
        errors.add(f"{where}.check_type", f"is required; use one of {', '.join(CHECK_TYPES)}")
    elif not _one_of(check_type, CHECK_TYPE_KEYS):
        errors.add(f"{where}.check_type", f"{shorten(check_type)} is not a check type; use one of {', '.join(CHECK_TYPES)}")
    severity = rule.get("severity")
    if severity is None:
        errors.add(f"{where}.severity", f"is required; use one of {', '.join(reversed(SEVERITIES))}")
    elif not _one_of(severity, SEVERITIES):
        errors.add(f"{where}.severity", f"{shorten(severity)} is not allowed; use one of {', '.join(reversed(SEVERITIES))}")
    message = rule.get("message")
    if not isinstance(message, str) or not message.strip():
        errors.add(f"{where}.message", "is required: one sentence that tells the reader what is wrong and what to do")
    if "description" in rule and not isinstance(rule["description"], str):
        errors.add(f"{where}.description", f"must be text, not {_kind(rule['description'])}")
    for key in ("files", "exclude_files"):
        if key in rule:
            _check_globs(errors, f"{where}.{key}", rule[key])
    if "secret" in rule and not isinstance(rule["secret"], bool):
        errors.add(f"{where}.secret", f"{shorten(rule['secret'])} is not allowed; use true or false")

    if not _one_of(check_type, CHECK_TYPE_KEYS):
        _check_keys(errors, where, rule, COMMON_RULE_KEYS + tuple(k for keys in CHECK_TYPE_KEYS.values() for k in keys))
        return
    _check_keys(errors, where, rule, COMMON_RULE_KEYS + CHECK_TYPE_KEYS[check_type], f" for check_type {check_type}")
    if check_type in ("forbidden_pattern", "required_pattern"):
        _check_patterns(errors, where, rule)
        if "unless" in rule:
            _check_unless(errors, f"{where}.unless", rule["unless"])
        if "within_lines" in rule and not _is_int(rule["within_lines"], low=1):
            errors.add(f"{where}.within_lines", f"{shorten(rule['within_lines'])} is not allowed; use a whole number ≥ 1")
    elif check_type == "max_lines":
        if "max_lines" not in rule:
            errors.add(f"{where}.max_lines", "is required for check_type max_lines: the most lines a file may have, e.g. 500")
        elif not _is_int(rule["max_lines"], low=1):
            errors.add(f"{where}.max_lines", f"{shorten(rule['max_lines'])} is not allowed; use a whole number ≥ 1")
    elif check_type == "naming":
        pattern = rule.get("filename_regex")
        if pattern is None:
            errors.add(f"{where}.filename_regex", "is required for check_type naming: a regex the whole file name must match, e.g. '[A-Z][A-Za-z0-9]*\\.php'")
        else:
            problem = _regex_error(pattern, allow_empty=True)
            if problem:
                errors.add(f"{where}.filename_regex", problem)
    elif check_type == "layer_dependency":
        _check_layers(errors, where, rule)


def _check_patterns(errors: "_Errors", where: str, rule: dict) -> None:
    if "regex" in rule and not isinstance(rule["regex"], bool):
        errors.add(f"{where}.regex", f"{shorten(rule['regex'])} is not allowed; use true (patterns are regexes) or false (literal text)")
    patterns = rule.get("patterns")
    if patterns is None:
        errors.add(f"{where}.patterns", f"is required for check_type {rule['check_type']}: a list of texts or regexes")
        return
    if not isinstance(patterns, list) or not patterns:
        errors.add(f"{where}.patterns", f"must be a non-empty list such as ['var_dump('], not {_kind(patterns)}")
        return
    as_regex = rule.get("regex") is True
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern:
            errors.add(f"{where}.patterns[{i}]", f"{shorten(pattern)} is not allowed; use a non-empty string")
        elif as_regex:
            problem = _regex_error(pattern)
            if problem:
                errors.add(f"{where}.patterns[{i}]", problem)


def _check_unless(errors: "_Errors", where: str, unless: Any) -> None:
    """``unless``: regexes searched in a hit's matched text; a hit one of them matches is not reported."""
    if not isinstance(unless, list) or not unless:
        errors.add(where, f"must be a non-empty list of regexes such as [',\\s*true\\s*\\)'], not {_kind(unless)}")
        return
    for i, pattern in enumerate(unless):
        problem = _regex_error(pattern, allow_empty=True)
        if problem:
            errors.add(f"{where}[{i}]", problem)


def _check_layers(errors: "_Errors", where: str, rule: dict) -> None:
    layers = rule.get("layers")
    names: set[str] = set()
    if layers is None:
        errors.add(f"{where}.layers", "is required for check_type layer_dependency: layer name → {paths: [globs], prefixes: [import prefixes]}")
    elif not isinstance(layers, dict) or not layers:
        errors.add(f"{where}.layers", f"must be a non-empty mapping of layer name → {{paths, prefixes}}, not {_kind(layers)}")
    else:
        for name, layer in layers.items():
            at = f"{where}.layers.{name}"
            if not isinstance(name, str) or not LAYER_NAME_RE.fullmatch(name):
                errors.add(at, f"layer name {shorten(name)} is not allowed; use letters, digits, '_' and '-'")
                continue
            names.add(name)
            if not isinstance(layer, dict):
                errors.add(at, f"must be a mapping with paths and/or prefixes, not {_kind(layer)}")
                continue
            _check_keys(errors, at, layer, LAYER_KEYS)
            if not layer.get("paths") and not layer.get("prefixes"):
                errors.add(at, "needs paths (globs of its files) or prefixes (how imports name it), or both")
            if "paths" in layer:
                _check_globs(errors, f"{at}.paths", layer["paths"])
            if "prefixes" in layer:
                prefixes = layer["prefixes"]
                if not isinstance(prefixes, list) or not prefixes:
                    errors.add(f"{at}.prefixes", f"must be a non-empty list such as ['App\\\\Domain'] or ['domain'], not {_kind(prefixes)}")
                else:
                    for i, prefix in enumerate(prefixes):
                        if not isinstance(prefix, str) or not prefix.strip(" \\./"):
                            errors.add(f"{at}.prefixes[{i}]", f"{shorten(prefix)} is not allowed; use a namespace or module prefix such as 'App\\\\Domain' or 'domain'")
    allow = rule.get("allow")
    if allow is None:
        errors.add(f"{where}.allow", "is required for check_type layer_dependency: layer → [layers it may use]")
        return
    if not isinstance(allow, dict):
        errors.add(f"{where}.allow", f"must be a mapping of layer → [layers it may use], not {_kind(allow)}")
        return
    for source, targets in allow.items():
        at = f"{where}.allow.{source}"
        if names and not _one_of(source, names):
            errors.add(at, f"{shorten(source)} is not a layer; declared layers are {', '.join(sorted(names))}")
        if targets is None:
            continue  # `domain: []` written as `domain:` — may use nothing but itself
        if not isinstance(targets, list):
            errors.add(at, f"must be a list of layer names, not {_kind(targets)}")
            continue
        for i, target in enumerate(targets):
            if names and not _one_of(target, names):
                errors.add(f"{at}[{i}]", f"{shorten(target)} is not a layer; declared layers are {', '.join(sorted(names))}")


def _check_globs(errors: "_Errors", where: str, value: Any) -> None:
    globs = [value] if isinstance(value, str) else value
    if not isinstance(globs, list) or not globs:
        errors.add(where, f"must be a glob or a non-empty list of globs such as ['src/**/*.php'], not {_kind(value)}")
        return
    for i, glob in enumerate(globs):
        problem = glob_error(glob)
        if problem:
            errors.add(where if isinstance(value, str) else f"{where}[{i}]", f"{shorten(glob)} {problem}")


def _check_keys(errors: "_Errors", where: str, mapping: dict, allowed: tuple[str, ...], context: str = "") -> None:
    for key in mapping:
        if key not in allowed:
            errors.add(f"{where}.{key}", f"unknown key{context}; allowed keys are {', '.join(allowed)}")


def _regex_error(pattern: Any, allow_empty: bool = False) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        return f"{shorten(pattern)} is not allowed; use a non-empty regular expression"
    try:
        compiled = compile_regex(pattern, multiline=True)
    except ValueError as exc:
        return f"{shorten(pattern)} {exc}"
    if not allow_empty and (compiled.fullmatch("") is not None or any(m.start() == m.end() for m in compiled.finditer(_PROBE))):
        return f"{shorten(pattern)} can match empty text, so it would flag every line of every file; make it match at least one character"
    return None


_PROBE = "a 1_\n(b) = $c;\n\n"


def _one_of(value: Any, allowed: Any) -> bool:
    """Membership that a YAML list or mapping (unhashable) cannot crash."""
    return isinstance(value, str) and value in allowed


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


MAX_ERRORS = 100  # one round of fixes; a document with thousands of bad rules gets a bounded answer


class _Errors:
    __slots__ = ("items", "dropped")

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.dropped = 0

    def add(self, location: str, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"location": location, "message": message})
            return
        self.dropped += 1
        if self.dropped == 1:
            self.items.append({"location": "contract", "message": f"more errors follow; only the first {MAX_ERRORS} are listed, fix these and check again"})
