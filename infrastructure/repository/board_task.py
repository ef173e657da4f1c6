"""The board's task page as one bounded read: the task, and each of its lists (results,
history, subtasks, assignments, dependencies) as a page of the newest rows with a capped
count, so a task with 10,000 results is as cheap to show as one with ten.

Belongs here: the board's read of one task. tasks_get (reads.py) answers agents and keeps its
own shape; this one exists because a page has a byte budget and "show more" links.
"""
from __future__ import annotations

from typing import Any

from domain.errors import InvalidInput
from infrastructure.repository.base import COUNT_CAP, RepositoryBase, _normalise, _ref, _task, _text_time
from infrastructure.tx import Tx

PAGE_ROWS = {"results": 20, "history": 50, "subtasks": 50, "assignments": 20}  # rows of each list per page
TEXT_CHARS = 2_000  # of a result's response or a history entry on the page; the rest: "(cut)"
RELATION_ROWS = 50  # tasks this one depends on or blocks, shown
OFFSET_MAX = 10_000_000

_LISTS = {  # list → (table, columns, key column)
    "results": ("task_results", "id, executor, executor_type, model_name, status, tokens_input, tokens_output, "
                "tokens_total, cost_usd, duration_ms, error_message, created_at, "
                f"SUBSTR(response, 1, {TEXT_CHARS + 1}) AS response", "task_id"),
    "history": ("task_comments", f"id, author, author_type, comment_type, SUBSTR(content, 1, {TEXT_CHARS + 1}) AS content, "
                "created_at", "task_id"),
    "subtasks": ("tasks", "id, title, status", "parent_task_id"),
    "assignments": ("task_assignments", "id, assignee, assignee_type, model_name, status, assigned_at, assigned_by, "
                    "SUBSTR(notes, 1, 500) AS notes", "task_id"),
}


def _cut(row: dict[str, Any], name: str) -> None:
    text = row.get(name)
    row[f"{name}_truncated"] = text is not None and len(text) > TEXT_CHARS
    if row[f"{name}_truncated"]:
        row[name] = text[:TEXT_CHARS]


class BoardTaskMixin(RepositoryBase):
    def board_task(self, task_id: int, offsets: dict[str, int] | None = None) -> dict[str, Any]:
        """The task with each list as {"rows", "total", "total_exact", "offset", "next_offset",
        "per_page"}, newest first, from `offsets` (list name → rows skipped; default 0)."""
        offsets = offsets or {}
        for name, offset in offsets.items():
            if name not in _LISTS or not 0 <= offset <= OFFSET_MAX:
                raise InvalidInput(f"{name}={offset!r}: a list of the task page is paged from 0 to {OFFSET_MAX}.")

        def run(tx: Tx) -> dict[str, Any]:
            task = _task(self._task_row(tx, task_id))
            task.update(self.work.attributes(tx, [task_id])[task_id])
            task["parent"] = None
            if task["parent_task_id"] is not None:
                parent = tx.row("SELECT id, title, status FROM tasks WHERE id = %s", [task["parent_task_id"]])
                task["parent"] = _ref(parent) if parent else None
            lease = self._lease(tx, task_id)  # type: ignore[attr-defined]  (LeasesMixin)
            held = bool(lease and lease["holder"])
            task["held_by"] = lease["holder"] if held else None
            task["lease_expires_at"] = _text_time(lease["expires_at"]) if held else None
            task["lease_expired"] = bool(int(lease["expired"])) if held else None
            task["depends_on"], task["blocks"] = self._relations(tx, task_id)
            task["ready"] = (not any(d["status"] != "completed" for d in task["depends_on"])) if task["status"] == "pending" else None
            for name in _LISTS:
                task[name] = self._list_page(tx, name, task_id, offsets.get(name, 0))
            task["has_results"] = task["results"]["total"] > 0
            return task

        return self.db.read(run)

    def _relations(self, tx: Tx, task_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not self.work.present(tx):
            return [], []
        found = []
        for mine, theirs in (("task_id", "depends_on_id"), ("depends_on_id", "task_id")):
            found.append([_ref(r) for r in tx.rows(
                f"SELECT b.id, b.title, b.status FROM task_dependencies d JOIN tasks b ON b.id = d.{theirs} "
                f"WHERE d.{mine} = %s ORDER BY b.id LIMIT {RELATION_ROWS}", [task_id])])
        return found[0], found[1]

    @staticmethod
    def _list_page(tx: Tx, name: str, task_id: int, offset: int) -> dict[str, Any]:
        table, columns, key = _LISTS[name]
        per_page = PAGE_ROWS[name]
        rows = tx.rows(f"SELECT {columns} FROM {table} WHERE {key} = %s ORDER BY id DESC LIMIT %s OFFSET %s",
                       [task_id, per_page + 1, offset])
        more = len(rows) > per_page
        rows = [_normalise(r) for r in rows[:per_page]]
        for row in rows:
            for text in ("response", "content"):
                if text in row:
                    _cut(row, text)
        if more or offset:
            counted = int(tx.value(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} WHERE {key} = %s LIMIT %s) AS capped",
                                   [task_id, COUNT_CAP + 1]))
        else:
            counted = len(rows)
        return {
            "rows": rows, "total": max(min(counted, COUNT_CAP), offset + len(rows)), "total_exact": counted <= COUNT_CAP,
            "offset": offset, "next_offset": offset + per_page if more else None, "per_page": per_page,
        }



