"""The order of work: priorities, labels and dependencies, as pure rules.

- Priority is stored sparsely: normal tasks have no row (a task the web app made is normal),
  the others store their rank. A claim serves urgent, high, normal, low in that order.
- Labels are short tags for grouping and filtering; compared exactly (case matters).
- A dependency "A depends on B" means A may start only when B is completed. Only
  `completed` clears a blocker: a failed blocker may still be retried, and a cancelled one
  means the work A needs was never done, so A stays blocked until someone removes the
  dependency (tasks_update depends_on) or cancels A as well. Unblocking silently would
  let an agent deploy what was never built. For the same reason a task that still blocks an
  open task (pending, in_progress or failed) cannot be deleted: the deletion would drop the
  dependency with it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from domain.errors import InvalidInput, NotFound, WorkflowError, shorten
from domain.models import ID_MAX

PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
RANK_PRIORITY = {rank: name for name, rank in PRIORITY_RANK.items()}
NORMAL_RANK = PRIORITY_RANK["normal"]

LABEL_MAX_CHARS = 50
LABELS_MAX = 20
DEPENDENCIES_MAX = 100
# C0, DEL and C1 (U+0080-U+009F: 8-bit CSI U+009B is a terminal escape as ESC [ is).
_LABEL = re.compile(r"^[^\s,\x00-\x1f\x7f-\x9f]+(?: [^\s,\x00-\x1f\x7f-\x9f]+)*$")


def normalise_labels(labels: Iterable[str] | None, name: str = "labels") -> list[str] | None:
    """Sorted, de-duplicated labels; None means 'not given', [] clears them."""
    if labels is None:
        return None
    result: set[str] = set()
    for label in labels:
        if not isinstance(label, str):
            raise InvalidInput(f"{name} must be a list of strings; {shorten(label)} is not one.")
        text = label.strip()
        if not text or len(text) > LABEL_MAX_CHARS or not _LABEL.match(text):
            raise InvalidInput(
                f"{name}: {shorten(label)} is not a usable label. A label is 1 to {LABEL_MAX_CHARS} characters, "
                "without commas, control characters or leading/trailing spaces, e.g. 'backend' or 'needs-review'."
            )
        result.add(text)
    if len(result) > LABELS_MAX:
        raise InvalidInput(f"{name} has {len(result)} labels; at most {LABELS_MAX} are allowed per task.")
    return sorted(result)


def normalise_dependencies(task_id: int | None, ids: Iterable[int] | None, name: str = "depends_on") -> list[int] | None:
    """Sorted, de-duplicated blocker ids; refuses the task itself. None means 'not given'."""
    if ids is None:
        return None
    result: set[int] = set()
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ID_MAX:
            raise InvalidInput(f"{name} must be a list of task ids (positive integers); {shorten(value)} is not one.")
        if value == task_id:
            raise InvalidInput(f"{name}: task {task_id} cannot depend on itself. Name the tasks that must finish before it.")
        result.add(value)
    if len(result) > DEPENDENCIES_MAX:
        raise InvalidInput(f"{name} has {len(result)} tasks; at most {DEPENDENCIES_MAX} are allowed.")
    return sorted(result)


def check_dependencies_exist(wanted: list[int], found: Iterable[int], name: str = "depends_on") -> None:
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise NotFound(
            f"{name}: task{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} "
            f"do{'' if len(missing) > 1 else 'es'} not exist; nothing was changed. Find ids with tasks_list."
        )


def find_dependency_cycle(
    task_id: int, blockers: list[int], blockers_of: Callable[[list[int]], dict[int, list[int]]],
) -> list[int] | None:
    """The path task → ... → task that the new edges task→blockers would close, or None.

    blockers_of(ids) returns, for each id, the tasks it depends on (one query per level of
    the graph). The search visits each task once, so it ends on any graph, cyclic or not.
    """
    came_from: dict[int, int] = {b: task_id for b in blockers}  # node -> the task that depends on it
    frontier = list(blockers)
    while frontier and task_id not in came_from:
        edges = blockers_of(frontier)
        next_frontier: list[int] = []
        for node in frontier:
            for blocker in edges.get(node, ()):
                if blocker not in came_from:
                    came_from[blocker] = node
                    next_frontier.append(blocker)
        frontier = next_frontier
    if task_id not in came_from:
        return None
    back = [task_id]  # walked backwards: task <- x <- ... <- first blocker <- task
    node = came_from[task_id]
    while node != task_id:
        back.append(node)
        node = came_from[node]
    back.append(task_id)
    return back[::-1]


def check_no_cycle(path: list[int] | None, name: str = "depends_on") -> None:
    if path:
        raise WorkflowError(
            f"{name} would make a cycle: {' → '.join(map(str, path))} (each depends on the next). "
            "Nothing was changed. Drop one of these dependencies."
        )


OPEN_DEPENDENT_STATUSES = ("pending", "in_progress", "failed")  # a dependent that may still start


def check_deletable_blocker(task_id: int, dependents: list[dict]) -> None:
    """Refuse to delete a task that an open task depends on, naming those tasks and the way out."""
    open_ = [d for d in dependents if d["status"] in OPEN_DEPENDENT_STATUSES]
    if not open_:
        return
    shown = ", ".join(f"{d['id']} ({d['status']}: {shorten(d['title'], 60)})" for d in open_[:10])
    more = f" and {len(open_) - 10} more" if len(open_) > 10 else ""
    first = open_[0]
    keep = ", ".join(map(str, first["other_blockers"]))
    raise WorkflowError(
        f"Task {task_id} cannot be deleted: task{'s' if len(open_) > 1 else ''} {shown}{more} "
        f"depend{'' if len(open_) > 1 else 's'} on it, and deleting it would unblock them silently. Nothing was deleted. "
        f"Remove the dependency first (e.g. tasks_update id={first['id']} depends_on=[{keep}]), "
        f"or cancel task {task_id} instead (a cancelled blocker still blocks)."
    )


def blocked_message(task_id: int, open_blockers: list[dict]) -> str:
    shown = ", ".join(f"{b['id']} ({b['status']}: {shorten(b['title'], 60)})" for b in open_blockers[:10])
    more = f" and {len(open_blockers) - 10} more" if len(open_blockers) > 10 else ""
    return (
        f"Task {task_id} is blocked: it depends on {shown}{more}, which must be completed first. "
        "Work on a blocker, take a ready task (tasks_claim, or tasks_list ready=true), or remove the "
        "dependency with tasks_update depends_on=[...]."
    )
