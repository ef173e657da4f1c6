"""The quality check of a source tree under one or more compiled contracts.

Reads files and nothing else: it never writes, never runs a shell, git or any program.
Each file is read once and each rule that covers it runs over the whole text. Every call is
bounded: files read (max_files), bytes per file (max_file_bytes: larger ones are skipped as
too_large), bytes in total (max_total_bytes) and seconds (max_seconds, checked on every
directory entry and between rules); the first bound that trips ends the walk, and the report
covers what was read and names the bound in ``budget_exhausted``. Each rule's matching is
linear in the file (RE2), so the time between two checks is bounded too.

Direction: infrastructure → validators (the pure rule engine) → domain. Validators never
import infrastructure; the I/O of a check lives here.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any, Sequence

from domain.errors import QualityError
from domain.quality import SEVERITY_RANK, Violation, empty_counts
from infrastructure.source_tree import MAX_FILE_BYTES, Budget, is_secret_filename, read_text, resolve_check_path, walk
from validators.contract_rules import Contract, Rule, check_file, verdict_for, worst_verdict

DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_MAX_TOTAL_BYTES = 256 * 1024 * 1024


def run_quality_check(
    path: str,
    contracts: Sequence[Contract],
    allowed_roots: Sequence[str | os.PathLike],
    *,
    max_violations: int = 200,
    max_files: int = DEFAULT_MAX_FILES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> dict[str, Any]:
    """Check the tree (or file) at ``path`` and return the verdict, counts and sorted violations.

    Raises QualityError when ``path`` is outside ``allowed_roots`` or does not exist, or when
    no contract is given.
    """
    started = time.perf_counter()
    target = resolve_check_path(path, allowed_roots)
    if not contracts:
        raise QualityError("No contract to check with: none is active. Name one with contract=..., or call contracts_list to see which exist.")
    budget = Budget(started + max_seconds, time.perf_counter)
    max_violations = max(0, max_violations)
    skipped: Counter = Counter()
    kept = _Worst(max_violations)
    counts = {c.name: empty_counts() for c in contracts}
    critical_rules: set[str] = set()  # from every violation, not only the kept ones: the completion gate names them
    files = lines = total_bytes = 0

    def prune(rel_dir: str) -> bool:
        return all(c.excludes_directory(rel_dir) for c in contracts)

    for rel, dir_fd, name in walk(target, skipped, prune, budget):
        secret_name = is_secret_filename(name)
        rules: list[Rule] = []
        for contract in contracts:
            rules += contract.rules_for(rel, explicit_only=secret_name)
        if not rules:
            skipped["secret_filename" if secret_name and _any_scope(contracts, rel) else "out_of_scope"] += 1
            continue
        if files >= max_files:
            budget.exhausted = "files"
            break
        if budget.over():
            break
        text, reason = read_text(dir_fd, name, min(max_file_bytes, max_total_bytes - total_bytes))
        if text is None:
            if reason == "too_large" and max_total_bytes - total_bytes < max_file_bytes:
                budget.exhausted = "bytes"  # it would fit a file's bound, not what is left of the total
                break
            skipped[reason] += 1
            continue
        total_bytes += len(text)
        found, line_count = check_file(rules, rel, text, budget.over)
        if found is None:  # the time ran out between two rules: this file is not counted as checked
            break
        files += 1
        lines += line_count
        for violation in found:
            counts[violation.contract][violation.severity] += 1
            if violation.severity == "critical":
                critical_rules.add(violation.rule_id)
        kept.extend(found)

    per_contract = [
        {"name": c.name, "version": c.version, "verdict": verdict_for(counts[c.name], c.thresholds), "counts": counts[c.name]}
        for c in contracts
    ]
    total = empty_counts()
    for entry in per_contract:
        for severity, n in entry["counts"].items():
            total[severity] += n
    violations = kept.result()
    return {
        "path": target.real_path,
        "verdict": worst_verdict([entry["verdict"] for entry in per_contract]),
        "counts": total,
        "total_violations": sum(total.values()),
        "violations": [v.as_dict() for v in violations],
        "truncated": sum(total.values()) > len(violations),
        "critical_rules": sorted(critical_rules),
        "contracts": per_contract,
        "files_scanned": files,
        "lines_scanned": lines,
        "skipped": dict(sorted(skipped.items())),
        "duration_ms": round((time.perf_counter() - started) * 1000),
        "budget_exhausted": budget.exhausted,
    }


def _any_scope(contracts: Sequence[Contract], rel: str) -> bool:
    return any(c.rules_for(rel) for c in contracts)


class _Worst:
    """Keeps at most ``limit`` violations, the most severe first, without holding every hit of a huge tree."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: list[Violation] = []

    def extend(self, found: list[Violation]) -> None:
        if found:
            self.items.extend(found)
            if len(self.items) > 4 * self.limit + 1000:
                self._cut()

    def _cut(self) -> None:
        self.items.sort(key=lambda v: (-SEVERITY_RANK[v.severity], v.file, v.line, v.rule_id))
        del self.items[self.limit :]

    def result(self) -> list[Violation]:
        if len(self.items) > self.limit:
            self._cut()
        return sorted(self.items, key=lambda v: (v.file, v.line, v.rule_id, v.contract))
