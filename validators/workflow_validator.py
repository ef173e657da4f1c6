"""The task workflow (DESIGN.md §3) as pure functions that raise WorkflowError.

The repository calls these with the rows it has read inside its transaction, then makes
the change compare-and-set in SQL, so a rule checked here cannot be raced past.
"""
from __future__ import annotations

from typing import Iterable

from domain.errors import Conflict, InvalidInput, WorkflowError
from domain.models import FINAL_STATUSES, OPEN_STATUSES, ExecutorType, TaskStatus, TaskType

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset(
        {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.PENDING}
    ),
    TaskStatus.FAILED: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}

ALLOWED_ASSIGNEES: dict[TaskType, frozenset[ExecutorType]] = {
    TaskType.HUMAN_TASK: frozenset({ExecutorType.HUMAN}),
    TaskType.AI_TASK: frozenset({ExecutorType.OLLAMA, ExecutorType.CLAUDE, ExecutorType.ANTHROPIC_API}),
    TaskType.MIXED: frozenset(ExecutorType),
}


def _names(values: Iterable[object]) -> str:
    return ", ".join(sorted(str(getattr(v, "value", v)) for v in values))


def follow_up_hint(task_id: int) -> str:
    return f"To redo the work create a follow-up task with parent_task_id={task_id}."


def check_transition(task_id: int, current: TaskStatus, target: TaskStatus, holder: str | None = None) -> None:
    """Refuse a status change the workflow does not allow, saying what is allowed next."""
    if current == target:
        who = f" (held by {holder})" if holder and current == TaskStatus.IN_PROGRESS else ""
        raise Conflict(
            f"Task {task_id} is already {current.value}{who}; nothing was changed. "
            + (
                "Another agent has taken it: pick another task (tasks_list status=pending)."
                if current == TaskStatus.IN_PROGRESS
                else f"Allowed next: {_names(TRANSITIONS[current]) or 'nothing'}."
            )
        )
    if current in FINAL_STATUSES:
        raise WorkflowError(f"Task {task_id} is {current.value}; {current.value} is final. {follow_up_hint(task_id)}")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise WorkflowError(
            f"Task {task_id} is {current.value} and cannot become {target.value}. "
            f"Allowed from {current.value}: {_names(allowed)}."
        )


def check_children_allow_completion(task_id: int, open_children: list[dict]) -> None:
    """A parent cannot complete while a child is pending, in_progress or failed."""
    if open_children:
        listed = ", ".join(f"{c['id']} ({c['status']})" for c in open_children[:10])
        more = f" and {len(open_children) - 10} more" if len(open_children) > 10 else ""
        raise WorkflowError(
            f"Task {task_id} cannot be completed while subtasks are open: {listed}{more}. "
            "Complete or cancel them first."
        )


def check_open_for(task_id: int, status: TaskStatus, action: str) -> None:
    """Assignments and edits of content need an open (or failed, for edits) task."""
    if status in FINAL_STATUSES:
        raise WorkflowError(f"Task {task_id} is {status.value}; {status.value} is final, so it cannot be {action}. {follow_up_hint(task_id)}")


def check_assignable(task_id: int, status: TaskStatus, task_type: TaskType, assignee_type: ExecutorType) -> None:
    if status not in OPEN_STATUSES:
        hint = (
            "Set it back to pending first (tasks_status status=pending)."
            if status == TaskStatus.FAILED
            else follow_up_hint(task_id)
        )
        raise WorkflowError(f"Task {task_id} is {status.value}; only pending or in_progress tasks can be assigned. {hint}")
    allowed = ALLOWED_ASSIGNEES[task_type]
    if assignee_type not in allowed:
        raise InvalidInput(
            f"assignee_type={assignee_type.value!r} cannot take task {task_id}, a {task_type.value}. "
            f"Allowed for a {task_type.value}: {_names(allowed)}. Change the task's type with tasks_update if needed."
        )


def check_parent(task_id: int | None, parent: dict | None, parent_id: int, ancestors_of_parent: list[int]) -> None:
    """The parent must exist, not be the task itself, not be final, and not create a cycle."""
    if task_id is not None and parent_id == task_id:
        raise InvalidInput(f"parent_task_id={parent_id} is the task itself. Give another task's id, or leave it out.")
    if parent is None:
        raise InvalidInput(f"parent_task_id={parent_id} names no task. Check the id with tasks_list or tasks_get.")
    status = TaskStatus(parent["status"])
    if status in FINAL_STATUSES:
        raise WorkflowError(
            f"parent_task_id={parent_id} is {status.value}; a final task takes no new subtasks. "
            "Choose an open parent, or leave parent_task_id out."
        )
    if task_id is not None and task_id in ancestors_of_parent:
        raise InvalidInput(
            f"parent_task_id={parent_id} would make a cycle: task {parent_id} is already below task {task_id}."
        )
