"""Leases and claims: a task in_progress is held by one holder until its lease runs out. Take,
drop and renew a lease, say who holds a task, return expired claims to pending (the reaper,
run by every claim), and tasks_claim itself.

Belongs here: who may work a task and until when, and how the next task is handed out.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from domain.errors import InvalidInput
from domain.models import ActorType, CommentType, ExecutorType, TaskStatus, TaskType
from infrastructure.database import Tx
from infrastructure.repository.base import TASK_COLUMNS, RepositoryBase, _task, _text_time
from validators import workflow_validator as wf

log = logging.getLogger("infrastructure.task_repository")  # the logger's name before the split


class LeasesMixin(RepositoryBase):
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
