"""The workflow rules as pure functions: no database needed."""
import pytest

from domain.errors import Conflict, InvalidInput, WorkflowError
from domain.models import ExecutorType, TaskStatus, TaskType
from validators import workflow_validator as wf

S = TaskStatus
ALLOWED = {
    (S.PENDING, S.IN_PROGRESS), (S.PENDING, S.CANCELLED),
    (S.IN_PROGRESS, S.COMPLETED), (S.IN_PROGRESS, S.FAILED), (S.IN_PROGRESS, S.CANCELLED), (S.IN_PROGRESS, S.PENDING),
    (S.FAILED, S.PENDING), (S.FAILED, S.CANCELLED),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_only_the_designed_transitions_are_allowed(current, target):
    if (current, target) in ALLOWED:
        wf.check_transition(1, current, target)
    elif current == target:
        with pytest.raises(Conflict, match=f"already {current.value}"):
            wf.check_transition(1, current, target)
    else:
        with pytest.raises(WorkflowError):
            wf.check_transition(1, current, target)


def test_final_status_refusal_suggests_a_follow_up_task():
    with pytest.raises(WorkflowError, match="completed is final.*parent_task_id=42"):
        wf.check_transition(42, S.COMPLETED, S.PENDING)


def test_refusal_lists_what_is_allowed_next():
    with pytest.raises(WorkflowError, match="Allowed from pending: cancelled, in_progress"):
        wf.check_transition(7, S.PENDING, S.COMPLETED)


def test_losing_a_race_names_the_holder():
    with pytest.raises(Conflict, match="held by claude-2"):
        wf.check_transition(7, S.IN_PROGRESS, S.IN_PROGRESS, holder="claude-2")


def test_parent_cannot_complete_while_a_child_is_open():
    with pytest.raises(WorkflowError, match="3 \\(failed\\)"):
        wf.check_children_allow_completion(1, [{"id": 3, "status": "failed"}])
    wf.check_children_allow_completion(1, [])


@pytest.mark.parametrize(
    "task_type, allowed",
    [
        (TaskType.HUMAN_TASK, {ExecutorType.HUMAN}),
        (TaskType.AI_TASK, {ExecutorType.OLLAMA, ExecutorType.CLAUDE, ExecutorType.ANTHROPIC_API}),
        (TaskType.MIXED, set(ExecutorType)),
    ],
)
def test_who_may_be_assigned_follows_the_task_type(task_type, allowed):
    for assignee in ExecutorType:
        if assignee in allowed:
            wf.check_assignable(1, S.PENDING, task_type, assignee)
        else:
            with pytest.raises(InvalidInput, match=task_type.value):
                wf.check_assignable(1, S.PENDING, task_type, assignee)


@pytest.mark.parametrize("status", [S.COMPLETED, S.CANCELLED, S.FAILED])
def test_only_open_tasks_can_be_assigned(status):
    with pytest.raises(WorkflowError, match="only pending or in_progress"):
        wf.check_assignable(1, status, TaskType.MIXED, ExecutorType.CLAUDE)


def test_parent_rules():
    with pytest.raises(InvalidInput, match="itself"):
        wf.check_parent(5, {"id": 5, "status": "pending"}, 5, [])
    with pytest.raises(InvalidInput, match="names no task"):
        wf.check_parent(None, None, 9, [])
    with pytest.raises(WorkflowError, match="final"):
        wf.check_parent(None, {"id": 9, "status": "cancelled"}, 9, [])
    with pytest.raises(InvalidInput, match="cycle"):
        wf.check_parent(5, {"id": 9, "status": "pending"}, 9, [9, 7, 5])
    wf.check_parent(5, {"id": 9, "status": "in_progress"}, 9, [9, 7])
