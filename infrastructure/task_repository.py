"""All SQL on the task tables. Each public method is one transaction (or one read).

Every change also writes a `task_comments` row, the task's history in the web app, in the
same transaction as the change. Status changes are compare-and-set
(`UPDATE ... WHERE id=%s AND status=%s`): a rule checked on a row read a moment earlier
cannot be raced past, and the loser of a race learns who won.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.errors import Conflict, InvalidInput, NotFound, WorkflowError
from domain.models import (
    FINAL_STATUSES,
    ActorType,
    CommentType,
    ExecutorType,
    ResultStatus,
    TaskStatus,
    TaskType,
)
from infrastructure.database import Database, Tx
from validators import workflow_validator as wf
from validators.arguments import search_words

log = logging.getLogger(__name__)
PREVIEW_CHARS = 160
COUNT_CAP = 1_000  # beyond this a list says "1000+" instead of counting every row (0.3 ms vs 2.6 ms at 10,000)
SEARCH_INDEX_MAX_MATCHES = 2_000  # SQLite: up to this many FTS matches, sort the matches; beyond, walk newest-first
SEARCH_INDEX_SECONDS = 0.3  # MariaDB: the full-text plan's time cap before the newest-first walk takes over
SEARCH_PROBE_ROWS = 1_000  # MariaDB: how many of the newest rows a search looks at before choosing its plan
SEARCH_PROBE_COMMON_HITS = 3  # ... and how many matches among them make a word common
SEARCH_SCAN_SECONDS = 0.5  # the newest-first walk's cap: past it the search is refused with advice
SEARCH_COUNT_CAP = 1_000  # a common word's total is counted up to here ("1000+"), within:
SEARCH_COUNT_SECONDS = 0.05  # SQLite
SEARCH_COUNT_ROWS = 10_000  # MariaDB: LIMIT ... ROWS EXAMINED (its statement timer fires late: 0.05 s → 0.17 s)
USAGE_REFRESH_SECONDS = 60  # tasks_statistics recomputes the per-model sums in full this often
GET_COMMENTS_MAX = 100
GET_RESPONSE_CHARS = 10_000
TASK_COLUMNS = (
    "id, uuid, title, description, type, status, created_by, created_by_type, parent_task_id, "
    "due_date, created_at, updated_at, completed_at, metadata"
)
LIST_COLUMNS = (
    "id, title, SUBSTR(COALESCE(description, ''), 1, {n}) AS description_preview, "
    "{length}(COALESCE(description, '')) AS description_length, type, status, created_by, "
    "parent_task_id, due_date, created_at, updated_at"
)
# InnoDB's default full-text stopwords: a required (+) stopword would match nothing.
_INNODB_STOPWORDS = frozenset(
    "a about an are as at be by com de en for from how i in is it la of on or that the this to was what "
    "when where who will with und www".split()
)
# How each index cuts text into words: InnoDB keeps "_" inside a word, FTS5's unicode61 does not.
_FT_TOKEN = {"mysql": re.compile(r"\w+"), "sqlite": re.compile(r"[^\W_]+")}


# tasks_get reads a task, its parent and its four child lists in one UNION ALL: one round
# trip instead of six (each is ~0.1 ms of PyMySQL work on MariaDB even when every page is
# cached; bench/RESULTS.md). Each part puts its columns into shared slots of one type family
# (text s*, time t*, number n*, money), so both databases keep each slot's type: datetimes
# and decimals arrive as such. Part: (kind, source table, columns as (name, slot), what follows FROM).
_DETAIL_PARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...] = (
    ("task", "tasks", (
        ("id", "id"), ("uuid", "s1"), ("title", "s2"), ("description", "s3"), ("type", "s4"), ("status", "s5"),
        ("created_by", "s6"), ("created_by_type", "s7"), ("metadata", "s8"), ("parent_task_id", "n1"),
        ("due_date", "t1"), ("created_at", "t2"), ("updated_at", "t3"), ("completed_at", "t4"),
    ), "WHERE id = %s"),
    ("parent", "tasks", (("id", "id"), ("title", "s2"), ("status", "s5")),
     "WHERE id = (SELECT parent_task_id FROM tasks WHERE id = %s)"),
    ("subtask", "tasks", (("id", "id"), ("title", "s2"), ("status", "s5")), "WHERE parent_task_id = %s"),
    ("assignment", "task_assignments", (
        ("id", "id"), ("task_id", "n1"), ("assignee", "s1"), ("assignee_type", "s2"), ("model_name", "s3"),
        ("assigned_by", "s4"), ("assigned_by_type", "s5"), ("status", "s6"), ("notes", "s7"),
        ("assigned_at", "t1"), ("accepted_at", "t2"), ("completed_at", "t3"),
    ), "WHERE task_id = %s"),
    ("result", "task_results", (
        ("id", "id"), ("task_id", "n1"), ("executor", "s1"), ("executor_type", "s2"), ("model_name", "s3"),
        ("request", "s4"), (f"SUBSTR(response, 1, {GET_RESPONSE_CHARS + 1})", "s8"), ("status", "s6"),
        ("error_message", "s7"), ("request_timestamp", "t1"), ("response_timestamp", "t2"), ("created_at", "t3"),
        ("assignment_id", "n2"), ("duration_ms", "n3"), ("tokens_input", "n4"), ("tokens_output", "n5"),
        ("tokens_total", "n6"), ("cost_usd", "money"),
    ), "WHERE task_id = %s"),
    # The newest comments only, one more than shown to tell that some were left out.
    ("comment", "task_comments", (
        ("id", "id"), ("task_id", "n1"), ("author", "s1"), ("author_type", "s2"), ("comment_type", "s3"),
        ("content", "s4"), ("metadata", "s8"), ("created_at", "t1"),
    ), f"WHERE task_id = %s ORDER BY id DESC LIMIT {GET_COMMENTS_MAX + 1}"),
)
_SLOTS = ("id", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "n1", "n2", "n3", "n4", "n5", "n6",
          "t1", "t2", "t3", "t4", "money")
# kind → (output name, slot); the SUBSTR of response is named response.
_DETAIL_SLOTS = {
    kind: tuple(("response" if name.startswith("SUBSTR(") else name, slot) for name, slot in columns)
    for kind, _, columns, _ in _DETAIL_PARTS
}
_DETAIL_SQL: dict[str, str] = {}


def _detail_sql(dialect: str) -> str:
    if dialect not in _DETAIL_SQL:
        parts = []
        for kind, table, columns, rest in _DETAIL_PARTS:
            by_slot = {slot: name for name, slot in columns}
            part = f"SELECT '{kind}' AS kind, " + ", ".join(f"{by_slot.get(slot, 'NULL')} AS {slot}" for slot in _SLOTS)
            part += f" FROM {table} {rest}"
            # Each part's ORDER BY ... LIMIT stays its own: MariaDB in parentheses (a derived table
            # there doubles the statement's time, 0.6 → 1.2 ms), SQLite, which has no parentheses
            # in a compound SELECT, in a subquery.
            parts.append(f"({part})" if dialect == "mysql" else f"SELECT * FROM ({part})")
        _DETAIL_SQL[dialect] = " UNION ALL ".join(parts)
    return _DETAIL_SQL[dialect]


def _slot_value(slot: str, value: Any) -> Any:
    # MariaDB types a number slot that is NULL in some parts as DECIMAL: give ids and counts back as ints.
    if value is not None and (slot == "id" or slot[0] == "n"):
        return int(value)
    return value


def _ref(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(row["id"]), "title": row["title"], "status": row["status"]}


def _text_time(value: Any) -> str | None:
    """One text form for both backends' timestamps: 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.isoformat(sep=" ", timespec="microseconds")


def _date_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.isoformat(timespec="seconds")


def _json(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None  # the web app may have stored something else; show nothing rather than fail


def _task(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "id": int(row["id"]),
        "parent_task_id": int(row["parent_task_id"]) if row["parent_task_id"] is not None else None,
        "due_date": _date_time(row["due_date"]),
        "created_at": _text_time(row["created_at"]),
        "updated_at": _text_time(row["updated_at"]),
        "completed_at": _text_time(row["completed_at"]),
        "metadata": _json(row["metadata"]),
    }


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime) or (key.endswith(("_at", "_timestamp")) and isinstance(value, str)):
            value = _text_time(value)
        elif isinstance(value, Decimal):
            value = float(value)
        out[key] = value
    return out


def encode_cursor(created_at: str, task_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{task_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, task_id = text.rpartition("|")
        datetime.fromisoformat(created_at)
        return created_at, int(task_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"cursor={cursor[:40]!r} is not a cursor from tasks_list. Pass next_cursor unchanged, or leave it out.") from None


def like_pattern(word: str) -> str:
    """%word% with the LIKE wildcards in the word escaped (ESCAPE '!'), so they match literally."""
    return "%" + word.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _like_clauses(words: list[str]) -> tuple[list[str], list[str]]:
    """One condition per search word (it must occur in title or description), with its parameters."""
    parts = ["(title LIKE %s ESCAPE '!' OR description LIKE %s ESCAPE '!')"] * len(words)
    return parts, [p for w in words for p in (like_pattern(w),) * 2]


class TaskRepository:
    def __init__(self, db: Database, *, quality_gate: bool = True, lease_minutes: float = 30.0, max_attempts: int = 3):
        self.db = db
        self.quality_gate = quality_gate
        self.lease_seconds = max(1, round(lease_minutes * 60))
        self.max_attempts = max_attempts
        self._fulltext: bool | None = None
        self._usage_lock = threading.Lock()
        self._usage_cache: tuple[dict, int, float] | None = None
        self._leases: bool | None = None
        self._skip_locked: bool | None = None

    # ---- reads ----------------------------------------------------------------------------

    def list_tasks(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        search: str | None = None,
        parent_task_id: int | None = None,
        assignee: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        after = decode_cursor(cursor) if cursor else None

        def run(tx: Tx) -> dict[str, Any]:
            where, params = self._filters(tx, status, type, None, parent_task_id, assignee)
            if after is not None:
                # Keyset: the rows after the cursor's (created_at, id) in the page order. In this form
                # both planners seek idx_created_at: MariaDB does not range-scan the row comparison
                # (created_at, id) < (%s, %s) (4 s), SQLite not the bound form created_at < %s OR
                # (created_at = %s AND id < %s) (0.1 s: it scans the index from the top).
                where.append("created_at <= %s AND (created_at < %s OR id < %s)")
                params.extend([after[0], after[0], after[1]])
            skip = 0 if after is not None else offset
            total: int | None = None
            exact = False
            if search:
                rows, total, exact = self._search_page(tx, where, params, search, limit, skip)
            else:
                clause = f" WHERE {' AND '.join(where)}" if where else ""
                if skip:
                    # Deferred join: skip over the (created_at, id) index alone, then read 51 rows
                    # (MariaDB otherwise reads every skipped row in full: 5.6 s at offset 999,950).
                    sql = (
                        f"SELECT {self._list_columns(tx)} FROM tasks JOIN (SELECT id AS page_id FROM tasks{clause} "
                        "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s) AS page ON page.page_id = tasks.id "
                        "ORDER BY created_at DESC, id DESC"
                    )
                else:
                    sql = f"SELECT {self._list_columns(tx)} FROM tasks{clause} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
                rows = tx.rows(sql, [*params, limit + 1, skip])
            more = len(rows) > limit
            rows = rows[:limit]
            if total is None and after is not None:
                # A cursor page is not counted: without ORDER BY the planner may walk the whole table
                # to count the few rows past a deep cursor (SQLite: 60 ms at the end of 1M rows).
                total, exact = len(rows) + (1 if more else 0), False
            if total is None:
                if skip == 0 and not more:
                    total, exact = len(rows), True  # the page holds everything: no count needed
                else:
                    clause = f" WHERE {' AND '.join(where)}" if where else ""
                    counted = tx.value(
                        f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks{clause} LIMIT %s) AS capped", [*params, COUNT_CAP + 1]
                    )
                    total, exact = min(int(counted), COUNT_CAP), int(counted) <= COUNT_CAP
            if after is not None:
                exact = False  # counted from the cursor on, not from the first page
            tasks = []
            last_key = None
            for row in rows:
                # The cursor keeps created_at as the database stored it: SQLite's text has
                # milliseconds, and a normalised value would compare as later than the row itself.
                raw = row["created_at"]
                last_key = (raw if isinstance(raw, str) else _text_time(raw), int(row["id"]))
                row.pop("total_rows", None)
                preview = row.pop("description_preview") or ""
                length = int(row.pop("description_length") or 0)
                row["description_preview"] = preview[:PREVIEW_CHARS] + ("…" if length > PREVIEW_CHARS else "")
                row["id"] = int(row["id"])
                row["parent_task_id"] = int(row["parent_task_id"]) if row["parent_task_id"] is not None else None
                row["due_date"] = _date_time(row["due_date"])
                row["created_at"] = _text_time(row["created_at"])
                row["updated_at"] = _text_time(row["updated_at"])
                tasks.append(row)
            return {
                "tasks": tasks,
                "total": max(total, skip + len(rows)),
                "total_exact": exact,
                "next_offset": skip + len(rows) if more and after is None else None,
                "next_cursor": encode_cursor(*last_key) if more and last_key else None,
            }

        return self.db.read(run)

    def _search_page(self, tx: Tx, where: list[str], params: list[Any], search: str, limit: int, skip: int):
        """(rows, total or None, exact) of a search page, the plan chosen by how common the words are.

        - Rare words: the full-text index finds the few matching rows; ORDER BY sorts only them,
          and the total comes with the page (COUNT(*) OVER ()).
        - Common words (in more than ~0.2% of rows): walking the full-text matches costs ~25 µs a
          match on InnoDB (150,000 matches: 3 s), while walking newest-first with LIKE finds 50
          matches in a few hundred rows. SQLite asks FTS5 how many rows match (5 ms for 150,000);
          MariaDB has no cheap count, so it runs the index plan under a time cap and falls back.
        """
        words = search_words(search)
        like_parts, like_params = _like_clauses(words)
        like_sql = " AND ".join(like_parts)
        fts = self._fulltext_clause(tx, words)
        columns = self._list_columns(tx)
        rows = None
        matches: int | None = None
        use_index: bool | None = False
        order = " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
        scan_sql = f"SELECT {columns} FROM tasks WHERE {' AND '.join([*where, like_sql])}{order}"
        scan_args = [*params, *like_params, limit + 1, skip]
        if fts is not None:
            use_index = True
            if tx.dialect == "sqlite":
                matches = int(tx.value("SELECT COUNT(*) AS n FROM tasks_fts WHERE tasks_fts MATCH %s", [fts[1]]))
                use_index = matches <= SEARCH_INDEX_MAX_MATCHES
            else:
                # InnoDB cannot count full-text matches cheaply (3 s for 150,000), nor stop the search
                # sooner than ~0.1–0.4 s. So: walk the newest rows first, at most SEARCH_PROBE_ROWS of
                # them (MariaDB's LIMIT ... ROWS EXAMINED): a common word fills the page right there.
                probe_args = scan_args if skip == 0 else [*params, *like_params, limit + 1, 0]
                probe = tx.rows(f"{scan_sql} ROWS EXAMINED {SEARCH_PROBE_ROWS}", probe_args)
                if skip == 0 and len(probe) > limit:
                    rows = probe
                    use_index = None
                else:
                    use_index = len(probe) < SEARCH_PROBE_COMMON_HITS  # ≥ 0.3% of rows: walking is cheaper
            if use_index:
                clause = " AND ".join([*where, fts[0], like_sql])
                sql = f"SELECT {columns}, COUNT(*) OVER () AS total_rows FROM tasks WHERE {clause}{order}"
                args = [*params, fts[1], *like_params, limit + 1, skip]
                rows = tx.rows_within(SEARCH_INDEX_SECONDS, sql, args) if tx.dialect == "mysql" else tx.rows(sql, args)
                if rows is not None:
                    total = int(rows[0]["total_rows"]) if rows else skip
                    return rows, total, True
        # Newest first, LIKE deciding row by row: quick exactly when the words are common.
        clause = " AND ".join([*where, like_sql])
        if fts is None or use_index is not None:
            rows = tx.rows_within(SEARCH_SCAN_SECONDS, scan_sql, scan_args)
        if rows is None:
            raise InvalidInput(
                f"search={search!r} matches too many tasks to sort in time but too few among the newest ones. "
                "Add a filter (status, type, assignee) or a rarer word."
            )
        # A common word's total is a lower bound ("1000+"), counted within a bound on the work.
        floor = skip + min(len(rows), limit)
        if matches is not None:
            return rows, max(matches, floor), False  # FTS5's count: the prefix matches, a subset of LIKE's
        if tx.dialect == "mysql":
            # Top-level ROWS EXAMINED: around a derived table MariaDB returns no row at all when it fires.
            found = tx.rows(
                f"SELECT 1 AS x FROM tasks WHERE {clause} LIMIT %s ROWS EXAMINED {SEARCH_COUNT_ROWS}",
                [*params, *like_params, SEARCH_COUNT_CAP + 1],
            )
            counted = [{"n": len(found)}]
        else:
            counted = tx.rows_within(
                SEARCH_COUNT_SECONDS, f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE {clause} LIMIT %s) AS capped",
                [*params, *like_params, SEARCH_COUNT_CAP + 1],
            )
        n = int(counted[0]["n"]) if counted else 0
        return rows, max(min(n, SEARCH_COUNT_CAP), floor), False

    def _fulltext_clause(self, tx: Tx, words: list[str]) -> tuple[str, str] | None:
        tokens = [t for w in words for t in _FT_TOKEN[tx.dialect].findall(w) if len(t) >= 3]
        if tx.dialect == "mysql":
            tokens = [t for t in tokens if t.lower() not in _INNODB_STOPWORDS]
            if tokens and self._has_fulltext(tx):
                return "MATCH(title, description) AGAINST (%s IN BOOLEAN MODE)", " ".join(f"+{t}*" for t in tokens)
        elif tokens and self._has_fulltext(tx):
            return "id IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH %s)", " AND ".join(f'"{t}"*' for t in tokens)
        return None

    @staticmethod
    def _list_columns(tx: Tx) -> str:
        # CHAR_LENGTH counts characters on MariaDB (LENGTH counts bytes); SQLite's LENGTH counts characters.
        return LIST_COLUMNS.format(n=PREVIEW_CHARS + 1, length="CHAR_LENGTH" if tx.dialect == "mysql" else "LENGTH")

    def _filters(self, tx: Tx, status, type, search, parent_task_id, assignee) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = %s")
            params.append(status)
        if type:
            where.append("type = %s")
            params.append(type)
        if parent_task_id is not None:
            where.append("parent_task_id = %s")
            params.append(parent_task_id)
        if assignee:
            where.append("EXISTS (SELECT 1 FROM task_assignments a WHERE a.task_id = tasks.id AND a.assignee = %s)")
            params.append(assignee)
        if search:  # (tasks_claim) the index narrows; LIKE decides, so quotes, % and _ match literally
            words = search_words(search)
            fts = self._fulltext_clause(tx, words)
            if fts is not None:
                where.append(fts[0])
                params.append(fts[1])
            like_parts, like_params = _like_clauses(words)
            where.extend(like_parts)
            params.extend(like_params)
        return where, params

    def _has_fulltext(self, tx: Tx) -> bool:
        if self._fulltext is None:
            if tx.dialect == "mysql":
                found = tx.value(
                    "SELECT COUNT(*) AS n FROM information_schema.statistics WHERE table_schema = DATABASE() "
                    "AND table_name = 'tasks' AND index_type = 'FULLTEXT'"
                )
            else:
                found = tx.value("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'tasks_fts'")
            self._fulltext = bool(found)
        return self._fulltext

    def get_task(self, task_id: int) -> dict[str, Any]:
        return self.db.read(lambda tx: self._full_task(tx, task_id))

    def _full_task(self, tx: Tx, task_id: int) -> dict[str, Any]:
        """The task with its parent and child lists, read in one statement (see _DETAIL_PARTS)."""
        found: dict[str, list[dict[str, Any]]] = {kind: [] for kind, _, _, _ in _DETAIL_PARTS}
        for row in tx.rows(_detail_sql(tx.dialect), [task_id] * len(_DETAIL_PARTS)):
            kind = row["kind"]
            found[kind].append({name: _slot_value(slot, row[slot]) for name, slot in _DETAIL_SLOTS[kind]})
        if not found["task"]:
            raise NotFound(f"Task {task_id} does not exist. Find ids with tasks_list (e.g. search=...).")
        task = _task(found["task"][0])
        task["parent"] = _ref(found["parent"][0]) if found["parent"] else None
        task["subtasks"] = sorted((_ref(r) for r in found["subtask"]), key=lambda r: r["id"])
        task["assignments"] = sorted((_normalise(r) for r in found["assignment"]), key=lambda r: r["id"])
        results = []
        for r in sorted(found["result"], key=lambda r: r["id"]):
            r = _normalise(r)
            r["response_truncated"] = r["response"] is not None and len(r["response"]) > GET_RESPONSE_CHARS
            if r["response_truncated"]:
                r["response"] = r["response"][:GET_RESPONSE_CHARS]
            results.append(r)
        task["results"] = results
        comments = sorted(found["comment"], key=lambda r: r["id"])  # the newest GET_COMMENTS_MAX + 1
        task["comments_truncated"] = len(comments) > GET_COMMENTS_MAX
        task["comments"] = [{**_normalise(c), "metadata": _json(c["metadata"])} for c in comments[-GET_COMMENTS_MAX:]]
        return task

    def _task_row(self, tx: Tx, task_id: int, lock: bool = False) -> dict[str, Any]:
        row = tx.row(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s{tx.for_update if lock else ''}", [task_id])
        if row is None:
            raise NotFound(f"Task {task_id} does not exist. Find ids with tasks_list (e.g. search=...).")
        return row

    def statistics(self) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            by_status = {s.value: 0 for s in TaskStatus}
            by_type = {t.value: 0 for t in TaskType}
            # An index-only scan of idx_status_type_created (MariaDB 1.1 s → 0.09 s at 1M tasks).
            for r in tx.rows("SELECT status, type, COUNT(*) AS n FROM tasks GROUP BY status, type"):
                if r["status"] in by_status:
                    by_status[r["status"]] += int(r["n"])
                if r["type"] in by_type:
                    by_type[r["type"]] += int(r["n"])
            usage = self._usage(tx)
            models = sorted(usage.items(), key=lambda kv: (-kv[1][0], kv[0][0] or "", kv[0][1]))
            totals = [sum(v[i] for _, v in models) for i in range(5)]
            return {
                "total": sum(by_status.values()),
                "by_status": by_status,
                "by_type": by_type,
                "results": int(totals[0]),
                "tokens_input": int(totals[1]),
                "tokens_output": int(totals[2]),
                "tokens_total": int(totals[3]),
                "cost_usd": round(float(totals[4]), 6),
                "models": [
                    {
                        "model_name": model,
                        "executor_type": executor_type,
                        "results": int(v[0]),
                        "tokens_input": int(v[1]),
                        "tokens_output": int(v[2]),
                        "tokens_total": int(v[3]),
                        "cost_usd": round(float(v[4]), 6),
                        "avg_duration_ms": round(v[5] / v[6], 1) if v[6] else None,
                    }
                    for (model, executor_type), v in models
                ],
            }

        return self.db.read(run)

    def _usage(self, tx: Tx) -> dict[tuple, list]:
        """Per (model, executor_type): [results, tokens_in, tokens_out, tokens_total, cost, duration_sum, duration_n].

        Results are appended, almost never changed: the sums are kept in the process and
        brought up to date with the rows past the highest id seen (a primary-key range: 1 ms).
        Every USAGE_REFRESH_SECONDS they are recomputed in full (covering index
        idx_results_usage: 0.2–0.3 s at 1M results), which also picks up rows deleted with
        their task or edited by the web app in between.
        """
        sql = (
            "SELECT model_name, executor_type, COUNT(*) AS n, COALESCE(SUM(tokens_input), 0) AS tin, "
            "COALESCE(SUM(tokens_output), 0) AS tout, COALESCE(SUM(tokens_total), 0) AS ttot, "
            "COALESCE(SUM(cost_usd), 0) AS cost, COALESCE(SUM(duration_ms), 0) AS dsum, COUNT(duration_ms) AS dn, "
            "MAX(id) AS max_id FROM task_results{where} GROUP BY model_name, executor_type"
        )
        with self._usage_lock:
            cached = self._usage_cache
            now = time.monotonic()
            if cached is None or now - cached[2] > USAGE_REFRESH_SECONDS:
                usage, max_id, since = {}, 0, now
                rows = tx.rows(sql.format(where=""))
            else:
                usage, max_id, since = {k: list(v) for k, v in cached[0].items()}, cached[1], cached[2]
                # SQLite would walk all of idx_results_usage for the GROUP BY (74 ms) instead of the
                # primary-key range (0.04 ms): NOT INDEXED leaves it the rowid range only.
                tail = " NOT INDEXED WHERE id > %s" if tx.dialect == "sqlite" else " WHERE id > %s"
                rows = tx.rows(sql.format(where=tail), [max_id])
            for r in rows:
                v = usage.setdefault((r["model_name"], r["executor_type"]), [0, 0, 0, 0, 0.0, 0, 0])
                for i, key in enumerate(("n", "tin", "tout", "ttot", "cost", "dsum", "dn")):
                    v[i] += float(r[key]) if key == "cost" else int(r[key])
                max_id = max(max_id, int(r["max_id"]))
            self._usage_cache = (usage, max_id, since)
            return usage

    # ---- writes ---------------------------------------------------------------------------

    def create_task(
        self,
        *,
        title: str,
        description: str | None,
        type: TaskType,
        parent_task_id: int | None,
        due_date: datetime | None,
        metadata: dict | None,
        created_by: str,
        created_by_type: ActorType,
    ) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            if parent_task_id is not None:
                # Locked: a parent being completed right now must not gain an open child.
                parent = self._locked_status(tx, parent_task_id)
                wf.check_parent(None, parent, parent_task_id, [])
            task_id = tx.insert(
                "INSERT INTO tasks (uuid, title, description, type, status, created_by, created_by_type, "
                f"parent_task_id, due_date, metadata, created_at, updated_at) "
                f"VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s, {tx.now}, {tx.now})",
                [
                    str(uuid.uuid4()),
                    title,
                    description,
                    type.value,
                    created_by,
                    created_by_type.value,
                    parent_task_id,
                    due_date.isoformat(sep=" ") if due_date else None,
                    json.dumps(metadata, ensure_ascii=False) if metadata is not None else None,
                ],
            )
            self._history(tx, task_id, created_by, created_by_type, CommentType.STATUS_CHANGE, "Task created (pending)", {"status": "pending"})
            return _task(self._task_row(tx, task_id))

        return self.db.write(run)

    def update_task(
        self,
        task_id: int,
        fields: dict[str, Any],
        *,
        actor: str,
        actor_type: ActorType,
        expected_updated_at: str | None = None,
    ) -> dict[str, Any]:
        """fields: title, description, type, due_date (None clears), metadata, parent_task_id."""

        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            self._check_expected(tx, task_id, row, expected_updated_at)
            status = TaskStatus(row["status"])
            wf.check_open_for(task_id, status, "edited")
            self._renew_lease(tx, task_id, actor)
            if "parent_task_id" in fields and fields["parent_task_id"] is not None:
                pid = fields["parent_task_id"]
                parent = self._locked_status(tx, pid)
                wf.check_parent(task_id, parent, pid, self._ancestors(tx, pid))
            values: dict[str, Any] = {}
            for key, value in fields.items():
                if key == "type":
                    value = value.value
                elif key == "due_date":
                    value = value.isoformat(sep=" ") if value is not None else None
                elif key == "metadata":
                    value = json.dumps(value, ensure_ascii=False) if value is not None else None
                values[key] = value
            assignments = ", ".join(f"{column} = %s" for column in values)  # column names are ours, never input
            tx.execute(
                f"UPDATE tasks SET {assignments}, {tx.touch} WHERE id = %s",
                [*values.values(), task_id],
            )
            changed = sorted(values)
            self._history(tx, task_id, actor, actor_type, CommentType.UPDATE, f"Updated: {', '.join(changed)}", {"fields": changed})
            return _task(self._task_row(tx, task_id))

        return self.db.write(run)

    def set_status(
        self,
        task_id: int,
        target: TaskStatus,
        *,
        actor: str,
        actor_type: ActorType,
        expected_updated_at: str | None = None,
    ) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            self._check_expected(tx, task_id, row, expected_updated_at)
            if row["status"] == "in_progress" and self._reap_one(tx, task_id):
                row = self._task_row(tx, task_id)  # the holder's lease had run out: the task went back
            current = TaskStatus(row["status"])
            self._renew_lease(tx, task_id, actor)
            wf.check_transition(task_id, current, target, self._holder(tx, task_id) if current == target else None)
            if target == TaskStatus.COMPLETED:
                self._check_completion(tx, task_id)
            self._move(tx, task_id, current, target, actor, actor_type)
            return _task(self._task_row(tx, task_id))

        return self.db.write(run)

    def _move(
        self, tx: Tx, task_id: int, current: TaskStatus, target: TaskStatus, actor: str, actor_type: ActorType,
        *, assignment_id: int | None = None, lease_seconds: int | None = None, note: str = "",
    ) -> None:
        """Compare-and-set the status, keep completed_at, open assignments and the lease in step, write history."""
        completed = f"{tx.now}" if target == TaskStatus.COMPLETED else "NULL"
        changed = tx.execute(
            f"UPDATE tasks SET status = %s, {tx.touch}, completed_at = {completed} WHERE id = %s AND status = %s",
            [target.value, task_id, current.value],
        )
        if changed != 1:
            now = tx.value("SELECT status FROM tasks WHERE id = %s", [task_id])
            raise Conflict(
                f"Task {task_id} changed while this call ran (it is now {now}, held by {self._holder(tx, task_id) or 'nobody'}); "
                "nothing was changed. Read it again with tasks_get."
            )
        if target == TaskStatus.COMPLETED:
            tx.execute(
                f"UPDATE task_assignments SET status = 'completed', completed_at = {tx.now} "
                "WHERE task_id = %s AND status IN ('pending', 'accepted', 'in_progress')",
                [task_id],
            )
        elif target in (TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED) and current == TaskStatus.IN_PROGRESS:
            # The holder gave the task back (or it ended without success): its assignment ends too.
            tx.execute(
                "UPDATE task_assignments SET status = 'rejected', notes = CONCAT(COALESCE(notes, ''), %s) "
                "WHERE task_id = %s AND status IN ('pending', 'accepted', 'in_progress')"
                if tx.dialect == "mysql"
                else "UPDATE task_assignments SET status = 'rejected', notes = COALESCE(notes, '') || %s "
                "WHERE task_id = %s AND status IN ('pending', 'accepted', 'in_progress')",
                [f"[{target.value} by {actor}]", task_id],
            )
        if target == TaskStatus.IN_PROGRESS:
            self._take_lease(tx, task_id, actor, actor_type.value, assignment_id, lease_seconds)
        elif current == TaskStatus.IN_PROGRESS:
            self._drop_lease(tx, task_id)
        self._history(
            tx, task_id, actor, actor_type, CommentType.STATUS_CHANGE,
            f"Status: {current.value} → {target.value}{note}", {"from": current.value, "to": target.value},
        )

    def _check_quality_gate(self, tx: Tx, task_id: int) -> None:
        latest = tx.row(
            "SELECT metadata FROM task_comments WHERE task_id = %s AND comment_type = 'quality_check' ORDER BY id DESC LIMIT 1",
            [task_id],
        )
        meta = _json(latest["metadata"]) if latest else None
        counts = (meta or {}).get("counts") or {}
        critical = counts.get("critical") or 0
        if isinstance(critical, int) and critical > 0:
            rules = ", ".join(str(r) for r in (meta.get("critical_rules") or [])[:10]) or "see the check"
            raise WorkflowError(
                f"Task {task_id} cannot be completed: its latest quality_check found {critical} critical "
                f"violation(s) ({rules}). Fix them, run quality_check with task_id={task_id} again, then complete."
            )

    def _check_expected(self, tx: Tx, task_id: int, row: dict[str, Any], expected: str | None) -> None:
        if expected is None:
            return
        current = _text_time(row["updated_at"])
        try:
            wanted = _text_time(expected)
        except (TypeError, ValueError):
            wanted = expected
        if current != wanted:
            last = tx.row(
                "SELECT author, comment_type, content FROM task_comments WHERE task_id = %s ORDER BY id DESC LIMIT 1", [task_id]
            )
            by = f" by {last['author']} ({last['content']})" if last else ""
            raise Conflict(
                f"Task {task_id} was changed{by} after you read it: expected_updated_at={expected!r}, but it is "
                f"now updated_at={current!r} with status={row['status']}, title={row['title']!r}. Read it again "
                "with tasks_get and decide on the current values."
            )

    def _holder(self, tx: Tx, task_id: int) -> str | None:
        if self._has_leases(tx):
            lease = tx.row(
                "SELECT holder, holder_type, expires_at FROM task_leases WHERE task_id = %s AND holder IS NOT NULL", [task_id]
            )
            if lease:
                return f"{lease['holder']} ({lease['holder_type']}, lease until {_text_time(lease['expires_at'])})"
        assignment = tx.row(
            "SELECT assignee, assignee_type FROM task_assignments WHERE task_id = %s "
            "AND status IN ('pending', 'accepted', 'in_progress') ORDER BY id DESC LIMIT 1",
            [task_id],
        )
        if assignment:
            return f"{assignment['assignee']} ({assignment['assignee_type']})"
        change = tx.row(
            "SELECT author, author_type FROM task_comments WHERE task_id = %s AND comment_type = 'status_change' ORDER BY id DESC LIMIT 1",
            [task_id],
        )
        return f"{change['author']} ({change['author_type']})" if change else None

    @staticmethod
    def _locked_status(tx: Tx, task_id: int) -> dict[str, Any] | None:
        """A task's id and status, its row locked until the transaction ends; None if it is gone."""
        return tx.row(f"SELECT id, status FROM tasks WHERE id = %s{tx.for_update}", [task_id])

    def _ancestors(self, tx: Tx, task_id: int) -> list[int]:
        seen: list[int] = []
        current: int | None = task_id
        while current is not None and current not in seen and len(seen) < 1000:
            seen.append(current)
            current = tx.value("SELECT parent_task_id FROM tasks WHERE id = %s", [current])
        return seen

    def assign(
        self,
        task_id: int,
        *,
        assignee: str,
        assignee_type: ExecutorType,
        model_name: str | None,
        notes: str | None,
        assigned_by: str,
        assigned_by_type: ActorType,
    ) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            wf.check_assignable(task_id, TaskStatus(row["status"]), TaskType(row["type"]), assignee_type)
            self._renew_lease(tx, task_id, assigned_by)
            assignment_id = tx.insert(
                "INSERT INTO task_assignments (task_id, assignee, assignee_type, model_name, assigned_by, "
                f"assigned_by_type, status, assigned_at, notes) VALUES (%s, %s, %s, %s, %s, %s, 'pending', {tx.now}, %s)",
                [task_id, assignee, assignee_type.value, model_name, assigned_by, assigned_by_type.value, notes],
            )
            model = f" ({model_name})" if model_name else ""
            self._history(
                tx, task_id, assigned_by, assigned_by_type, CommentType.ASSIGNMENT,
                f"Assigned to {assignee} [{assignee_type.value}]{model}", {"assignment_id": assignment_id},
            )
            tx.execute(f"UPDATE tasks SET {tx.touch} WHERE id = %s", [task_id])
            return _normalise(tx.row("SELECT * FROM task_assignments WHERE id = %s", [assignment_id]))

        return self.db.write(run)

    def add_result(
        self,
        task_id: int,
        *,
        response: str,
        executor: str,
        executor_type: ExecutorType,
        model_name: str | None,
        status: ResultStatus,
        tokens_input: int | None,
        tokens_output: int | None,
        cost_usd: float | None,
        error_message: str | None,
        request: str | None,
        duration_ms: int | None,
        actor_type: ActorType,
    ) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            if TaskStatus(row["status"]) in FINAL_STATUSES:
                raise WorkflowError(
                    f"Task {task_id} is {row['status']}; {row['status']} is final, so it takes no new results. "
                    f"{wf.follow_up_hint(task_id)}"
                )
            self._renew_lease(tx, task_id, executor)
            assignment = tx.row(
                "SELECT id FROM task_assignments WHERE task_id = %s AND assignee = %s ORDER BY id DESC LIMIT 1",
                [task_id, executor],
            )
            result_id, _ = self._insert_result(
                tx, task_id, assignment["id"] if assignment else None, executor, executor_type, actor_type, model_name,
                request, response, None, duration_ms, tokens_input, tokens_output, cost_usd, status, error_message,
            )
            tx.execute(f"UPDATE tasks SET {tx.touch} WHERE id = %s", [task_id])
            return _normalise(tx.row("SELECT * FROM task_results WHERE id = %s", [result_id]))

        return self.db.write(run)

    def delete_task(self, task_id: int, *, actor: str, actor_type: ActorType) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            counts = {
                table: int(tx.value(f"SELECT COUNT(*) AS n FROM {table} WHERE task_id = %s", [task_id]))
                for table in ("task_assignments", "task_results", "task_comments")
            }
            children = [int(r["id"]) for r in tx.rows("SELECT id FROM tasks WHERE parent_task_id = %s ORDER BY id", [task_id])]
            for child in children:
                # ON DELETE SET NULL does this too; explicit so the children's history says why.
                tx.execute(f"UPDATE tasks SET parent_task_id = NULL, {tx.touch} WHERE id = %s", [child])
                self._history(tx, child, actor, actor_type, CommentType.UPDATE, f"Parent task {task_id} was deleted; now top-level", {"deleted_parent": task_id})
            tx.execute("DELETE FROM tasks WHERE id = %s", [task_id])
            if counts["task_results"]:
                self._usage_cache = None  # its results left the sums: recompute them on the next call
            return {
                "deleted": {"id": task_id, "uuid": row["uuid"], "title": row["title"], "status": row["status"]},
                "assignments_deleted": counts["task_assignments"],
                "results_deleted": counts["task_results"],
                "comments_deleted": counts["task_comments"],
                "subtasks_now_top_level": children,
            }

        return self.db.write(run)

    def add_comment(
        self,
        task_id: int,
        *,
        content: str,
        author: str,
        author_type: ActorType | str,
        comment_type: str = "comment",
        metadata: dict | None = None,
    ) -> dict[str, Any]:
        def run(tx: Tx) -> dict[str, Any]:
            self._task_row(tx, task_id)
            self._renew_lease(tx, task_id, author)
            comment_id = self._history(tx, task_id, author, ActorType(author_type), comment_type, content, metadata)
            row = tx.row("SELECT * FROM task_comments WHERE id = %s", [comment_id])
            return {**_normalise(row), "metadata": _json(row["metadata"])}

        return self.db.write(run)

    @staticmethod
    def _insert_active_assignment(
        tx: Tx, task_id: int, assignee: str, assignee_type: ExecutorType, model_name: str | None,
        assigned_by: str, assigned_by_type: ActorType, notes: str,
    ) -> int:
        """An assignment that is already being worked on (a claim, a model run): in_progress, accepted now."""
        return tx.insert(
            "INSERT INTO task_assignments (task_id, assignee, assignee_type, model_name, assigned_by, assigned_by_type, "
            f"status, assigned_at, accepted_at, notes) VALUES (%s, %s, %s, %s, %s, %s, 'in_progress', {tx.now}, {tx.now}, %s)",
            [task_id, assignee, assignee_type.value, model_name, assigned_by, assigned_by_type.value, notes],
        )

    def _insert_result(
        self, tx: Tx, task_id: int, assignment_id: int | None, executor: str, executor_type: ExecutorType,
        actor_type: ActorType, model_name: str | None, request: str | None, response: str, requested_at: str | None,
        duration_ms: int | None, tokens_input: int | None, tokens_output: int | None, cost_usd: float | None,
        status: ResultStatus, error_message: str | None, *, show_duration: bool = False,
    ) -> tuple[int, int | None]:
        """A task_results row (tokens_total computed) and its history comment; (result id, tokens_total).

        requested_at: when the request went out (database clock, read at the start); None means now.
        """
        total = (tokens_input or 0) + (tokens_output or 0) if tokens_input is not None or tokens_output is not None else None
        requested = "%s" if requested_at is not None else tx.now
        result_id = tx.insert(
            "INSERT INTO task_results (task_id, assignment_id, executor, executor_type, model_name, request, response, "
            "request_timestamp, response_timestamp, duration_ms, tokens_input, tokens_output, tokens_total, cost_usd, "
            f"status, error_message, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, {requested}, {tx.now}, "
            f"%s, %s, %s, %s, %s, %s, %s, {tx.now})",
            [task_id, assignment_id, executor, executor_type.value, model_name, request, response,
             *([requested_at] if requested_at is not None else []), duration_ms, tokens_input, tokens_output, total,
             cost_usd, status.value, error_message],
        )
        tokens = f", {total} tokens" if total is not None else ""
        took = f", {duration_ms} ms" if show_duration else ""
        self._history(
            tx, task_id, executor, actor_type, CommentType.RESULT,
            f"Result ({status.value}) by {executor}{tokens}{took}", {"result_id": result_id, "status": status.value},
        )
        return result_id, total

    def _history(
        self, tx: Tx, task_id: int, author: str, author_type: ActorType, comment_type: CommentType | str,
        content: str, metadata: dict | None = None,
    ) -> int:
        kind = comment_type.value if isinstance(comment_type, CommentType) else comment_type
        if not kind or len(kind) > 50:
            raise InvalidInput(f"comment_type={kind!r} must be 1 to 50 characters.")
        return tx.insert(
            f"INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata, created_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, {tx.now})",
            [task_id, author, author_type.value, kind, content, json.dumps(metadata, ensure_ascii=False) if metadata is not None else None],
        )

    # ---- claims and leases -----------------------------------------------------------------

    def _has_leases(self, tx: Tx) -> bool:
        """A database the web app made but init-db never upgraded has no lease table: work without it."""
        if self._leases is None:
            if tx.dialect == "mysql":
                found = tx.value(
                    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'task_leases'"
                )
            else:
                found = tx.value("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'task_leases'")
            self._leases = bool(found)
            if not self._leases:
                log.warning("table task_leases is missing: claims have no lease; run `python server.py init-db`")
        return self._leases

    def _expires(self, tx: Tx) -> str:
        """SQL for now + %s seconds, on the database clock."""
        if tx.dialect == "mysql":
            return "NOW(6) + INTERVAL %s SECOND"
        return "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || %s || ' seconds')"

    def _take_lease(self, tx: Tx, task_id: int, holder: str, holder_type: str, assignment_id: int | None, seconds: int | None) -> None:
        if not self._has_leases(tx):
            return
        seconds = seconds or self.lease_seconds
        if tx.dialect == "mysql":
            sql = (
                "INSERT INTO task_leases (task_id, holder, holder_type, assignment_id, lease_seconds, expires_at) "
                f"VALUES (%s, %s, %s, %s, %s, {self._expires(tx)}) ON DUPLICATE KEY UPDATE holder = VALUES(holder), "
                "holder_type = VALUES(holder_type), assignment_id = VALUES(assignment_id), "
                "lease_seconds = VALUES(lease_seconds), expires_at = VALUES(expires_at)"
            )
        else:
            sql = (
                "INSERT INTO task_leases (task_id, holder, holder_type, assignment_id, lease_seconds, expires_at) "
                f"VALUES (%s, %s, %s, %s, %s, {self._expires(tx)}) ON CONFLICT(task_id) DO UPDATE SET holder = excluded.holder, "
                "holder_type = excluded.holder_type, assignment_id = excluded.assignment_id, "
                "lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at"
            )
        tx.execute(sql, [task_id, holder, holder_type, assignment_id, seconds, seconds])

    def _drop_lease(self, tx: Tx, task_id: int) -> None:
        if self._has_leases(tx):
            tx.execute("UPDATE task_leases SET holder = NULL, holder_type = NULL, assignment_id = NULL, expires_at = NULL WHERE task_id = %s", [task_id])

    def _renew_lease(self, tx: Tx, task_id: int, holder: str) -> None:
        """Any write by the holder on its task renews its lease for the lease's own length."""
        if self._has_leases(tx):
            expires = self._expires(tx).replace("%s", "lease_seconds")
            tx.execute(
                f"UPDATE task_leases SET expires_at = {expires} WHERE task_id = %s AND holder = %s AND expires_at IS NOT NULL",
                [task_id, holder],
            )

    def renew_lease(self, task_id: int, holder: str) -> None:
        """For a running execution: keep its claim alive while it streams."""
        self.db.write(lambda tx: self._renew_lease(tx, task_id, holder))

    def _reap_one(self, tx: Tx, task_id: int) -> bool:
        """If the task's lease has run out: back to pending (or failed after max attempts). True if reaped."""
        if not self._has_leases(tx):
            return False
        lease = tx.row(
            f"SELECT holder, holder_type, attempts FROM task_leases WHERE task_id = %s AND expires_at < {tx.now}{tx.for_update}",
            [task_id],
        )
        status = tx.value("SELECT status FROM tasks WHERE id = %s", [task_id])
        if not lease:
            return False
        if status != "in_progress":
            self._drop_lease(tx, task_id)
            return False
        attempts = int(lease["attempts"]) + 1
        tx.execute("UPDATE task_leases SET attempts = %s WHERE task_id = %s", [attempts, task_id])
        target = TaskStatus.FAILED if attempts >= self.max_attempts else TaskStatus.PENDING
        why = (
            f" (lease of {lease['holder']} expired; attempt {attempts} of {self.max_attempts}"
            + ("; no attempts left)" if target == TaskStatus.FAILED else ")")
        )
        self._move(tx, task_id, TaskStatus.IN_PROGRESS, target, "mcp-tasks", ActorType.AI, note=why)
        return True

    def reap_expired(self, limit: int = 20) -> list[int]:
        """Return expired claims to pending (or failed); run by every claim, so no daemon is needed."""

        def find(tx: Tx) -> list[int]:
            if not self._has_leases(tx):
                return []
            return [
                int(r["task_id"])
                for r in tx.rows(f"SELECT task_id FROM task_leases WHERE expires_at < {tx.now} ORDER BY expires_at LIMIT %s", [limit])
            ]

        def reap(tx: Tx, task_id: int) -> bool:
            if tx.value(f"SELECT id FROM tasks WHERE id = %s{tx.for_update}", [task_id]) is None:
                return False  # deleted meanwhile; its lease row went with it
            return self._reap_one(tx, task_id)

        # One transaction per task: a concurrent reaper or a renewal wins cleanly.
        return [t for t in self.db.read(find) if self.db.write(lambda tx, t=t: reap(tx, t))]

    def _can_skip_locked(self, tx: Tx) -> bool:
        """MariaDB ≥ 10.6 and MySQL ≥ 8.0.1 have SKIP LOCKED; older servers get a compare-and-set loop."""
        if self._skip_locked is None:
            version = str(tx.value("SELECT VERSION() AS v"))
            numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
            self._skip_locked = numbers >= ((10, 6, 0) if "mariadb" in version.lower() else (8, 0, 1))
        return self._skip_locked

    def claim(
        self,
        *,
        assignee: str,
        assignee_type: ExecutorType,
        model_name: str | None,
        type: str | None,
        search: str | None,
        parent_task_id: int | None,
        lease_minutes: float | None,
        actor_type: ActorType,
    ) -> dict[str, Any] | None:
        """Atomically take the most urgent matching pending task: earliest due date, then oldest."""
        self.reap_expired()
        allowed_types = [t.value for t in TaskType if assignee_type in wf.ALLOWED_ASSIGNEES[t]]
        if type is not None and type not in allowed_types:
            raise InvalidInput(
                f"type={type!r} tasks cannot be claimed by assignee_type={assignee_type.value!r}. "
                f"It may claim: {', '.join(allowed_types)}."
            )
        seconds = max(1, round(lease_minutes * 60)) if lease_minutes else self.lease_seconds

        def run(tx: Tx) -> dict[str, Any] | None:
            where, params = self._filters(tx, "pending", type, search, parent_task_id, None)
            if type is None:
                where.append("type IN (" + ", ".join(["%s"] * len(allowed_types)) + ")")
                params.extend(allowed_types)
            base = " AND ".join(where)
            # Two index-friendly passes instead of ORDER BY due_date IS NULL: dated tasks first.
            passes = (
                (f"{base} AND due_date IS NOT NULL", "due_date, created_at, id"),
                (f"{base} AND due_date IS NULL", "created_at, id"),
            )
            skip_locked = tx.dialect == "mysql" and self._can_skip_locked(tx)
            for clause, order in passes:
                if skip_locked:
                    row = tx.row(f"SELECT id FROM tasks WHERE {clause} ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED", params)
                    candidates = [row["id"]] if row else []
                else:
                    candidates = [r["id"] for r in tx.rows(f"SELECT id FROM tasks WHERE {clause} ORDER BY {order} LIMIT 10", params)]
                for task_id in candidates:
                    task_id = int(task_id)
                    # Compare-and-set: on an old server another claimer may have taken it meanwhile.
                    won = tx.execute(
                        f"UPDATE tasks SET status = 'in_progress', {tx.touch}, completed_at = NULL WHERE id = %s AND status = 'pending'",
                        [task_id],
                    )
                    if won != 1:
                        continue
                    assignment_id = self._insert_active_assignment(
                        tx, task_id, assignee, assignee_type, model_name, assignee, actor_type, "claimed with tasks_claim"
                    )
                    self._take_lease(tx, task_id, assignee, actor_type.value, assignment_id, seconds)
                    self._history(
                        tx, task_id, assignee, actor_type, CommentType.STATUS_CHANGE,
                        f"Claimed by {assignee} [{assignee_type.value}]: pending → in_progress",
                        {"from": "pending", "to": "in_progress", "assignment_id": assignment_id, "lease_seconds": seconds},
                    )
                    if self._has_leases(tx):
                        row = tx.row(
                            f"SELECT {TASK_COLUMNS}, (SELECT expires_at FROM task_leases WHERE task_id = tasks.id) AS lease_expires_at "
                            "FROM tasks WHERE id = %s",
                            [task_id],
                        )
                    else:
                        row = {**self._task_row(tx, task_id), "lease_expires_at": None}
                    expires = row.pop("lease_expires_at")
                    return {**_task(row), "assignment_id": assignment_id, "lease_expires_at": _text_time(expires)}
            return None

        return self.db.write(run)

    # ---- execution (tasks_execute) --------------------------------------------------------------

    def start_execution(self, task_id: int, *, model: str, actor: str, actor_type: ActorType) -> dict[str, Any]:
        """Take the task for a model run: refuse what may not run, assign the model, in_progress, lease."""

        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            if row["status"] == "in_progress":
                self._reap_one(tx, task_id)
                row = self._task_row(tx, task_id)
            status, task_type = TaskStatus(row["status"]), TaskType(row["type"])
            if task_type == TaskType.HUMAN_TASK:
                raise WorkflowError(
                    f"Task {task_id} is a human_task; a model cannot execute it. Change its type to ai_task or mixed "
                    "with tasks_update if a model should do it, or assign it to a person with tasks_assign."
                )
            if status in FINAL_STATUSES:
                raise WorkflowError(f"Task {task_id} is {status.value}; {status.value} is final. {wf.follow_up_hint(task_id)}")
            running = tx.row(
                "SELECT assignee FROM task_assignments WHERE task_id = %s AND assignee_type = 'ollama' AND status = 'in_progress' "
                "ORDER BY id DESC LIMIT 1",
                [task_id],
            )
            if running:
                raise Conflict(
                    f"Task {task_id} is already being executed by {running['assignee']} (ollama). Wait for its result "
                    "(tasks_get shows it), or cancel the task."
                )
            holder = f"{model} (ollama)"[:100]
            assignment_id = self._insert_active_assignment(
                tx, task_id, holder, ExecutorType.OLLAMA, model[:100], actor, actor_type, "tasks_execute"
            )
            self._history(tx, task_id, actor, actor_type, CommentType.ASSIGNMENT, f"Executing on {model} (ollama)", {"assignment_id": assignment_id})
            if status == TaskStatus.FAILED:
                self._move(tx, task_id, status, TaskStatus.PENDING, actor, actor_type, note=" (retry by tasks_execute)")
                status = TaskStatus.PENDING
            if status == TaskStatus.PENDING:
                self._move(tx, task_id, status, TaskStatus.IN_PROGRESS, holder, ActorType.AI, assignment_id=assignment_id)
            else:
                self._take_lease(tx, task_id, holder, "ai", assignment_id, None)
            parent_title = None
            if row["parent_task_id"] is not None:
                parent_title = tx.value("SELECT title FROM tasks WHERE id = %s", [row["parent_task_id"]])
            return {
                "task": _task(self._task_row(tx, task_id)),
                "assignment_id": assignment_id,
                "holder": holder,
                "parent_title": parent_title,
                "started_at": _text_time(tx.value(f"SELECT {tx.now} AS t")),
            }

        return self.db.write(run)

    def finish_execution(
        self,
        task_id: int,
        *,
        assignment_id: int,
        holder: str,
        model: str,
        started_at: str,
        request: str,
        response: str,
        status: ResultStatus,
        error_message: str | None,
        tokens_input: int | None,
        tokens_output: int | None,
        cost_usd: float | None,
        duration_ms: int,
        auto_complete: bool,
    ) -> dict[str, Any]:
        """Store the run's result; settle the assignment and the task in the same transaction."""

        def run(tx: Tx) -> dict[str, Any]:
            row = self._locked_status(tx, task_id)
            if row is None:
                raise NotFound(f"Task {task_id} was deleted while the model ran; its result (status {status.value}) was not stored.")
            result_id, total = self._insert_result(
                tx, task_id, assignment_id, holder, ExecutorType.OLLAMA, ActorType.AI, model[:100], request, response,
                started_at, duration_ms, tokens_input, tokens_output, cost_usd, status, error_message, show_duration=True,
            )
            note = ""
            current = TaskStatus(row["status"])
            if status == ResultStatus.SUCCESS:
                tx.execute(
                    f"UPDATE task_assignments SET status = 'completed', completed_at = {tx.now} WHERE id = %s AND status = 'in_progress'",
                    [assignment_id],
                )
                if current == TaskStatus.IN_PROGRESS:
                    try:
                        if not auto_complete:
                            raise WorkflowError("auto_complete is false: the task stays in_progress for review.")
                        self._check_completion(tx, task_id)  # reads only, so a refusal leaves nothing to undo
                        self._move(tx, task_id, current, TaskStatus.COMPLETED, holder, ActorType.AI)
                    except WorkflowError as refused:
                        note = str(refused)
                        # The run is over; the task now waits for review, not for this process.
                        self._drop_lease(tx, task_id)
            else:
                tx.execute(
                    "UPDATE task_assignments SET status = 'rejected', notes = %s WHERE id = %s AND status = 'in_progress'",
                    [f"tasks_execute {status.value}: {(error_message or '')[:500]}", assignment_id],
                )
                if current == TaskStatus.IN_PROGRESS:
                    self._move(tx, task_id, current, TaskStatus.FAILED, holder, ActorType.AI, note=f" ({status.value} result #{result_id})")
            task_status = tx.value("SELECT status FROM tasks WHERE id = %s", [task_id])
            return {"result_id": result_id, "tokens_total": total, "task_status": task_status, "note": note}

        return self.db.write(run)

    def _check_completion(self, tx: Tx, task_id: int) -> None:
        """Open subtasks and a failed quality gate block completion."""
        children = tx.rows(
            "SELECT id, status FROM tasks WHERE parent_task_id = %s AND status IN ('pending', 'in_progress', 'failed') ORDER BY id",
            [task_id],
        )
        wf.check_children_allow_completion(task_id, children)
        if self.quality_gate:
            self._check_quality_gate(tx, task_id)
