"""SQL for the order of work: dependencies, priorities, labels and the ready queue.

The data lives in side tables (sql/*/0006.work-order.*) so the shared tables keep their
columns. Every function takes the caller's `Tx`, so each change lands in the caller's
transaction with the rest of the write and its history row.

- Ready: a pending task none of whose blockers is unfinished (only `completed` clears a
  blocker; validators/work_order.py says why).
- Priority rows exist only for tasks that are not normal; a claim serves urgent and high
  from that small table, normal from the tasks index it has always walked, then low.
- Graph changes (a parent, a dependency) first lock one row of task_graph_lock on MariaDB,
  so two concurrent changes that each look acyclic alone cannot close a cycle together.
  SQLite serialises writers already (BEGIN IMMEDIATE).
"""
from __future__ import annotations

from typing import Any

from domain.errors import StorageError
from infrastructure.database import Tx
from validators import work_order as wo

# A pending task with an unfinished blocker; `{t}` is the alias of the task being tested.
OPEN_BLOCKER = (
    "EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks b ON b.id = d.depends_on_id "
    "WHERE d.task_id = {t}.id AND b.status <> 'completed')"
)
MAX_DEPTH = 10_000_000  # of a parent chain walk: beyond any real tree, below a runaway
NOT_NORMAL = "EXISTS (SELECT 1 FROM task_priorities p WHERE p.task_id = {t}.id)"


class WorkOrder:
    """The work-order tables of one database; knows whether init-db has made them."""

    def __init__(self) -> None:
        self._present: bool | None = None
        self._mariadb: bool | None = None

    def present(self, tx: Tx) -> bool:
        """A database the web app made but init-db never upgraded has no such tables: work without them."""
        if self._present is None:
            if tx.dialect == "mysql":
                found = tx.value(
                    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() "
                    "AND table_name = 'task_dependencies'"
                )
            else:
                found = tx.value("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'task_dependencies'")
            self._present = bool(found)
        return self._present

    def require(self, tx: Tx, what: str) -> None:
        if not self.present(tx):
            raise StorageError(
                f"{what} needs the tables that `init-db` creates (task_dependencies, task_priorities, task_labels); "
                "this database has not been upgraded. Run `python server.py init-db` once, then try again.",
                retryable=False,
            )

    # ---- graph -------------------------------------------------------------------------------

    @staticmethod
    def lock_graph(tx: Tx) -> None:
        """Call first in the transaction, before any plain read (see update_task)."""
        if tx.dialect == "mysql":
            tx.value("SELECT id FROM task_graph_lock WHERE id = 1 FOR UPDATE")

    def ancestors(self, tx: Tx, task_id: int) -> list[int]:
        """task_id and every task above it, at any depth; UNION (not UNION ALL) ends the walk on a cycle too."""
        walk = (
            "WITH RECURSIVE up (id) AS (SELECT %s UNION SELECT t.parent_task_id FROM tasks t JOIN up ON t.id = up.id "
            "WHERE t.parent_task_id IS NOT NULL) SELECT id FROM up"
        )
        if tx.dialect == "mysql":
            # MariaDB stops a recursive CTE after max_recursive_iterations (1,000 by default) without
            # an error, and MySQL fails past cte_max_recursion_depth (1,000): lift both for this walk.
            if self._mariadb is None:
                self._mariadb = "mariadb" in str(tx.value("SELECT VERSION() AS v")).lower()
            walk = (
                f"SET STATEMENT max_recursive_iterations = {MAX_DEPTH} FOR {walk}" if self._mariadb
                else walk.replace("SELECT id FROM up", f"SELECT /*+ SET_VAR(cte_max_recursion_depth = {MAX_DEPTH}) */ id FROM up")
            )
        return [int(r["id"]) for r in tx.rows(walk, [task_id])]

    def set_dependencies(self, tx: Tx, task_id: int, blockers: list[int]) -> tuple[list[int], list[int]]:
        """Replace the task's blockers; refuses unknown ids and cycles. (added, removed).
        The caller has taken lock_graph first (a new task blocks nothing: it needs no lock)."""
        self.require(tx, "depends_on")
        if blockers:
            marks = ", ".join(["%s"] * len(blockers))
            found = [int(r["id"]) for r in tx.rows(f"SELECT id FROM tasks WHERE id IN ({marks})", blockers)]
            wo.check_dependencies_exist(blockers, found)
            wo.check_no_cycle(wo.find_dependency_cycle(task_id, blockers, lambda ids: self._blockers_of(tx, ids)))
        before = {int(r["depends_on_id"]) for r in tx.rows("SELECT depends_on_id FROM task_dependencies WHERE task_id = %s", [task_id])}
        wanted = set(blockers)
        removed = sorted(before - wanted)
        added = sorted(wanted - before)
        if removed:
            marks = ", ".join(["%s"] * len(removed))
            tx.execute(f"DELETE FROM task_dependencies WHERE task_id = %s AND depends_on_id IN ({marks})", [task_id, *removed])
        for blocker in added:
            tx.execute(
                f"INSERT INTO task_dependencies (task_id, depends_on_id, created_at) VALUES (%s, %s, {tx.now})", [task_id, blocker]
            )
        return added, removed

    @staticmethod
    def _blockers_of(tx: Tx, ids: list[int]) -> dict[int, list[int]]:
        edges: dict[int, list[int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            for r in tx.rows(f"SELECT task_id, depends_on_id FROM task_dependencies WHERE task_id IN ({marks})", chunk):
                edges.setdefault(int(r["task_id"]), []).append(int(r["depends_on_id"]))
        return edges

    def open_blockers(self, tx: Tx, task_id: int) -> list[dict[str, Any]]:
        if not self.present(tx):
            return []
        return tx.rows(
            "SELECT b.id, b.title, b.status FROM task_dependencies d JOIN tasks b ON b.id = d.depends_on_id "
            "WHERE d.task_id = %s AND b.status <> 'completed' ORDER BY b.id",
            [task_id],
        )

    # ---- priority and labels -----------------------------------------------------------------

    def set_priority(self, tx: Tx, task_id: int, priority: str) -> None:
        self.require(tx, "priority")
        rank = wo.PRIORITY_RANK[priority]
        tx.execute("DELETE FROM task_priorities WHERE task_id = %s", [task_id])
        if rank != wo.NORMAL_RANK:
            tx.execute("INSERT INTO task_priorities (task_id, priority) VALUES (%s, %s)", [task_id, rank])

    def set_labels(self, tx: Tx, task_id: int, labels: list[str]) -> None:
        self.require(tx, "labels")
        tx.execute("DELETE FROM task_labels WHERE task_id = %s", [task_id])
        for label in labels:
            tx.execute("INSERT INTO task_labels (task_id, label) VALUES (%s, %s)", [task_id, label])

    def attributes(self, tx: Tx, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Priority and labels of each task id (a page of a list, or one task)."""
        result = {i: {"priority": "normal", "labels": []} for i in ids}
        if not ids or not self.present(tx):
            return result
        marks = ", ".join(["%s"] * len(ids))
        for r in tx.rows(f"SELECT task_id, priority FROM task_priorities WHERE task_id IN ({marks})", ids):
            result[int(r["task_id"])]["priority"] = wo.RANK_PRIORITY.get(int(r["priority"]), "normal")
        for r in tx.rows(f"SELECT task_id, label FROM task_labels WHERE task_id IN ({marks}) ORDER BY label", ids):
            result[int(r["task_id"])]["labels"].append(r["label"])
        return result

    # ---- the ready queue ---------------------------------------------------------------------

    def list_filters(self, tx: Tx, priority: str | None, label: str | None, ready: bool | None) -> tuple[list[str], list[Any]]:
        """WHERE parts for tasks_list (the tasks table is unaliased there)."""
        where: list[str] = []
        params: list[Any] = []
        if priority is None and label is None and ready is None:
            return where, params
        self.require(tx, "Filtering by priority, label or ready")
        if priority is not None:
            rank = wo.PRIORITY_RANK[priority]
            if rank == wo.NORMAL_RANK:
                where.append("NOT " + NOT_NORMAL.format(t="tasks"))
            else:
                where.append("EXISTS (SELECT 1 FROM task_priorities p WHERE p.task_id = tasks.id AND p.priority = %s)")
                params.append(rank)
        if label is not None:
            where.append("EXISTS (SELECT 1 FROM task_labels l WHERE l.task_id = tasks.id AND l.label = %s)")
            params.append(label)
        if ready is not None:
            where.append("status = 'pending'")
            where.append(("NOT " if ready else "") + OPEN_BLOCKER.format(t="tasks"))
        return where, params

    def claim_passes(self, tx: Tx, base: str) -> list[tuple[str, str, str]]:
        """(FROM, WHERE, ORDER BY) of each pass a claim tries in turn: urgent, high, normal, low.

        `base` is the claim's WHERE over the unaliased tasks table (status, type, search...).
        Within a pass: earliest due date first (dated before undated), then oldest.
        """
        if not self.present(tx):
            return [
                ("tasks", f"{base} AND due_date IS NOT NULL", "due_date, created_at, id"),
                ("tasks", f"{base} AND due_date IS NULL", "created_at, id"),
            ]
        ready = "NOT " + OPEN_BLOCKER.format(t="tasks")
        passes: list[tuple[str, str, str]] = []
        for name in wo.CLAIM_PASSES:
            rank = wo.PRIORITY_RANK[name]
            if rank == wo.NORMAL_RANK:
                # The tasks index the claim has always walked; the two probes per row are primary-key reads.
                where = f"{base} AND NOT {NOT_NORMAL.format(t='tasks')} AND {ready}"
                passes.append(("tasks", f"{where} AND due_date IS NOT NULL", "due_date, created_at, id"))
                passes.append(("tasks", f"{where} AND due_date IS NULL", "created_at, id"))
            else:
                source = f"tasks JOIN task_priorities p ON p.task_id = tasks.id AND p.priority = {rank}"
                passes.append((source, f"{base} AND {ready}", "tasks.due_date IS NULL, tasks.due_date, tasks.created_at, tasks.id"))
        return passes

    def counts(self, tx: Tx, pending: int, open_total: int) -> dict[str, Any]:
        """tasks_statistics: pending tasks ready and blocked, and open tasks by priority."""
        if not self.present(tx):
            return {"ready": pending, "blocked": 0, "by_priority": {"normal": open_total}}
        blocked = int(tx.value(
            "SELECT COUNT(DISTINCT d.task_id) AS n FROM task_dependencies d JOIN tasks t ON t.id = d.task_id "
            "JOIN tasks b ON b.id = d.depends_on_id WHERE t.status = 'pending' AND b.status <> 'completed'"
        ) or 0)
        by_priority = {name: 0 for name in reversed(wo.PRIORITIES)}
        for r in tx.rows(
            "SELECT p.priority, COUNT(*) AS n FROM task_priorities p JOIN tasks t ON t.id = p.task_id "
            "WHERE t.status IN ('pending', 'in_progress') GROUP BY p.priority"
        ):
            by_priority[wo.RANK_PRIORITY.get(int(r["priority"]), "normal")] += int(r["n"])
        by_priority["normal"] = open_total - sum(v for k, v in by_priority.items() if k != "normal")
        return {"ready": pending - blocked, "blocked": blocked, "by_priority": by_priority}
