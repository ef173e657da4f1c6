"""Reads for the board's columns: a page of cards in the order people act on them, and what
each card shows beyond the task row (who holds it, what blocks it, whether it waits for review).

Belongs here: SQL that only the board's pages ask for. Each method is one read, bounded by
its page: a column at 1M tasks costs a few index walks of at most `limit + 1` rows.
"""
from __future__ import annotations

from typing import Any

from domain.models import ID_MAX
from infrastructure.repository.base import COUNT_CAP, RepositoryBase, _text_time
from infrastructure.tx import Tx
from validators import work_order as wo

CARD_COLUMNS = "tasks.id AS id, title, type, status, created_by, due_date, created_at, updated_at"
CLAIM_ORDER_STATUSES = ("pending", "in_progress")  # the finished columns show the newest first
BLOCKERS_SHOWN = 3  # "blocked by #4, #9, #12": more is on the task's page


class BoardMixin(RepositoryBase):
    def column_page(
        self, status: str, *, type: str | None, assignee: str | None, priority: str | None, label: str | None,
        ready: bool | None, limit: int, offset: int,
    ) -> dict[str, Any]:
        """One column of the board: pending and in progress in claim order (urgent, high,
        normal, low; within each the earliest due date, dated before undated, then the oldest),
        the finished columns newest first. Shaped like list_tasks' answer (tasks, total,
        total_exact, next_offset); a search goes through list_tasks (its own relevance order)."""

        def run(tx: Tx) -> dict[str, Any]:
            where, params = self._filters(tx, status, type, None, None, assignee)  # type: ignore[attr-defined]
            more_where, more_params = self.work.list_filters(tx, priority, label, ready)
            where, params = [*where, *more_where], [*params, *more_params]
            base = " AND ".join(where)
            ids = self._page_ids(tx, self._column_passes(tx, base, status), params, limit + 1, offset)
            counted = int(tx.value(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE {base} LIMIT %s) AS capped",
                                   [*params, COUNT_CAP + 1]))
            more = len(ids) > limit
            ids = ids[:limit]
            tasks = self._cards(tx, ids)
            return {
                "tasks": tasks, "total": max(min(counted, COUNT_CAP), offset + len(tasks)), "total_exact": counted <= COUNT_CAP,
                "next_offset": offset + len(tasks) if more else None,
            }

        return self.db.read(run)

    def _column_passes(self, tx: Tx, base: str, status: str) -> list[tuple[str, str, str]]:
        """(FROM, WHERE, ORDER BY) of each index walk, in the column's order (claim_passes without
        the ready filter: a blocked task keeps its place and its card says what blocks it)."""
        if status not in CLAIM_ORDER_STATUSES:
            return [("tasks", base, "created_at DESC, tasks.id DESC")]
        if not self.work.present(tx):
            return [("tasks", f"{base} AND due_date IS NOT NULL", "due_date, created_at, tasks.id"),
                    ("tasks", f"{base} AND due_date IS NULL", "created_at, tasks.id")]
        # A pending task with priority waits in the claim queue (queued = 1); elsewhere its row is not queued.
        queued = 1 if status == "pending" else 0

        def ranked(name: str) -> tuple[str, str, str]:
            source = (f"tasks JOIN task_priorities p ON p.task_id = tasks.id AND p.queued = {queued} "
                      f"AND p.priority = {wo.PRIORITY_RANK[name]}")
            return source, base, "p.due_sort, p.created_at, p.task_id"

        normal = f"{base} AND (SELECT 1 FROM task_priorities q WHERE q.task_id = tasks.id AND q.queued = {queued}) IS NULL"
        return [ranked("urgent"), ranked("high"),
                ("tasks", f"{normal} AND due_date IS NOT NULL", "due_date, created_at, tasks.id"),
                ("tasks", f"{normal} AND due_date IS NULL", "created_at, tasks.id"), ranked("low")]

    @staticmethod
    def _page_ids(tx: Tx, passes: list[tuple[str, str, str]], params: list[Any], want: int, skip: int) -> list[int]:
        """Up to `want` ids after the first `skip`, walking the passes in turn; a pass wholly
        before the page is only counted (up to `skip` rows), never read."""
        ids: list[int] = []
        for source, clause, order in passes:
            if len(ids) >= want:
                break
            if skip:
                n = int(tx.value(f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {source} WHERE {clause} LIMIT %s) AS seen",
                                 [*params, skip]))
                if n < skip:
                    skip -= n
                    continue
            rows = tx.rows(f"SELECT tasks.id AS id FROM {source} WHERE {clause} ORDER BY {order} LIMIT %s OFFSET %s",
                           [*params, want - len(ids), skip])
            skip = 0
            ids.extend(int(r["id"]) for r in rows)
        return ids

    def _cards(self, tx: Tx, ids: list[int]) -> list[dict[str, Any]]:
        """The cards of these tasks in this order, with priority, labels, holder, open blockers
        and the review mark: one read each, whatever the page's size."""
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        rows = {int(r["id"]): r for r in tx.rows(f"SELECT {CARD_COLUMNS} FROM tasks WHERE tasks.id IN ({marks})", ids)}
        attributes = self.work.attributes(tx, list(rows))
        facts = self.card_facts_in(tx, list(rows))
        cards = []
        for task_id in ids:
            row = rows.get(task_id)
            if row is None:
                continue  # deleted between the two reads
            cards.append({
                **row, "id": task_id, "due_date": _text_time(row["due_date"]), "created_at": _text_time(row["created_at"]),
                "updated_at": _text_time(row["updated_at"]), **attributes[task_id], **facts[task_id],
            })
        return cards

    def clock(self) -> str:
        """The database's now, as every timestamp it gives: what a page's "5 min ago" counts from."""
        return self.db.read(lambda tx: _text_time(tx.value(f"SELECT {tx.now} AS now")))

    def card_facts(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """card_facts_in as one read, for cards listed elsewhere (a search)."""
        return self.db.read(lambda tx: self.card_facts_in(tx, [int(i) for i in ids]))

    def card_facts_in(self, tx: Tx, ids: list[int]) -> dict[int, dict[str, Any]]:
        """held_by ("claude-1 (ai)"), blocked_by (the first open blockers' ids) and review (in
        progress with a result) of each task."""
        facts: dict[int, dict[str, Any]] = {i: {"held_by": None, "blocked_by": [], "review": False} for i in ids}
        ids = [i for i in ids if 1 <= i <= ID_MAX]
        if not ids:
            return facts
        marks = ", ".join(["%s"] * len(ids))
        if self._has_leases(tx):  # type: ignore[attr-defined]  (LeasesMixin)
            for r in tx.rows(f"SELECT task_id, holder, holder_type FROM task_leases WHERE task_id IN ({marks}) "
                             "AND holder IS NOT NULL", ids):
                facts[int(r["task_id"])]["held_by"] = f"{r['holder']} ({r['holder_type']})"
        if self.work.present(tx):
            for r in tx.rows(
                f"SELECT d.task_id, d.depends_on_id FROM task_dependencies d JOIN tasks b ON b.id = d.depends_on_id "
                f"WHERE d.task_id IN ({marks}) AND b.status <> 'completed' ORDER BY d.task_id, d.depends_on_id", ids,
            ):
                shown = facts[int(r["task_id"])]["blocked_by"]
                if len(shown) < BLOCKERS_SHOWN:
                    shown.append(int(r["depends_on_id"]))
        for r in tx.rows(f"SELECT id FROM tasks WHERE id IN ({marks}) AND status = 'in_progress' "
                         "AND EXISTS (SELECT 1 FROM task_results r WHERE r.task_id = tasks.id)", ids):
            facts[int(r["id"])]["review"] = True
        return facts
