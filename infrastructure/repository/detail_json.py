"""tasks_get on MariaDB as one JSON document: the task, its parent, its child lists, its lease,
priority, labels and dependencies in one statement that returns one column.

Why: PyMySQL parses every packet in Python, the description of every column included. The
21-column UNION ALL of reads.py (one row per child) cost ~0.41 ms of client CPU per
tasks_get; one JSON column is one packet of description and one of data, parsed by
json.loads in C (bench/RESULTS.md, "tasks_get on MariaDB in one read").

The document says exactly what the UNION ALL said, already in the tools' form:
- timestamps as `_text_time` writes them ('YYYY-MM-DDTHH:MM:SS.ffffff', DATE_FORMAT); a date
  with a zero part, which PyMySQL hands over as the text it got, as that text (CONCAT);
- DECIMAL as a JSON number (json.loads reads it as float(Decimal) did), ids and counts as ints;
- metadata as text, parsed in Python by `_json` as the plain column was;
- every list in id order, the two capped lists (the newest comments, the first tasks blocked)
  capped as before; labels are sorted in Python (codepoint order, not the collation's).

Nothing is cut silently: JSON_ARRAYAGG is bounded by group_concat_max_len, raised for this
statement to its largest value (SET STATEMENT); past max_allowed_packet a JSON function
gives NULL, or an aggregate a cut (invalid or shorter) array. Each list therefore comes
with its COUNT(*) from the same rows, and `decode` refuses any document whose lists do not
hold exactly that many objects (or hold a NULL): the caller then reads the task the old way.

Belongs here: the statement and the check of its answer. What tasks_get returns is built in reads.py.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any

# MariaDB's largest group_concat_max_len (a larger value is clamped with a warning); the
# result is bounded by max_allowed_packet in any case, which `decode` catches.
GROUP_CONCAT_MAX = 1_073_741_824
ISO = "'%%Y-%%m-%%dT%%H:%%i:%%s.%%f'"  # doubled: PyMySQL formats the statement with %


def iso(column: str) -> str:
    """SQL: the column as `_text_time` gives it. PyMySQL returns a DATETIME with a zero year,
    month or day as the text it received, and `_text_time` leaves such text as it is."""
    return f"IF(YEAR({column}) * MONTH({column}) * DAYOFMONTH({column}) = 0, CONCAT({column}), DATE_FORMAT({column}, {ISO}))"


def _object(columns: tuple[tuple[str, str], ...]) -> str:
    return "JSON_OBJECT(" + ", ".join(f"'{key}', {expr}" for key, expr in columns) + ")"


def _list(columns: tuple[tuple[str, str], ...], source: str, order: str, limit: int | None = None, newest: bool = False) -> str:
    """A list part: {"n": rows, "rows": [objects in `order`]} (rows is null when n is 0).
    A capped list reads its rows in a derived table first (the index does the ORDER BY ... LIMIT)."""
    if limit is None:
        return f"(SELECT JSON_OBJECT('n', COUNT(*), 'rows', JSON_ARRAYAGG({_object(columns)} ORDER BY {order})) FROM {source})"
    inner = ", ".join(f"{expr} AS `{key}`" for key, expr in columns)
    outer = tuple((key, f"p.`{key}`") for key, _ in columns)
    first = f"{order} DESC" if newest else order
    return (
        f"(SELECT JSON_OBJECT('n', COUNT(*), 'rows', JSON_ARRAYAGG({_object(outer)} ORDER BY p.`{order.rsplit('.', 1)[-1]}`)) "
        f"FROM (SELECT {inner} FROM {source} ORDER BY {first} LIMIT {limit}) AS p)"
    )


def _one(columns: tuple[tuple[str, str], ...], source: str) -> str:
    return f"(SELECT {_object(columns)} FROM {source} LIMIT 1)"


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
# Lists and their cap (None: all); the caps are reads.py's (comments: the newest ones).
LISTS = ("subtasks", "assignments", "results", "comments", "labels", "depends_on", "blocks")


@functools.cache
def statement(leases: bool, order: bool, response_chars: int, comments_max: int, blocks_max: int) -> tuple[str, int]:
    """The statement and how many times it takes the task id (built once per set of arguments)."""
    parts = [
        ("task", _one(TASK, "tasks WHERE id = %s")),
        ("parent", _one(REF, "tasks WHERE id = (SELECT parent_task_id FROM tasks WHERE id = %s)")),
        ("subtasks", _list(REF, "tasks WHERE parent_task_id = %s", "id")),
        ("assignments", _list(ASSIGNMENT, "task_assignments WHERE task_id = %s", "id")),
        ("results", _list(result_columns(response_chars), "task_results WHERE task_id = %s", "id")),
        ("comments", _list(COMMENT, "task_comments WHERE task_id = %s", "id", comments_max + 1, newest=True)),
    ]
    if leases:
        parts.append(("lease", _one(LEASE, "task_leases WHERE task_id = %s AND holder IS NOT NULL")))
    if order:
        parts += [
            ("priority", "(SELECT priority FROM task_priorities WHERE task_id = %s LIMIT 1)"),
            ("labels", _list((("label", "label"),), "task_labels WHERE task_id = %s", "label")),
            ("depends_on", _list(REF_B, "task_dependencies d JOIN tasks b ON b.id = d.depends_on_id WHERE d.task_id = %s", "b.id")),
            ("blocks", _list(REF_B, "task_dependencies d JOIN tasks b ON b.id = d.task_id WHERE d.depends_on_id = %s", "b.id", blocks_max)),
        ]
    body = ", ".join(f"'{key}', {sql}" for key, sql in parts)
    sql = f"SET STATEMENT group_concat_max_len = {GROUP_CONCAT_MAX} FOR SELECT JSON_OBJECT({body}) AS task"
    return sql, len(re.findall(r"(?<!%)%s", sql))


def decode(text: str | None) -> dict[str, Any] | None:
    """The document with each list as a list of rows; None if there is no task, or if the
    document is not whole (too large for one packet): the caller reads the old way then."""
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None  # an aggregate cut mid-value
    if not isinstance(doc, dict) or doc.get("task") is None:
        return None
    for key in LISTS:
        if key not in doc:
            doc[key] = []  # a database without the work-order tables
            continue
        part = doc[key]
        if part is None:
            return None  # an aggregate without GROUP BY always gives its row: null means too large
        rows = part["rows"] or []
        if len(rows) != part["n"] or None in rows:
            return None  # cut (fewer objects than rows) or an object too large for a packet
        doc[key] = rows
    return doc
