"""What people do on the board, each through the repository methods and argument rules the
tools use (validators/input_rules.py), with the person as the actor (author_type human).

Each action is one repository call, so one transaction: it lands whole or refuses with a
domain error and writes nothing. Taking a task (in_progress + an assignment to the person)
and sending one back (pending + the reason) use set_status's take_as and comment.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from domain.errors import InvalidInput, WorkflowError
from domain.models import ID_MAX, ActorType, ExecutorType, TaskStatus, TaskType
from validators.input_rules import text_bytes, title
from validators import work_order as wo
from validators.arguments import parse_due_date
from web.pages import PRIORITIES, TYPES, waits_for_review

HUMAN = ActorType.HUMAN
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also takes "²" and "٣", which int() refuses or reads


def ascii_number(text: str | None, maximum: int) -> int | None:
    """A whole number from 0 to maximum written in ASCII digits; None for anything else."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(f"{name}={value[:40]!r} is not one of {', '.join(allowed)}.")
    return value


def _text(query: Mapping[str, str], name: str, limit: int) -> str | None:
    value = (query.get(name) or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is {len(value)} characters; at most {limit} are allowed.")
    return value or None


def parse_filters(query: Mapping[str, str]) -> dict[str, Any]:
    """The board's filters, checked as tasks_list checks its parameters."""
    ready = _choice(query, "ready", ("ready", "blocked"))
    offset_text = (query.get("offset") or "0").strip()
    offset = ascii_number(offset_text, 10_000_000)
    if offset is None:
        raise InvalidInput(f"offset={offset_text[:20]!r} is not a number from 0 to 10000000.")
    return {
        "search": _text(query, "search", 200), "type": _choice(query, "type", TYPES),
        "priority": _choice(query, "priority", PRIORITIES), "label": _text(query, "label", 50),
        "assignee": _text(query, "assignee", 100), "ready": None if ready is None else ready == "ready",
        "status": _choice(query, "status", ("pending", "in_progress", "completed", "failed", "cancelled")),
        "offset": offset,
    }


def parse_list_offsets(query: Mapping[str, str], params: Mapping[str, str]) -> dict[str, int]:
    """Where each list of the task page starts (results_from=20, ...): list name → offset."""
    offsets = {}
    for name, param in params.items():
        text = (query.get(param) or "").strip()
        if text:
            offset = ascii_number(text, 10_000_000)
            if offset is None:
                raise InvalidInput(f"{param}={text[:20]!r} is not a number from 0 to 10000000.")
            offsets[name] = offset
    return offsets


def _content(form: Mapping[str, str], what: str) -> str:
    content = (form.get("content") or "").strip()
    if not content:
        raise InvalidInput(f"The {what} is empty. Write what you want to say, then send it again.")
    return text_bytes("content", content)


def _task_id(text: str | None, name: str) -> int | None:
    text = (text or "").strip().lstrip("#")
    if not text:
        return None
    number = ascii_number(text, ID_MAX)
    if not number:
        raise InvalidInput(f"{name}={text[:30]!r} is not a task id. Give the number of an open task, or leave it empty.")
    return number


def create(repository: Any, form: Mapping[str, str], who: str) -> dict[str, Any]:
    labels = [part for part in (form.get("labels") or "").split(",") if part.strip()]
    task_type = _choice(form, "type", TYPES) or "human_task"
    return repository.create_task(
        title=title(_text(form, "title", 255) or ""),
        description=text_bytes("description", (form.get("description") or "").strip() or None),
        type=TaskType(task_type),
        parent_task_id=_task_id(form.get("parent_task_id"), "parent_task_id"),
        due_date=parse_due_date(form.get("due_date") or None),
        metadata=None,
        created_by=who,
        created_by_type=HUMAN,
        priority=_choice(form, "priority", PRIORITIES),
        labels=wo.normalise_labels(labels) if labels else None,
        depends_on=None,
    )


def comment(repository: Any, task_id: int, form: Mapping[str, str], who: str) -> str:
    repository.add_comment(task_id, content=_content(form, "comment"), author=who, author_type=HUMAN, comment_type="comment")
    return "commented"


def take(repository: Any, task_id: int, form: Mapping[str, str], who: str) -> str:
    """Assign to me and move to in_progress (under my lease), as tasks_status + tasks_assign do."""
    task = repository.board_task(task_id)
    status = TaskStatus(task["status"])
    if status != TaskStatus.PENDING:
        raise WorkflowError(f"Task {task_id} is {status.value}; only a pending task can be taken. Nothing was changed.")
    # One transaction: the move and the assignment land together or not at all.
    repository.set_status(task_id, TaskStatus.IN_PROGRESS, actor=who, actor_type=HUMAN,
                          expected_updated_at=form.get("updated_at") or None, take_as=ExecutorType.HUMAN)
    return "taken"


def _reviewable(repository: Any, task_id: int) -> None:
    task = repository.board_task(task_id)
    if not waits_for_review(task):
        what = "has no result yet" if task["status"] == "in_progress" else f"is {task['status'].replace('_', ' ')}"
        raise WorkflowError(
            f"Task {task_id} does not wait for review: it {what}. Only a task in progress with a result can be "
            "approved or sent back. Nothing was changed."
        )


def approve(repository: Any, task_id: int, form: Mapping[str, str], who: str) -> str:
    _reviewable(repository, task_id)
    repository.set_status(task_id, TaskStatus.COMPLETED, actor=who, actor_type=HUMAN,
                          expected_updated_at=form.get("updated_at") or None, review="approved")
    return "approved"


def send_back(repository: Any, task_id: int, form: Mapping[str, str], who: str) -> str:
    content = _content(form, "reason for sending it back")
    _reviewable(repository, task_id)
    # One transaction: the task goes back to pending with the reason, or stays as it was.
    repository.set_status(task_id, TaskStatus.PENDING, actor=who, actor_type=HUMAN,
                          expected_updated_at=form.get("updated_at") or None,
                          comment=text_bytes("content", f"Sent back: {content}"), review="sent_back")
    return "sent_back"


ACTIONS: dict[str, Callable[[Any, int, Mapping[str, str], str], str]] = {
    "comment": comment, "take": take, "approve": approve, "send-back": send_back,
}
