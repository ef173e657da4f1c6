"""SQL for the order of work: dependencies, priorities, labels and the ready queue.

The data lives in side tables (sql/*/0006.work-order.*) so the shared tables keep their
columns. Every function takes the caller's `Tx`, so each change lands in the caller's
transaction with the rest of the write and its history row.

- Ready: a pending task none of whose blockers is unfinished (only `completed` clears a
  blocker; validators/work_order.py says why).
- Priority rows exist only for tasks that are not normal; a claim serves urgent and high
  from that small table, normal from the tasks index it has always walked, then low.
- Graph changes (a parent, a dependency) first lock one row of task_graph_lock on MariaDB
  (on Galera by writing it: only writes are certified there),
  so two concurrent changes that each look acyclic alone cannot close a cycle together.
  SQLite serialises writers already (BEGIN IMMEDIATE).
"""
from __future__ import annotations

from typing import Any

from domain.errors import StorageError
from infrastructure.tx import Tx
from validators import work_order as wo
from infrastructure.command_name import init_db

# Tests on the task aliased `{t}`, written as scalar subqueries (`(...) IS NULL`) on purpose:
# MariaDB rewrites a correlated [NOT] EXISTS into IN and materialises it, reading every
# dependency row before the first task (a claim at 1M tasks with 200,000 dependencies: 30 ms
# to 3 s, a ready=true page 2.4 s); the scalar form probes two primary keys per task (0.8 ms,
# 4.4 ms; bench/RESULTS.md).
_OPEN_BLOCKER = (
    "(SELECT 1 FROM task_dependencies d JOIN tasks b ON b.id = d.depends_on_id "
    "WHERE d.task_id = {t}.id AND b.status <> 'completed' LIMIT 1)"
)
BLOCKED = _OPEN_BLOCKER + " IS NOT NULL"
UNBLOCKED = _OPEN_BLOCKER + " IS NULL"
PRIORITY_RANK_OF = "(SELECT p.priority FROM task_priorities p WHERE p.task_id = {t}.id)"  # NULL: normal
# The claim's normal pass: no queued priority row. A pending task whose row says not queued
# (another program moved it back to pending) is served as normal rather than never.
NOT_QUEUED = "(SELECT 1 FROM task_priorities p WHERE p.task_id = {t}.id AND p.queued = 1) IS NULL"
BLOCKED_COUNT_MAX_DEPENDENCIES = 5_000  # tasks_statistics counts blocked tasks up to this many dependency rows
DUE_SORT = "COALESCE(due_date, '9999-12-31 23:59:59')"  # dated tasks first, then undated
MAX_DEPTH = 10_000_000  # of a parent chain walk: beyond any real tree, below a runaway
LABEL_SEPARATOR = "\x1f"  # joins a task's labels in one column; a label holds no control character (validators)


class WorkOrder:
    """The work-order tables of one database; knows whether init-db has made them."""

    def __init__(self) -> None:
        self._present: bool | None = None

    def present(self, tx: Tx) -> bool:
        """A database the web app made but init-db never upgraded has no such tables: work without them."""
        if self._present is None:
            self._present = tx.has_table("task_dependencies")
        return self._present

    def require(self, tx: Tx, what: str) -> None:
        if not self.present(tx):
            raise StorageError(
                f"{what} needs the tables that `init-db` creates (task_dependencies, task_priorities, task_labels); "
                f"this database has not been upgraded. Run `{init_db()}` once, then try again.",
                retryable=False,
            )

    # ---- graph -------------------------------------------------------------------------------

    @staticmethod
    def lock_graph(tx: Tx) -> None:
        """Call first in the transaction, before any plain read (see update_task).

        On Galera a row lock binds only its own node and a SELECT is never certified, so
        the lock is a write there (sql/mariadb/0011.galera.py): two graph changes through
        two nodes both write the row, certification refuses the later one (1213) and
        Database.write runs it again, when its cycle check sees the first."""
        if tx.galera:
            tx.execute("UPDATE task_graph_lock SET changes = changes + 1 WHERE id = 1")
        elif tx.dialect == "mysql":
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
            walk = (
                f"SET STATEMENT max_recursive_iterations = {MAX_DEPTH} FOR {walk}" if tx.mariadb
                else walk.replace("SELECT id FROM up", f"SELECT /*+ SET_VAR(cte_max_recursion_depth = {MAX_DEPTH}) */ id FROM up")
            )
        return [int(r["id"]) for r in tx.rows(walk, [task_id])]

    def set_dependencies(self, tx: Tx, task_id: int, blockers: list[int]) -> None:
        """Replace the task's blockers (rows that stay keep their created_at); refuses unknown ids
        and cycles. The caller has taken lock_graph first (a new task blocks nothing: it needs no lock)."""
        self.require(tx, "depends_on")
        if blockers:
            marks = ", ".join(["%s"] * len(blockers))
            found = [int(r["id"]) for r in tx.rows(f"SELECT id FROM tasks WHERE id IN ({marks})", blockers)]
            wo.check_dependencies_exist(blockers, found)
            wo.check_no_cycle(wo.find_dependency_cycle(task_id, blockers, lambda ids: self._blockers_of(tx, ids)))
        before = {int(r["depends_on_id"]) for r in tx.rows("SELECT depends_on_id FROM task_dependencies WHERE task_id = %s", [task_id])}
        removed = sorted(before - set(blockers))
        if removed:
            marks = ", ".join(["%s"] * len(removed))
            tx.execute(f"DELETE FROM task_dependencies WHERE task_id = %s AND depends_on_id IN ({marks})", [task_id, *removed])
        for blocker in sorted(set(blockers) - before):
            tx.execute(
                f"INSERT INTO task_dependencies (task_id, depends_on_id, created_at) VALUES (%s, %s, {tx.now})", [task_id, blocker]
            )

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

    def dependents(self, tx: Tx, task_id: int) -> list[dict[str, Any]]:
        """The tasks that depend on task_id (id, title, status), each with its other blockers."""
        if not self.present(tx):
            return []
        rows = tx.rows(
            "SELECT t.id, t.title, t.status FROM task_dependencies d JOIN tasks t ON t.id = d.task_id "
            "WHERE d.depends_on_id = %s ORDER BY t.id",
            [task_id],
        )
        others = self._blockers_of(tx, [int(r["id"]) for r in rows])
        return [{**r, "other_blockers": sorted(b for b in others.get(int(r["id"]), ()) if b != task_id)} for r in rows]

    # ---- priority and labels -----------------------------------------------------------------

    def set_priority(self, tx: Tx, task_id: int, priority: str) -> None:
        self.require(tx, "priority")
        rank = wo.PRIORITY_RANK[priority]
        tx.execute("DELETE FROM task_priorities WHERE task_id = %s", [task_id])
        if rank != wo.NORMAL_RANK:
            tx.execute(
                "INSERT INTO task_priorities (task_id, priority, queued, due_sort, created_at) "
                f"SELECT id, %s, status = 'pending', {DUE_SORT}, created_at FROM tasks WHERE id = %s",
                [rank, task_id],
            )

    def sync_due(self, tx: Tx, task_id: int) -> None:
        """After the task's due_date changed: its priority row keeps the claim order."""
        if self.present(tx):
            tx.execute(
                f"UPDATE task_priorities SET due_sort = (SELECT {DUE_SORT} FROM tasks WHERE id = %s) WHERE task_id = %s",
                [task_id, task_id],
            )

    def set_queued(self, tx: Tx, task_id: int, pending: bool) -> None:
        """Every status change the server makes into or out of pending keeps `queued` in step."""
        if self.present(tx):
            tx.execute("UPDATE task_priorities SET queued = %s WHERE task_id = %s", [int(pending), task_id])

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
        # One round trip for both: a priority row has no label, a label row no priority.
        marks = ", ".join(["%s"] * len(ids))
        rows = tx.rows(
            f"SELECT task_id, priority, NULL AS label FROM task_priorities WHERE task_id IN ({marks}) "
            f"UNION ALL SELECT task_id, NULL, label FROM task_labels WHERE task_id IN ({marks})",
            [*ids, *ids],
        )
        for r in rows:
            if r["label"] is None:
                result[int(r["task_id"])]["priority"] = wo.RANK_PRIORITY.get(int(r["priority"]), "normal")
            else:
                result[int(r["task_id"])]["labels"].append(r["label"])
        for attributes in result.values():
            attributes["labels"].sort()
        return result

    def attribute_columns(self, tx: Tx, t: str = "tasks") -> str:
        """Columns priority_rank and labels_joined of the task aliased `t`: its attributes read in
        the statement that reads the task (a claim's read-back), instead of one more round trip."""
        if not self.present(tx):
            return "NULL AS priority_rank, NULL AS labels_joined"
        joined = f"GROUP_CONCAT(l.label SEPARATOR '{LABEL_SEPARATOR}')" if tx.dialect == "mysql" else "group_concat(l.label, char(31))"
        return (
            f"(SELECT p.priority FROM task_priorities p WHERE p.task_id = {t}.id) AS priority_rank, "
            f"(SELECT {joined} FROM task_labels l WHERE l.task_id = {t}.id) AS labels_joined"
        )

    @staticmethod
    def attributes_of(row: dict[str, Any]) -> dict[str, Any]:
        """Take attribute_columns out of a row: {"priority", "labels"} as attributes() gives them."""
        rank, joined = row.pop("priority_rank"), row.pop("labels_joined")
        return {
            "priority": wo.RANK_PRIORITY.get(int(rank), "normal") if rank is not None else "normal",
            "labels": sorted(joined.split(LABEL_SEPARATOR)) if joined else [],
        }

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
                where.append(PRIORITY_RANK_OF.format(t="tasks") + " IS NULL")
            else:
                where.append(PRIORITY_RANK_OF.format(t="tasks") + " = %s")
                params.append(rank)
        if label is not None:
            where.append("EXISTS (SELECT 1 FROM task_labels l WHERE l.task_id = tasks.id AND l.label = %s)")
            params.append(label)
        if ready is not None:
            where.append("status = 'pending'")
            where.append((UNBLOCKED if ready else BLOCKED).format(t="tasks"))
        return where, params

    QUEUED_RANKS = tuple(wo.PRIORITY_RANK[name] for name in ("urgent", "high", "low"))

    def queued_columns(self, tx: Tx) -> str:
        """Columns queued_<rank> (1 or 0) of a claim's first statement: whether any task waits in
        the urgent, high or low queue at all (one index probe each), so a claim skips the passes
        of empty queues: usually all three, two or three round trips."""
        if not self.present(tx):
            return ", ".join(f"0 AS queued_{rank}" for rank in self.QUEUED_RANKS)
        return ", ".join(
            f"EXISTS (SELECT 1 FROM task_priorities WHERE queued = 1 AND priority = {rank}) AS queued_{rank}"
            for rank in self.QUEUED_RANKS
        )

    def claim_passes(self, tx: Tx, base: str, queued_ranks: set[int] | None = None) -> list[tuple[str, str, str]]:
        """(FROM, WHERE, ORDER BY) of each pass a claim tries in turn: urgent and high, normal, low.

        `base` is the claim's WHERE over the unaliased tasks table (status, type, search...).
        Within a pass: earliest due date first (dated before undated), then oldest.
        `queued_ranks`: the priority queues that hold a task (queued_columns); None: all of them.
        """
        if not self.present(tx):
            return [
                ("tasks", f"{base} AND due_date IS NOT NULL", "due_date, created_at, id"),
                ("tasks", f"{base} AND due_date IS NULL", "created_at, id"),
            ]
        ready = UNBLOCKED.format(t="tasks")
        normal = f"{base} AND {NOT_QUEUED.format(t='tasks')} AND {ready}"
        def queued(name: str) -> tuple[str, str, str]:
            # idx_priority_queue in claim order: the walk stops at the first ready tasks
            rank = wo.PRIORITY_RANK[name]
            source = f"tasks JOIN task_priorities p ON p.task_id = tasks.id AND p.queued = 1 AND p.priority = {rank}"
            return source, f"{base} AND {ready}", "p.due_sort, p.created_at, p.task_id"

        def wanted(name: str) -> bool:
            return queued_ranks is None or wo.PRIORITY_RANK[name] in queued_ranks

        return [
            *([queued("urgent")] if wanted("urgent") else []),
            *([queued("high")] if wanted("high") else []),
            # normal: the tasks index the claim has always walked; the two probes per row are key reads
            ("tasks", f"{normal} AND due_date IS NOT NULL", "due_date, created_at, id"),
            ("tasks", f"{normal} AND due_date IS NULL", "created_at, id"),
            *([queued("low")] if wanted("low") else []),
        ]

    def counts(self, tx: Tx, pending: int) -> dict[str, Any]:
        """tasks_statistics: pending tasks ready and blocked, and pending tasks by priority.

        By priority is an index-only count of queued rows. Blocked costs two key reads per
        dependency row, so it is counted only up to BLOCKED_COUNT_MAX_DEPENDENCIES rows (about
        10 ms); past that, ready and blocked are null rather than slowing every statistics
        call down (200,000 dependencies at 1M tasks: 2.5 s). A time limit would not do:
        MariaDB's statement timer fires several times late.
        """
        if not self.present(tx):
            return {"ready": pending, "blocked": 0, "by_priority": {"normal": pending}}
        blocked = None
        too_many = tx.value("SELECT 1 AS x FROM task_dependencies LIMIT 1 OFFSET %s", [BLOCKED_COUNT_MAX_DEPENDENCIES])
        if too_many is None:
            blocked = int(tx.value(
                "SELECT COUNT(DISTINCT d.task_id) AS n FROM task_dependencies d JOIN tasks t ON t.id = d.task_id "
                "JOIN tasks b ON b.id = d.depends_on_id WHERE t.status = 'pending' AND b.status <> 'completed'"
            ) or 0)
        by_priority = {name: 0 for name in reversed(wo.PRIORITIES)}
        for r in tx.rows("SELECT priority, COUNT(*) AS n FROM task_priorities WHERE queued = 1 GROUP BY priority"):
            by_priority[wo.RANK_PRIORITY.get(int(r["priority"]), "normal")] += int(r["n"])
        by_priority["normal"] = max(0, pending - sum(v for k, v in by_priority.items() if k != "normal"))
        return {"ready": pending - blocked if blocked is not None else None, "blocked": blocked, "by_priority": by_priority}
