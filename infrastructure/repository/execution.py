"""Execution: tasks_execute's two transactions around a model run. start_execution takes the
task for the model (assignment, in_progress, lease); finish_execution stores the result and
settles the assignment and the task.

Belongs here: the repository side of running a task on a model.
"""
from __future__ import annotations

from typing import Any

from domain.errors import Conflict, NotFound, WorkflowError
from domain.models import FINAL_STATUSES, ActorType, CommentType, ExecutorType, ResultStatus, TaskStatus, TaskType
from infrastructure.tx import Tx
from infrastructure.repository.base import RepositoryBase, _db_time, _task
from validators import workflow_validator as wf


class ExecutionMixin(RepositoryBase):
    def start_execution(
        self, task_id: int, *, model: str, actor: str, actor_type: ActorType,
    ) -> dict[str, Any]:
        """Take the task for a model run: refuse what may not run, assign the model, in_progress, lease."""

        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id, lock=True)
            if row["status"] == "in_progress":
                # Another agent's live lease stands: running the model would overwrite and then
                # drop it, leaving the task in_progress with nobody holding it.
                self._check_not_held_by_other(tx, task_id, actor, "running it on a model", None)
                if self._reap_one(tx, task_id):
                    row = self._task_row(tx, task_id)
            status, task_type = TaskStatus(row["status"]), TaskType(row["type"])
            if status == TaskStatus.PENDING:
                self._check_unblocked(tx, task_id)
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
                "started_at": _db_time(tx.value(f"SELECT {tx.now} AS t")),  # bound again as request_timestamp
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
