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


@functools.cache
def statement(parts: tuple[tuple[str, str, tuple[tuple[str, str, str], ...], str], ...]) -> tuple[str, int]:
    """The statement for reads.py's parts (kind, source, columns as (key, expression, slot),
    what follows FROM), and how many times the task id goes into it. The parts are the ones
    the 21-column UNION ALL reads, so the two cannot drift; only the form of a value differs
    by its slot's type: a time (t*) as `iso`, the JSON text of metadata (s8) as text. It runs
    prepared: 4.7 KB of SQL that MariaDB would otherwise parse on every tasks_get. Each row is
    one column, [kind, object]. Each part is in parentheses so that its ORDER BY ... LIMIT
    stays its own (as in reads.py)."""
    selects = []
    for kind, source, columns, rest in parts:
        pairs = ", ".join(f"'{key}', {_form(expression, slot)}" for key, expression, slot in columns)
        selects.append(f"(SELECT JSON_ARRAY('{kind}', JSON_OBJECT({pairs})) AS j FROM {source} {rest})")
    sql = " UNION ALL ".join(selects)
    return sql, len(re.findall(r"(?<!%)%s", sql))


def _form(expression: str, slot: str) -> str:
    if slot.startswith("t"):
        return iso(expression)
    if slot == "s8":  # metadata, a JSON column: as its text, which _json parses as it parses the plain column
        return f"CONCAT({expression})"
    return expression


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
