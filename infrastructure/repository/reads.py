"""Reads: tasks_list (pages by offset or keyset cursor, capped counts), tasks_get (a task
with its parent and child lists in one statement), and which of a page's tasks wait for review.

Belongs here: what a read returns and how its rows are fetched. WHERE clauses for filters and
search are in search.py; the row conversion helpers in base.py.
"""
from __future__ import annotations

import functools
from typing import Any

from domain.errors import NotFound
from domain.models import ID_MAX, TaskStatus
from infrastructure.tx import Tx
from infrastructure.repository import detail_json
from validators import work_order as wo
from infrastructure.repository.base import (
    COUNT_CAP,
    GET_COMMENTS_MAX,
    GET_RESPONSE_CHARS,
    GET_RESULTS_MAX,
    GET_SUBTASKS_MAX,
    PREVIEW_CHARS,
    RepositoryBase,
    _check_task_id,
    _db_time,
    _json,
    _normalise,
    _ref,
    _task,
    _text_time,
    decode_cursor,
    encode_cursor,
)


GET_BLOCKS_MAX = 101  # tasks_get lists the first 100 tasks a task blocks, and says when there are more

# tasks_get reads a task, its parent and its four child lists in one UNION ALL: one round
# trip instead of six (each is ~0.1 ms of PyMySQL work on MariaDB even when every page is
# cached; bench/RESULTS.md). Each part puts its columns into shared slots of one type family
# (text s*, time t*, number n*, money), so both databases keep each slot's type: datetimes
# and decimals arrive as such. Part: (kind, source table, columns as (name, slot), what follows FROM).
# MariaDB reads the same parts as one JSON column a row instead (detail_json.py); this form is
# SQLite's and MySQL's, and MariaDB's fallback for a row too large for one packet.
_DETAIL_PARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...] = (
    ("task", "tasks", (
        ("id", "id"), ("uuid", "s1"), ("title", "s2"), ("description", "s3"), ("type", "s4"), ("status", "s5"),
        ("created_by", "s6"), ("created_by_type", "s7"), ("metadata", "s8"), ("parent_task_id", "n1"),
        ("due_date", "t1"), ("created_at", "t2"), ("updated_at", "t3"), ("completed_at", "t4"),
    ), "WHERE id = %s"),
    ("parent", "tasks", (("id", "id"), ("title", "s2"), ("status", "s5")),
     "WHERE id = (SELECT parent_task_id FROM tasks WHERE id = %s)"),
    ("subtask", "tasks", (("id", "id"), ("title", "s2"), ("status", "s5")),
     f"WHERE parent_task_id = %s ORDER BY id LIMIT {GET_SUBTASKS_MAX + 1}"),
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
    ), f"WHERE task_id = %s ORDER BY id DESC LIMIT {GET_RESULTS_MAX + 1}"),
    # The newest comments only, one more than shown to tell that some were left out.
    ("comment", "task_comments", (
        ("id", "id"), ("task_id", "n1"), ("author", "s1"), ("author_type", "s2"), ("comment_type", "s3"),
        ("content", "s4"), ("metadata", "s8"), ("created_at", "t1"),
    ), f"WHERE task_id = %s ORDER BY id DESC LIMIT {GET_COMMENTS_MAX + 1}"),
)
# Parts read only where init-db made their tables (a database the web app made may lack them).
_LEASE_PARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...] = (
    ("lease", "task_leases", (
        ("task_id", "id"), ("holder", "s1"), ("holder_type", "s2"), ("expires_at", "t1"),
        ("CASE WHEN expires_at < {now} THEN 1 ELSE 0 END", "n1"),
    ), "WHERE task_id = %s AND holder IS NOT NULL"),
)
_ORDER_PARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...] = (
    ("priority", "task_priorities", (("task_id", "id"), ("priority", "n1")), "WHERE task_id = %s"),
    ("label", "task_labels", (("task_id", "id"), ("label", "s1")), "WHERE task_id = %s"),
    ("depends_on", "task_dependencies d JOIN tasks b ON b.id = d.depends_on_id",
     (("b.id", "id"), ("b.title", "s2"), ("b.status", "s5")), "WHERE d.task_id = %s"),
    ("blocks", "task_dependencies d JOIN tasks b ON b.id = d.task_id",
     (("b.id", "id"), ("b.title", "s2"), ("b.status", "s5")), f"WHERE d.depends_on_id = %s ORDER BY b.id LIMIT {GET_BLOCKS_MAX}"),
)
_ALL_PARTS = _DETAIL_PARTS + _LEASE_PARTS + _ORDER_PARTS
_SLOTS = ("id", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "n1", "n2", "n3", "n4", "n5", "n6",
          "t1", "t2", "t3", "t4", "money")
# kind → (output name, slot); the SUBSTR of response is named response.
def _out_name(expr: str) -> str:
    if expr.startswith("SUBSTR("):
        return "response"
    if expr.startswith("CASE"):
        return "expired"
    return expr.rsplit(".", 1)[-1]


_DETAIL_SLOTS = {
    kind: tuple((_out_name(name), slot) for name, slot in columns) for kind, _, columns, _ in _ALL_PARTS
}
_DETAIL_SQL: dict[tuple[str, bool, bool], tuple[str, int]] = {}


def _chosen(leases: bool, order: bool) -> tuple[tuple[str, str, tuple[tuple[str, str], ...], str], ...]:
    return _DETAIL_PARTS + (_LEASE_PARTS if leases else ()) + (_ORDER_PARTS if order else ())


@functools.cache
def _json_parts(leases: bool, order: bool) -> tuple[tuple[str, str, tuple[tuple[str, str, str], ...], str], ...]:
    """The same parts for detail_json: each column as (key, expression, slot)."""
    return tuple(
        (kind, table, tuple((_out_name(name), name.replace("{now}", "NOW(6)"), slot) for name, slot in columns), rest)
        for kind, table, columns, rest in _chosen(leases, order)
    )


def _detail_sql(dialect: str, leases: bool, order: bool) -> tuple[str, int]:
    """The statement and how many times it takes the task id."""
    key = (dialect, leases, order)
    if key not in _DETAIL_SQL:
        now = "NOW(6)" if dialect == "mysql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
        chosen = _chosen(leases, order)
        parts = []
        for kind, table, columns, rest in chosen:
            by_slot = {slot: name.replace("{now}", now) for name, slot in columns}
            part = f"SELECT '{kind}' AS kind, " + ", ".join(f"{by_slot.get(slot, 'NULL')} AS {slot}" for slot in _SLOTS)
            part += f" FROM {table} {rest}"
            # Each part's ORDER BY ... LIMIT stays its own: MariaDB in parentheses (a derived table
            # there doubles the statement's time, 0.6 → 1.2 ms), SQLite, which has no parentheses
            # in a compound SELECT, in a subquery.
            parts.append(f"({part})" if dialect == "mysql" else f"SELECT * FROM ({part})")
        _DETAIL_SQL[key] = (" UNION ALL ".join(parts), len(chosen))
    return _DETAIL_SQL[key]


def _by_id(row: dict[str, Any]) -> int:
    return row["id"]


def _slot_value(slot: str, value: Any) -> Any:
    # MariaDB types a number slot that is NULL in some parts as DECIMAL: give ids and counts back as ints.
    if value is not None and (slot == "id" or slot[0] == "n"):
        return int(value)
    return value


class ReadsMixin(RepositoryBase):
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
        priority: str | None = None,
        label: str | None = None,
        ready: bool | None = None,
    ) -> dict[str, Any]:
        after = decode_cursor(cursor) if cursor else None

        def run(tx: Tx) -> dict[str, Any]:
            where, params = self._filters(tx, status, type, None, parent_task_id, assignee)
            order_where, order_params = self.work.list_filters(tx, priority, label, ready)
            where.extend(order_where)
            params.extend(order_params)
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
                last_key = (_db_time(raw), int(row["id"]))
                row.pop("total_rows", None)
                preview = row.pop("description_preview") or ""
                length = int(row.pop("description_length") or 0)
                row["description_preview"] = preview[:PREVIEW_CHARS] + ("…" if length > PREVIEW_CHARS else "")
                row["id"] = int(row["id"])
                row["parent_task_id"] = int(row["parent_task_id"]) if row["parent_task_id"] is not None else None
                row["due_date"] = _text_time(row["due_date"])
                row["created_at"] = _text_time(row["created_at"])
                row["updated_at"] = _text_time(row["updated_at"])
                tasks.append(row)
            attributes = self.work.attributes(tx, [row["id"] for row in tasks])
            for row in tasks:
                row.update(attributes[row["id"]])
            return {
                "tasks": tasks,
                "total": max(total, skip + len(rows)),
                "total_exact": exact,
                "next_offset": skip + len(rows) if more and after is None else None,
                "next_cursor": encode_cursor(*last_key) if more and last_key else None,
            }

        return self.db.read(run)

    def waiting_for_review(self, task_ids: list[int]) -> set[int]:
        """The ids among task_ids of tasks in progress with at least one result: what tasks_execute
        leaves without auto_complete. One statement for a page of cards (the board read each
        card's tasks_get for this). Ids that do not exist, or cannot, are simply not in the set."""
        ids = sorted({int(i) for i in task_ids if 1 <= int(i) <= ID_MAX})
        if not ids:
            return set()
        marks = ", ".join(["%s"] * len(ids))
        sql = (
            f"SELECT id FROM tasks WHERE id IN ({marks}) AND status = %s "
            "AND EXISTS (SELECT 1 FROM task_results r WHERE r.task_id = tasks.id)"
        )
        return self.db.read(lambda tx: {int(row["id"]) for row in tx.rows(sql, [*ids, TaskStatus.IN_PROGRESS.value])})

    def get_task(self, task_id: int, *, comments_before: int | None = None, results_before: int | None = None) -> dict[str, Any]:
        """The task with its lists, each cut at its bound (GET_*_MAX, `*_truncated` says so).
        comments_before / results_before: those lists hold the ones older than that id instead."""
        _check_task_id(task_id)

        def run(tx: Tx) -> dict[str, Any]:
            task = self._full_task(tx, task_id)
            if comments_before is not None:
                rows = tx.rows(
                    "SELECT id, task_id, author, author_type, comment_type, content, metadata, created_at FROM task_comments "
                    "WHERE task_id = %s AND id < %s ORDER BY id DESC LIMIT %s", [task_id, comments_before, GET_COMMENTS_MAX + 1],
                )
                task["comments_truncated"] = len(rows) > GET_COMMENTS_MAX
                task["comments"] = [{**_normalise(c), "metadata": _json(c["metadata"])} for c in reversed(rows[:GET_COMMENTS_MAX])]
            if results_before is not None:
                rows = tx.rows(
                    "SELECT id, task_id, assignment_id, executor, executor_type, model_name, request, "
                    f"SUBSTR(response, 1, {GET_RESPONSE_CHARS + 1}) AS response, request_timestamp, response_timestamp, "
                    "duration_ms, tokens_input, tokens_output, tokens_total, cost_usd, status, error_message, created_at "
                    "FROM task_results WHERE task_id = %s AND id < %s ORDER BY id DESC LIMIT %s",
                    [task_id, results_before, GET_RESULTS_MAX + 1],
                )
                task["results_truncated"] = len(rows) > GET_RESULTS_MAX
                task["results"] = [_cut_response(_normalise(r)) for r in reversed(rows[:GET_RESULTS_MAX])]
            return task

        return self.db.read(run)

    def _full_task(self, tx: Tx, task_id: int) -> dict[str, Any]:
        """The task with its parent and child lists, read in one statement: on MariaDB a row of
        JSON per part's row (detail_json.py), elsewhere, or when a row would not fit in one
        packet, the UNION ALL of _DETAIL_PARTS. Only MariaDB's JSON_OBJECT is known to escape text
        as json.loads reads it back (test_get_detail.py); MySQL's casts and number forms were not
        checked, so MySQL reads the UNION ALL."""
        if tx.mariadb:
            sql, ids = detail_json.statement(_json_parts(self._has_leases(tx), self.work.present(tx)))
            found = detail_json.rows(tx.rows(sql, [task_id] * ids, prepare=True))
            if found is not None:
                if "task" not in found:
                    raise NotFound(f"Task {task_id} does not exist. Find ids with tasks_list (e.g. search=...).")
                return self._task_from_json(found)
        return self._task_from_rows(tx, task_id)

    @staticmethod
    def _task_from_json(found: dict[str, list[Any]]) -> dict[str, Any]:
        """What _task_from_rows makes of the same task, from detail_json's rows, whose
        timestamps and numbers are already in their final form."""
        by_id = _by_id
        task = found["task"][0]
        task["metadata"] = _json(task["metadata"])
        parent = found.get("parent")
        task["parent"] = parent[0] if parent else None
        task["subtasks"] = sorted(found.get("subtask", ()), key=by_id)
        task["assignments"] = sorted(found.get("assignment", ()), key=by_id)
        task["results"] = [_cut_response(r) for r in sorted(found.get("result", ()), key=by_id)]
        comments = sorted(found.get("comment", ()), key=by_id)  # the newest GET_COMMENTS_MAX + 1
        task["comments_truncated"] = len(comments) > GET_COMMENTS_MAX
        comments = comments[-GET_COMMENTS_MAX:]
        for c in comments:
            c["metadata"] = _json(c["metadata"])
        task["comments"] = comments
        lease = found["lease"][0] if "lease" in found else None
        task["held_by"] = lease["holder"] if lease else None
        task["lease_expires_at"] = lease["expires_at"] if lease else None
        task["lease_expired"] = bool(lease["expired"]) if lease else None
        priority = found.get("priority")
        task["priority"] = wo.RANK_PRIORITY.get(priority[0]["priority"], "normal") if priority else "normal"
        task["labels"] = sorted(r["label"] for r in found.get("label", ()))
        task["depends_on"] = sorted(found.get("depends_on", ()), key=by_id)
        blocks = sorted(found.get("blocks", ()), key=by_id)
        task["blocks"] = blocks[:GET_BLOCKS_MAX - 1]
        task["blocks_truncated"] = len(blocks) >= GET_BLOCKS_MAX
        open_blockers = [d["id"] for d in task["depends_on"] if d["status"] != "completed"]
        task["ready"] = (not open_blockers) if task["status"] == "pending" else None
        return _bounded(task)

    def _task_from_rows(self, tx: Tx, task_id: int) -> dict[str, Any]:
        """The task read as the UNION ALL of _DETAIL_PARTS, one row per part's row."""
        found: dict[str, list[dict[str, Any]]] = {kind: [] for kind, _, _, _ in _ALL_PARTS}
        sql, uses = _detail_sql(tx.dialect, self._has_leases(tx), self.work.present(tx))
        for row in tx.rows(sql, [task_id] * uses):
            kind = row["kind"]
            found[kind].append({name: _slot_value(slot, row[slot]) for name, slot in _DETAIL_SLOTS[kind]})
        if not found["task"]:
            raise NotFound(f"Task {task_id} does not exist. Find ids with tasks_list (e.g. search=...).")
        task = _task(found["task"][0])
        task["parent"] = _ref(found["parent"][0]) if found["parent"] else None
        task["subtasks"] = sorted((_ref(r) for r in found["subtask"]), key=lambda r: r["id"])
        task["assignments"] = sorted((_normalise(r) for r in found["assignment"]), key=lambda r: r["id"])
        task["results"] = [_cut_response(_normalise(r)) for r in sorted(found["result"], key=lambda r: r["id"])]
        comments = sorted(found["comment"], key=lambda r: r["id"])  # the newest GET_COMMENTS_MAX + 1
        task["comments_truncated"] = len(comments) > GET_COMMENTS_MAX
        task["comments"] = [{**_normalise(c), "metadata": _json(c["metadata"])} for c in comments[-GET_COMMENTS_MAX:]]
        lease = found["lease"][0] if found["lease"] else None
        task["held_by"] = lease["holder"] if lease else None
        task["lease_expires_at"] = _text_time(lease["expires_at"]) if lease else None
        task["lease_expired"] = bool(lease["expired"]) if lease else None
        task["priority"] = wo.RANK_PRIORITY.get(found["priority"][0]["priority"], "normal") if found["priority"] else "normal"
        task["labels"] = sorted(r["label"] for r in found["label"])
        task["depends_on"] = sorted((_ref(r) for r in found["depends_on"]), key=lambda r: r["id"])
        task["blocks"] = sorted((_ref(r) for r in found["blocks"]), key=lambda r: r["id"])[:GET_BLOCKS_MAX - 1]
        task["blocks_truncated"] = len(found["blocks"]) >= GET_BLOCKS_MAX
        open_blockers = [d["id"] for d in task["depends_on"] if d["status"] != "completed"]
        task["ready"] = (not open_blockers) if task["status"] == "pending" else None
        return _bounded(task)


def _cut_response(result: dict[str, Any]) -> dict[str, Any]:
    result["response_truncated"] = result["response"] is not None and len(result["response"]) > GET_RESPONSE_CHARS
    if result["response_truncated"]:
        result["response"] = result["response"][:GET_RESPONSE_CHARS]
    return result


def _bounded(task: dict[str, Any]) -> dict[str, Any]:
    """Results and subtasks cut at their bounds: the statement read one more than shown of each,
    the newest results and the first subtasks."""
    task["results_truncated"] = len(task["results"]) > GET_RESULTS_MAX
    task["results"] = task["results"][-GET_RESULTS_MAX:]
    task["subtasks_truncated"] = len(task["subtasks"]) > GET_SUBTASKS_MAX
    task["subtasks"] = task["subtasks"][:GET_SUBTASKS_MAX]
    return task
