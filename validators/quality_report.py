"""Texts made from a quality-check result: the Markdown report and the one-paragraph summary.

Pure functions over the result dict of ``run_quality_check``; matched texts arrive
already redacted, so nothing here can leak a secret.
"""
from __future__ import annotations

from itertools import groupby
from typing import Any, Mapping

from domain.quality import SEVERITY_RANK

_SEVERITY_MARK = {"critical": "**critical**", "major": "**major**", "minor": "minor", "info": "info"}


def format_markdown(result: Mapping[str, Any]) -> str:
    """A report a person reads: verdict, counts, violations grouped by file, what was skipped."""
    counts = result["counts"]
    out = [
        f"# Quality check: {result['verdict']}",
        "",
        f"`{result['path']}` · {result['files_scanned']:,} files · {result['lines_scanned']:,} lines · {result['duration_ms']:,} ms",
        "",
        "| contract | verdict | critical | major | minor | info |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for c in result["contracts"]:
        n = c["counts"]
        out.append(f"| {c['name']}@{c['version']} | {c['verdict']} | {n['critical']} | {n['major']} | {n['minor']} | {n['info']} |")
    if len(result["contracts"]) > 1:
        out.append(f"| **all** | **{result['verdict']}** | {counts['critical']} | {counts['major']} | {counts['minor']} | {counts['info']} |")
    out.append("")
    if result.get("budget_exhausted"):
        out += [f"> The {result['budget_exhausted']} budget ran out: files after that point were not checked.", ""]
    violations = result["violations"]
    if not violations:
        out.append("No violations.")
    else:
        out += ["## Violations", ""]
        for file, items in groupby(violations, key=lambda v: v["file"]):
            out.append(f"### {file}")
            out.append("")
            for v in items:
                match = f" {_code(v['match'])}" if v["match"] else ""
                out.append(f"- line {v['line']}: {_SEVERITY_MARK[v['severity']]} `{v['rule_id']}` {v['message']}{match}")
            out.append("")
        if result.get("truncated"):
            out.append(f"Showing {len(violations)} of {result['total_violations']} violations, the most severe first chosen.")
    skipped = result.get("skipped") or {}
    if skipped:
        out += ["", "Skipped: " + ", ".join(f"{reason.replace('_', ' ')} {n}" for reason, n in skipped.items()) + "."]
    return "\n".join(out).rstrip() + "\n"


def summarise(result: Mapping[str, Any], limit: int = 2000) -> str:
    """The short text stored on a task as its quality_check comment."""
    counts = result["counts"]
    contracts = ", ".join(f"{c['name']}@{c['version']}" for c in result["contracts"])
    parts = [
        f"Quality check {result['verdict']}: {counts['critical']} critical, {counts['major']} major, "
        f"{counts['minor']} minor, {counts['info']} info in {result['files_scanned']} files "
        f"({result['lines_scanned']} lines) of {result['path']}; contracts {contracts}."
    ]
    worst = sorted(result["violations"], key=lambda v: -SEVERITY_RANK[v["severity"]])[:5]
    worst = [v for v in worst if v["severity"] in ("critical", "major")]
    if worst:
        parts.append("Worst: " + "; ".join(f"{v['file']}:{v['line']} {v['rule_id']}" for v in worst) + ".")
    if result.get("budget_exhausted"):
        parts.append(f"Incomplete: the {result['budget_exhausted']} budget ran out.")
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _code(text: str) -> str:
    text = " ".join(text.split())
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"
