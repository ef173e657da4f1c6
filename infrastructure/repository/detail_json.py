"""tasks_get on MariaDB: the task, its parent, its child lists, its lease, priority, labels and
dependencies in one UNION ALL whose rows are one column: JSON_ARRAY(the part's name, the row as
a JSON_OBJECT).

Why: PyMySQL parses every packet in Python, the description of every column included, and
every field of every row. The 21-column UNION ALL of reads.py (slots shared by every part,
mostly NULL) cost ~0.24 ms of client CPU per tasks_get here; one column and one json.loads
(C) per row ~0.1 ms, and the database does less too (0.57 vs 0.65 ms a statement). One
JSON document with JSON_ARRAYAGG lists, tried first, cost the client 0.15 ms but MariaDB
1.7–2.2 ms: each aggregate sets up GROUP_CONCAT's machinery (~0.2 ms even for no rows).
Figures: bench/RESULTS.md, "tasks_get on MariaDB in one read".

Each row says exactly what the 21-column row said, already in the tools' form:
- timestamps as `_text_time` writes them ('YYYY-MM-DDTHH:MM:SS.ffffff', DATE_FORMAT); a date
  with a zero part, which PyMySQL hands over as the text it got, as that text (`iso`);
- DECIMAL as a JSON number (json.loads reads it as float(Decimal) did), ids and counts as ints;
- metadata as text inside the JSON, parsed in Python by `_json` as the plain column was;
- the capped parts (the newest comments, the first tasks blocked) capped in SQL as before;
  reads.py sorts every list as it did.
No aggregate, so group_concat_max_len plays no part; a row too large for one packet
(max_allowed_packet) comes as NULL: `rows` then says so, and the caller reads the task the
old way (tests/integration/test_get_detail.py makes one).

Belongs here: the statement and the decoding of its rows. What tasks_get returns is built in reads.py.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any

ISO = "'%%Y-%%m-%%dT%%H:%%i:%%s.%%f'"  # doubled: PyMySQL formats the statement with %


def iso(column: str) -> str:
    """SQL: the column as `_text_time` gives it. PyMySQL returns a DATETIME with a zero year,
    month or day as the text it received, and `_text_time` leaves such text as it is: in the
    21-column UNION ALL every time slot is DATETIME(6), so that text has six decimals."""
    return (
        f"IF(YEAR({column}) * MONTH({column}) * DAYOFMONTH({column}) = 0, "
        f"CONCAT(CAST({column} AS DATETIME(6))), DATE_FORMAT({column}, {ISO}))"
    )


def _object(columns: tuple[tuple[str, str], ...]) -> str:
    return "JSON_OBJECT(" + ", ".join(f"'{key}', {expr}" for key, expr in columns) + ")"


TASK = (
    ("id", "id"), ("uuid", "uuid"), ("title", "title"), ("description", "description"), ("type", "type"),
    ("status", "status"), ("created_by", "created_by"), ("created_by_type", "created_by_type"),
    ("metadata", "CONCAT(metadata)"), ("parent_task_id", "parent_task_id"), ("due_date", iso("due_date")),
    ("created_at", iso("created_at")), ("updated_at", iso("updated_at")), ("completed_at", iso("completed_at")),
)
REF = (("id", "id"), ("title", "title"), ("status", "status"))
REF_B = (("id", "b.id"), ("title", "b.title"), ("status", "b.status"))
ASSIGNMENT = (
    ("id", "id"), ("task_id", "task_id"), ("assignee", "assignee"), ("assignee_type", "assignee_type"),
    ("model_name", "model_name"), ("assigned_by", "assigned_by"), ("assigned_by_type", "assigned_by_type"),
    ("status", "status"), ("notes", "notes"), ("assigned_at", iso("assigned_at")),
    ("accepted_at", iso("accepted_at")), ("completed_at", iso("completed_at")),
)


def result_columns(response_chars: int) -> tuple[tuple[str, str], ...]:
    return (
        ("id", "id"), ("task_id", "task_id"), ("executor", "executor"), ("executor_type", "executor_type"),
        ("model_name", "model_name"), ("request", "request"), ("response", f"SUBSTR(response, 1, {response_chars + 1})"),
        ("status", "status"), ("error_message", "error_message"), ("request_timestamp", iso("request_timestamp")),
        ("response_timestamp", iso("response_timestamp")), ("created_at", iso("created_at")),
        ("assignment_id", "assignment_id"), ("duration_ms", "duration_ms"), ("tokens_input", "tokens_input"),
        ("tokens_output", "tokens_output"), ("tokens_total", "tokens_total"), ("cost_usd", "cost_usd"),
    )


COMMENT = (
    ("id", "id"), ("task_id", "task_id"), ("author", "author"), ("author_type", "author_type"),
    ("comment_type", "comment_type"), ("content", "content"), ("metadata", "CONCAT(metadata)"),
    ("created_at", iso("created_at")),
)
LEASE = (
    ("holder", "holder"), ("expires_at", iso("expires_at")),
    ("expired", "CASE WHEN expires_at < NOW(6) THEN 1 ELSE 0 END"),
)
@functools.cache
def statement(leases: bool, order: bool, response_chars: int, comments_max: int, blocks_max: int) -> tuple[str, int]:
    """The statement (built once per set of arguments) and how many times the task id goes
    into it. It runs prepared: 4.7 KB of SQL that MariaDB would otherwise parse on every
    tasks_get. Each row is one column, [part, value]: the value a JSON object, or the plain
    priority or label. Each part is in parentheses so that its ORDER BY ... LIMIT stays its
    own (as in reads.py)."""
    parts = [
        ("task", TASK, "tasks WHERE id = %s"),
        ("parent", REF, "tasks WHERE id = (SELECT parent_task_id FROM tasks WHERE id = %s)"),
        ("subtask", REF, "tasks WHERE parent_task_id = %s"),
        ("assignment", ASSIGNMENT, "task_assignments WHERE task_id = %s"),
        ("result", result_columns(response_chars), "task_results WHERE task_id = %s"),
        ("comment", COMMENT, f"task_comments WHERE task_id = %s ORDER BY id DESC LIMIT {comments_max + 1}"),
    ]
    if leases:
        parts.append(("lease", LEASE, "task_leases WHERE task_id = %s AND holder IS NOT NULL"))
    if order:
        parts += [
            ("priority", "priority", "task_priorities WHERE task_id = %s"),
            ("label", "label", "task_labels WHERE task_id = %s"),
            ("depends_on", REF_B, "task_dependencies d JOIN tasks b ON b.id = d.depends_on_id WHERE d.task_id = %s"),
            ("blocks", REF_B, f"task_dependencies d JOIN tasks b ON b.id = d.task_id WHERE d.depends_on_id = %s ORDER BY b.id LIMIT {blocks_max}"),
        ]
    sql = " UNION ALL ".join(
        f"(SELECT JSON_ARRAY('{kind}', {columns if isinstance(columns, str) else _object(columns)}) AS j FROM {source})"
        for kind, columns, source in parts
    )
    return sql, len(re.findall(r"(?<!%)%s", sql))


def rows(found: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
    """The statement's rows by part; None if a row was too large for one packet and came
    as NULL (a JSON function's answer past max_allowed_packet)."""
    by_kind: dict[str, list[Any]] = {}
    loads = json.loads
    for row in found:
        text = row["j"]
        if text is None:
            return None
        kind, value = loads(text)
        if value is None:
            return None
        by_kind.setdefault(kind, []).append(value)
    return by_kind
