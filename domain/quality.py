"""The values of a quality check: severities, verdicts and one violation.

A contract's rules give each violation a severity; its thresholds turn the counts into a
verdict. The order of both tuples below is the order of gravity, mildest first.
"""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "minor", "major", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

VERDICTS = ("approved", "approved_with_notes", "revision_required", "rejected")
VERDICT_RANK = {name: rank for rank, name in enumerate(VERDICTS)}

DEFAULT_THRESHOLDS = {"critical": 0, "major": 2, "minor": 5}

CONTRACT_STATUSES = ("draft", "active", "deprecated")

MATCH_MAX = 120  # characters of matched text carried into a result
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule in one file. ``file`` is relative to the checked path, ``/``-separated."""

    file: str
    line: int
    rule_id: str
    severity: str
    message: str
    match: str
    contract: str

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "message": self.message,
            "match": self.match,
            "contract": self.contract,
        }


def empty_counts() -> dict[str, int]:
    """Counts per severity, most severe first (the order people read them in)."""
    return {"critical": 0, "major": 0, "minor": 0, "info": 0}
