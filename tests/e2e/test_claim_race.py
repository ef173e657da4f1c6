"""Many agents, one database: server processes, each driven by its own MCP client over
stdio, race for the same tasks. Every task must be claimed exactly once, none lost, no
call failing."""
from __future__ import annotations

from collections import Counter

import anyio
import pytest

from domain.models import ActorType, TaskType
from infrastructure.database import Database
from infrastructure.task_repository import TaskRepository
from tests.conftest import server_env
from tests.support.mcp_stdio import stdio_session

pytestmark = pytest.mark.anyio


def seed(config, count: int) -> set[int]:
    db = Database(config.database, config.database_source)
    repo = TaskRepository(db)
    try:
        return {
            repo.create_task(
                title=f"race task {i}", description=None, type=TaskType.AI_TASK, parent_task_id=None, due_date=None,
                metadata=None, created_by="seed", created_by_type=ActorType.AI,
            )["id"]
            for i in range(count)
        }
    finally:
        db.close()


async def race(env: dict[str, str], agents: int) -> tuple[list[int], list[str]]:
    claimed: list[int] = []
    errors: list[str] = []

    async def agent(n: int) -> None:
        async with stdio_session(env) as s:
            while True:
                result = await s.call_tool("tasks_claim", {"assignee": f"agent-{n}", "assignee_type": "claude"})
                if result.is_error:
                    errors.append(result.content[0].text)
                    return
                if not result.structured_content["claimed"]:
                    return
                claimed.append(result.structured_content["task"]["id"])

    async with anyio.create_task_group() as tg:
        for n in range(agents):
            tg.start_soon(agent, n)
    return claimed, errors


@pytest.mark.parametrize("backend_url", ["sqlite", "mariadb"], indirect=True)
async def test_server_processes_racing_claim_every_task_exactly_once(backend_url, config, database, tmp_path):
    agents = 8 if config.database.kind == "mysql" else 4
    ids = seed(config, 400)
    claimed, errors = await race(server_env(backend_url, tmp_path), agents)
    assert errors == []
    twice = [i for i, n in Counter(claimed).items() if n > 1]
    assert twice == [] and set(claimed) == ids and len(claimed) == 400

    def check(tx):
        return (
            tx.value("SELECT COUNT(*) AS n FROM tasks WHERE status = 'in_progress'"),
            tx.value("SELECT COUNT(*) AS n FROM task_assignments"),
            tx.value("SELECT COUNT(DISTINCT task_id) AS n FROM task_assignments"),
            tx.value("SELECT COUNT(*) AS n FROM task_leases WHERE holder IS NOT NULL"),
        )

    assert tuple(int(v) for v in database.read(check)) == (400, 400, 400, 400)


@pytest.mark.parametrize("backend_url", ["sqlite", "mariadb"], indirect=True)
async def test_two_clients_moving_one_task_at_once_one_wins_and_the_other_learns_who(backend_url, config, tmp_path):
    ids = sorted(seed(config, 5))
    env = server_env(backend_url, tmp_path)
    async with stdio_session(env) as a, stdio_session(env) as b:
        for task_id in ids:
            outcomes: dict[str, object] = {}

            async def move(name: str, session) -> None:
                outcomes[name] = await session.call_tool(
                    "tasks_status", {"id": task_id, "status": "in_progress", "updated_by": name, "updated_by_type": "ai"}
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(move, "alpha", a)
                tg.start_soon(move, "beta", b)
            winners = [n for n, r in outcomes.items() if not r.is_error]
            assert len(winners) == 1, {n: r.content for n, r in outcomes.items()}
            loser = next(r for r in outcomes.values() if r.is_error)
            assert "already in_progress" in loser.content[0].text and winners[0] in loser.content[0].text
