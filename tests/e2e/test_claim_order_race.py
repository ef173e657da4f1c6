"""The claim order under load, with every filter tasks_claim takes: eight server processes,
each driven by its own MCP client over stdio, claim from one database until nothing is left.

For each filter (none, type, search, parent_task_id) the check is sound whatever the
interleaving: a claim that ended before another began must not have been given a worse task
(by priority, then due date, then age) than the later one got, since that better task was
free all through the first claim; and after a claim answered "no ready task matches", no
later claim may find one. Every matching ready task is claimed exactly once, nothing else.
"""
from __future__ import annotations

import time
from contextlib import AsyncExitStack
from datetime import datetime

import anyio
import pytest

from domain.models import ActorType, TaskStatus, TaskType
from infrastructure.database import Database
from infrastructure.task_repository import TaskRepository
from tests.conftest import server_env
from tests.support.mcp_stdio import stdio_session
from validators.work_order import PRIORITY_RANK

pytestmark = pytest.mark.anyio

AGENTS = 8
WORD = "quasar"  # the search round's word: rare, longer than 3 letters, no stopword


def seed_round(repo: TaskRepository, name: str) -> tuple[dict, list[int]]:
    """Tasks for one round: (the claim's filter, the ids that match it, in claim order)."""
    for t in repo.list_tasks(status="pending", limit=500)["tasks"]:  # the last round's leftovers leave the queue
        repo.set_status(t["id"], TaskStatus.CANCELLED, actor="seed", actor_type=ActorType.AI)
    parent = None
    if name == "parent_task_id":
        parent = make(repo, "the parent", TaskType.AI_TASK, "normal", None, None)
        # Taken, so that no round hands it out; its children stay claimable.
        repo.set_status(parent, TaskStatus.IN_PROGRESS, actor="seed", actor_type=ActorType.AI)
    matching: list[tuple[tuple, int]] = []
    for i in range(48):
        priority = ("urgent", "high", "normal", "low")[i % 4]
        due = datetime(2027, 1, 1 + i % 5) if i % 3 == 0 else None
        matches = name == "none" or i % 6 != 5  # one in six does not match the round's filter
        kind, title, child_of = TaskType.AI_TASK, f"{name} task {i}", None
        if name == "type":
            kind = TaskType.MIXED if matches else TaskType.AI_TASK
        elif name == "search":
            title = f"{title} {WORD} report" if matches else f"{title} other report"
        elif name == "parent_task_id":
            child_of = parent if matches else None
        task_id = make(repo, title, kind, priority, due, child_of)
        if matches:
            matching.append(((-PRIORITY_RANK[priority], due or datetime.max, i), task_id))
    # A ready low blocker, and an urgent matching task it blocks: the blocked one is never handed
    # out. The blocker matches only the unfiltered round (as the last of it: low and undated).
    blocker = make(repo, f"{name} blocker", TaskType.AI_TASK, "low", None, None)
    if name == "none":
        matching.append(((-PRIORITY_RANK["low"], datetime.max, 48), blocker))
    repo.create_task(
        title=f"{name} blocked {WORD} report", description=None, type=TaskType.MIXED,
        parent_task_id=parent, due_date=None, metadata=None, created_by="seed", created_by_type=ActorType.AI,
        priority="urgent", depends_on=[blocker],
    )
    argument = {"none": {}, "type": {"type": "mixed"}, "search": {"search": WORD}, "parent_task_id": {"parent_task_id": parent}}
    ordered = [task_id for _, task_id in sorted(matching)]
    return argument[name], ordered


def make(repo, title, kind, priority, due, parent) -> int:
    return repo.create_task(
        title=title, description="seeded for the claim race", type=kind, parent_task_id=parent, due_date=due,
        metadata=None, created_by="seed", created_by_type=ActorType.AI, priority=priority,
    )["id"]


async def race(sessions, filter_args: dict) -> list[tuple[float, float, int | None, str]]:
    """Every agent claims until it is told nothing matches: (start, end, task id or None, agent) per claim."""
    log: list[tuple[float, float, int | None, str]] = []
    errors: list[str] = []

    async def agent(n: int, session) -> None:
        for _ in range(200):  # bounded: far more than the tasks of a round
            start = time.monotonic()
            result = await session.call_tool("tasks_claim", {"assignee": f"agent-{n}", "assignee_type": "claude", **filter_args})
            end = time.monotonic()
            if result.is_error:
                errors.append(result.content[0].text)
                return
            got = result.structured_content["task"]
            log.append((start, end, got["id"] if got else None, f"agent-{n}"))
            if got is None:
                return
        errors.append(f"agent-{n} was still claiming after 200 claims")

    async with anyio.create_task_group() as tg:
        for n, session in enumerate(sessions):
            tg.start_soon(agent, n, session)
    assert errors == [], errors
    return log


def order_violations(log, ordered: list[int]) -> list[str]:
    position = {task_id: k for k, task_id in enumerate(ordered)}
    found = []
    for start_x, end_x, got_x, who_x in log:
        for start_y, _end_y, got_y, who_y in log:
            if start_y <= end_x or got_y is None:
                continue  # only claims that began after this one ended
            if got_x is None:
                found.append(f"{who_x} was told nothing matches, yet {who_y} claimed task {got_y} after that")
            elif got_x in position and got_y in position and position[got_y] < position[got_x]:
                found.append(
                    f"{who_x} got task {got_x} (place {position[got_x]}) while task {got_y} (place {position[got_y]}) "
                    f"was free; {who_y} claimed it later"
                )
    return found


@pytest.mark.parametrize("backend_url", ["sqlite", "mariadb"], indirect=True)
async def test_eight_agents_claim_in_priority_order_with_every_filter(backend_url, config, tmp_path):
    db = Database(config.database, config.database_source)
    repo = TaskRepository(db)
    env = server_env(backend_url, tmp_path)
    problems: dict[str, list[str]] = {}
    try:
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(stdio_session(env)) for _ in range(AGENTS)]
            for name in ("search", "parent_task_id", "type", "none"):
                filter_args, ordered = seed_round(repo, name)
                log = await race(sessions, filter_args)
                claimed = [got for _, _, got, _ in log if got is not None]
                mistakes = order_violations(log, ordered)
                if sorted(claimed) != sorted(ordered):
                    mistakes.append(
                        f"claimed {len(claimed)} tasks ({len(set(claimed))} distinct) of the {len(ordered)} that match; "
                        f"missing {sorted(set(ordered) - set(claimed))}, not matching {sorted(set(claimed) - set(ordered))}"
                    )
                if mistakes:
                    problems[name] = mistakes[:5] + ([f"... {len(mistakes) - 5} more"] if len(mistakes) > 5 else [])
    finally:
        db.close()
    assert problems == {}, problems
