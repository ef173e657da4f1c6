"""Writes: create, update, status moves (compare-and-set, with history and the lease kept in
step), assign, record a result, delete, comment, and the workflow checks on the database
(completion, quality gate, expected_updated_at, parent chain).

Belongs here: a change to a task that a tool asks for. Claims and leases are in leases.py,
model runs in execution.py.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from domain.errors import Conflict, WorkflowError
from validators import work_order as wo
from domain.models import FINAL_STATUSES, ActorType, CommentType, ExecutorType, ResultStatus, TaskStatus, TaskType
from infrastructure.tx import Tx
from infrastructure.repository.base import RepositoryBase, _json, _normalise, _task, _text_time
from validators import workflow_validator as wf

NOTES_KEEP_CHARS = 16_000  # of an assignment's notes when a note is appended: 16,000 × 4 bytes + the note fit 65,535
NOTES_SUFFIX_CHARS = 200


def _order_note(order: dict[str, Any]) -> str:
    parts = []
    if "priority" in order:
        parts.append(f"priority {order['priority']}")
    if "labels" in order:
        parts.append("labels " + (", ".join(order["labels"]) or "cleared"))
    if "depends_on" in order:
        parts.append("depends on " + (", ".join(map(str, order["depends_on"])) or "nothing"))
    return "; ".join(parts)


class WritesMixin(RepositoryBase):
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
        priority: str | None = None,
        labels: list[str] | None = None,
        depends_on: list[int] | None = None,
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
            order = self._set_order(tx, task_id, priority, labels, depends_on)
            if order:
                self._history(tx, task_id, created_by, created_by_type, CommentType.UPDATE, _order_note(order), order)
            return self._task_with_order(tx, task_id)

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
        """fields: title, description, type, due_date (None clears), metadata, parent_task_id,
        and the order of work: priority, labels, depends_on (each replaces what was there)."""
        fields = dict(fields)
        order_fields = {k: fields.pop(k) for k in ("priority", "labels", "depends_on") if k in fields}

        def run(tx: Tx) -> dict[str, Any]:
            if fields.get("parent_task_id") is not None or "depends_on" in order_fields:
                # First, before any read: InnoDB's snapshot starts at the first plain read, and the
                # cycle check must see every graph change that committed before this one got the lock.
                self.work.lock_graph(tx)
            row = self._task_row(tx, task_id, lock=True)
            self._check_expected(tx, task_id, row, expected_updated_at)
            status = TaskStatus(row["status"])
            wf.check_open_for(task_id, status, "edited")
            self._holder_speaks(tx, task_id, actor, actor_type)
            if "parent_task_id" in fields and fields["parent_task_id"] is not None:
                pid = fields["parent_task_id"]
                parent = self._locked_status(tx, pid)
                wf.check_parent(task_id, parent, pid, self.work.ancestors(tx, pid) if parent else [])
            order = self._set_order(tx, task_id, **order_fields)
            values: dict[str, Any] = {}
            for key, value in fields.items():
                if key == "type":
                    value = value.value
                elif key == "due_date":
                    value = value.isoformat(sep=" ") if value is not None else None
                elif key == "metadata":
                    value = json.dumps(value, ensure_ascii=False) if value is not None else None
                values[key] = value
            assignments = "".join(f"{column} = %s, " for column in values)  # column names are ours, never input
            tx.execute(
                f"UPDATE tasks SET {assignments}{tx.touch} WHERE id = %s",
                [*values.values(), task_id],
            )
            if "due_date" in values:
                self.work.sync_due(tx, task_id)
            changed = sorted([*values, *order_fields])
            note = f"Updated: {', '.join(changed)}" + (f"; {_order_note(order)}" if order else "")
            self._history(tx, task_id, actor, actor_type, CommentType.UPDATE, note, {"fields": changed, **order})
            return self._task_with_order(tx, task_id)

        return self.db.write(run)

    def set_status(
        self,
        task_id: int,
        target: TaskStatus,
        *,
        actor: str,
        actor_type: ActorType,
        expected_updated_at: str | None = None,
        session: str | None = None,
        take_as: ExecutorType | None = None,
        comment: str | None = None,
        cancel_held: bool = True,
        review: str | None = None,
    ) -> dict[str, Any]:
        """Move a task along the workflow. In the same transaction, so that a person's one
        action on the board is one change or none: `take_as` assigns the task to the actor
        (moving it to in_progress: "take"), and `comment` adds the actor's comment after the
        move (sending a task back with what should change). `cancel_held=False`: a cancel of a
        task another agent holds is refused (the caller lacks tasks:review). `review`
        ("approved", "sent_back") is a person's decision over the holder's lease (review.py)."""

        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            self._check_expected(tx, task_id, row, expected_updated_at)
            current = TaskStatus(row["status"])
            if review is None and target != TaskStatus.IN_PROGRESS and current in (TaskStatus.PENDING, TaskStatus.COMPLETED):
                self._check_review_ended(tx, task_id, actor)
            # No reaping here: a lease that ran out only ends when someone else takes the task,
            # so the holder can still finish, and a refusal never hides a take-back (tasks_get agrees).
            if current == TaskStatus.PENDING and target in (TaskStatus.COMPLETED, TaskStatus.FAILED):
                if self._resume(tx, task_id, actor, actor_type):
                    current = TaskStatus.IN_PROGRESS
            elif current == TaskStatus.IN_PROGRESS and target == TaskStatus.IN_PROGRESS:
                # Taking over a task whose holder's lease ran out: the take-back and the take land together.
                lease = self._lease(tx, task_id)
                if lease and lease["expired"] and actor not in self._names(lease) and self._reap_one(tx, task_id):
                    current = TaskStatus(self._task_row(tx, task_id)["status"])
            elif current == TaskStatus.IN_PROGRESS and target != TaskStatus.CANCELLED and review is None:  # these override
                self._check_not_held_by_other(tx, task_id, actor, f"moving it to {target.value}", "updated_by")
            elif current == TaskStatus.IN_PROGRESS and target == TaskStatus.CANCELLED and not cancel_held:  # ... for a reviewer
                self._check_not_held_by_other(tx, task_id, actor, "cancelling it", "updated_by", needs="tasks:review")
            note, extra = self._review_note(tx, task_id, review, actor, comment) if review else ("", None)
            self._renew_lease(tx, task_id, actor)
            wf.check_transition(task_id, current, target, self._holder(tx, task_id) if current == target else None)
            if target == TaskStatus.IN_PROGRESS:
                self._check_unblocked(tx, task_id)
            if target == TaskStatus.COMPLETED:
                self._check_completion(tx, task_id)
            assignment_id = None
            if take_as is not None:
                wf.check_assignable(task_id, current, TaskType(row["type"]), take_as)
                assignment_id = self._add_assignment(tx, task_id, actor, take_as, None, "taken", actor, actor_type)
            self._move(tx, task_id, current, target, actor, actor_type, assignment_id=assignment_id, session=session,
                       note=note, extra=extra)
            if comment is not None:
                self._history(tx, task_id, actor, actor_type, "comment", comment)
            return self._task_with_order(tx, task_id)

        return self.db.write(run)

    def _move(
        self, tx: Tx, task_id: int, current: TaskStatus, target: TaskStatus, actor: str, actor_type: ActorType,
        *, assignment_id: int | None = None, lease_seconds: int | None = None, note: str = "", session: str | None = None,
        extra: dict[str, Any] | None = None,
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
        if TaskStatus.PENDING in (current, target):
            self.work.set_queued(tx, task_id, target == TaskStatus.PENDING)
        if target == TaskStatus.COMPLETED:
            tx.execute(
                f"UPDATE task_assignments SET status = 'completed', completed_at = {tx.now} "
                "WHERE task_id = %s AND status IN ('pending', 'accepted', 'in_progress')",
                [task_id],
            )
        elif target in (TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED) and current == TaskStatus.IN_PROGRESS:
            # The holder gave the task back (or it ended without success): its assignment ends too.
            # The note is appended to what is there, cut first so the sum always fits the TEXT
            # column (65,535 bytes; 4 bytes a character at worst), whoever wrote the notes before.
            tx.execute(
                f"UPDATE task_assignments SET status = 'rejected', notes = CONCAT(LEFT(COALESCE(notes, ''), {NOTES_KEEP_CHARS}), %s) "
                "WHERE task_id = %s AND status IN ('pending', 'accepted', 'in_progress')"
                if tx.dialect == "mysql"
                else f"UPDATE task_assignments SET status = 'rejected', notes = substr(COALESCE(notes, ''), 1, {NOTES_KEEP_CHARS}) || %s "
                "WHERE task_id = %s AND status IN ('pending', 'accepted', 'in_progress')",
                [f"[{target.value} by {actor}]"[:NOTES_SUFFIX_CHARS], task_id],
            )
        if target == TaskStatus.IN_PROGRESS:
            self._take_lease(tx, task_id, actor, actor_type.value, assignment_id, lease_seconds, session)
        elif current == TaskStatus.IN_PROGRESS:
            self._drop_lease(tx, task_id)
        self._history(
            tx, task_id, actor, actor_type, CommentType.STATUS_CHANGE,
            f"Status: {current.value} → {target.value}{note}", {"from": current.value, "to": target.value, **(extra or {})},
        )

    def _check_completion(self, tx: Tx, task_id: int) -> None:
        """Open subtasks and a failed quality gate block completion."""
        children = tx.rows(
            "SELECT id, status FROM tasks WHERE parent_task_id = %s AND status IN ('pending', 'in_progress', 'failed') ORDER BY id",
            [task_id],
        )
        wf.check_children_allow_completion(task_id, children)
        if self.quality_gate:
            self._check_quality_gate(tx, task_id)

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
            self._holder_speaks(tx, task_id, assigned_by, assigned_by_type)
            assignment_id = self._add_assignment(tx, task_id, assignee, assignee_type, model_name, notes, assigned_by, assigned_by_type)
            tx.execute(f"UPDATE tasks SET {tx.touch} WHERE id = %s", [task_id])
            return _normalise(tx.row("SELECT * FROM task_assignments WHERE id = %s", [assignment_id]))

        return self.db.write(run)

    def _add_assignment(
        self, tx: Tx, task_id: int, assignee: str, assignee_type: ExecutorType, model_name: str | None,
        notes: str | None, assigned_by: str, assigned_by_type: ActorType,
    ) -> int:
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
        return assignment_id

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
            if row["status"] in ("pending", "completed"):
                self._check_review_ended(tx, task_id, executor)
            if TaskStatus(row["status"]) in FINAL_STATUSES:
                raise WorkflowError(
                    f"Task {task_id} is {row['status']}; {row['status']} is final, so it takes no new results. "
                    f"{wf.follow_up_hint(task_id)}"
                )
            self._holder_speaks(tx, task_id, executor, actor_type)
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
            if self.work.present(tx):  # (information_schema: no InnoDB snapshot before the lock)
                self.work.lock_graph(tx)  # no dependency on this task is added while it goes
            row = self._task_row(tx, task_id, lock=True)
            dependents = self.work.dependents(tx, task_id)
            wo.check_deletable_blocker(task_id, dependents)
            counts = {
                table: int(tx.value(f"SELECT COUNT(*) AS n FROM {table} WHERE task_id = %s", [task_id]))
                for table in ("task_assignments", "task_results", "task_comments")
            }
            children = [int(r["id"]) for r in tx.rows("SELECT id FROM tasks WHERE parent_task_id = %s ORDER BY id", [task_id])]
            for child in children:
                # ON DELETE SET NULL does this too; explicit so the children's history says why.
                tx.execute(f"UPDATE tasks SET parent_task_id = NULL, {tx.touch} WHERE id = %s", [child])
                self._history(tx, child, actor, actor_type, CommentType.UPDATE, f"Parent task {task_id} was deleted; now top-level", {"deleted_parent": task_id})
            for dependent in dependents:
                # Finished tasks only (check_deletable_blocker): the edge goes with the task, said in their history.
                self._history(
                    tx, int(dependent["id"]), actor, actor_type, CommentType.UPDATE,
                    f"Blocker task {task_id} was deleted; the dependency on it is gone", {"deleted_blocker": task_id},
                )
            tx.execute("DELETE FROM tasks WHERE id = %s", [task_id])
            self._record_change(tx, task_id, "deleted", actor)  # its history went with it; the feed row stays
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
            self._holder_speaks(tx, task_id, author, ActorType(author_type))
            comment_id = self._history(tx, task_id, author, ActorType(author_type), comment_type, content, metadata)
            row = tx.row("SELECT * FROM task_comments WHERE id = %s", [comment_id])
            return {**_normalise(row), "metadata": _json(row["metadata"])}

        return self.db.write(run)

    def _set_order(
        self, tx: Tx, task_id: int, priority: str | None = None, labels: list[str] | None = None,
        depends_on: list[int] | None = None,
    ) -> dict[str, Any]:
        """Store what was given of priority, labels and dependencies; what changed, for history."""
        order: dict[str, Any] = {}
        if priority is not None:
            self.work.set_priority(tx, task_id, priority)
            order["priority"] = priority
        if labels is not None:
            self.work.set_labels(tx, task_id, labels)
            order["labels"] = labels
        if depends_on is not None:
            self.work.set_dependencies(tx, task_id, depends_on)
            order["depends_on"] = depends_on
        return order

    def _task_with_order(self, tx: Tx, task_id: int) -> dict[str, Any]:
        """The task row as the write tools return it, with its priority and labels."""
        return {**_task(self._task_row(tx, task_id)), **self.work.attributes(tx, [task_id])[task_id]}

    def _check_unblocked(self, tx: Tx, task_id: int) -> None:
        blockers = self.work.open_blockers(tx, task_id)
        if blockers:
            raise WorkflowError(wo.blocked_message(task_id, blockers))
