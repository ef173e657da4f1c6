"""The ready queue with real agents: server processes, each driven by its own MCP client over
stdio, claim and complete tasks from a random dependency graph. Every task is claimed exactly
once, none before all its blockers completed, and among ready tasks the order follows priority.
Also the spec's example workflow with an agent that outlives its lease."""
from __future__ import annotations

import random
import time
from collections import Counter

import anyio
import pytest

from infrastructure.database import Database
from infrastructure.task_repository import TaskRepository
from tests.conftest import server_env
from tests.integration.test_repository import make
from tests.support.mcp_stdio import stdio_session

pytestmark = pytest.mark.anyio
RANK = {"urgent": 3, "high": 2, "normal": 1, "low": 0}


def seed_graph(config, count: int, rng: random.Random) -> dict[int, dict]:
    """Tasks with random priorities, each depending on up to three earlier ones (so no cycle)."""
    db = Database(config.database, config.database_source)
    repo = TaskRepository(db)
    tasks: dict[int, dict] = {}
    try:
        ids: list[int] = []
        for i in range(count):
            blockers = sorted(rng.sample(ids, k=min(len(ids), rng.choice([0, 0, 1, 2, 3])))) if ids else []
            priority = rng.choice(["low", "normal", "normal", "high", "urgent"])
            task = make(repo, f"graph task {i}", priority=priority, depends_on=blockers)
            ids.append(task["id"])
            tasks[task["id"]] = {"priority": priority, "blockers": blockers}
    finally:
        db.close()
    return tasks


async def work_the_queue(env: dict[str, str], agents: int, total: int) -> tuple[list[int], list[str]]:
    claimed: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + 120

    async def agent(n: int) -> None:
        name = f"agent-{n}"
        async with stdio_session(env) as s:
            while len(claimed) < total and time.monotonic() < deadline and not errors:
                got = await s.call_tool("tasks_claim", {"assignee": name, "assignee_type": "claude"})
                if got.is_error:
                    errors.append(got.content[0].text)
                    return
                if not got.structured_content["claimed"]:
                    await anyio.sleep(0.05)  # the rest is blocked on tasks other agents are finishing
                    continue
                task_id = got.structured_content["task"]["id"]
                claimed.append(task_id)
                done = await s.call_tool("tasks_status", {"id": task_id, "status": "completed", "updated_by": name})
                if done.is_error:
                    errors.append(done.content[0].text)

    async with anyio.create_task_group() as tg:
        for n in range(agents):
            tg.start_soon(agent, n)
    return claimed, errors


@pytest.mark.parametrize("backend_url", ["sqlite", "mariadb"], indirect=True)
async def test_agents_work_a_dependency_graph_in_order_each_task_once(backend_url, config, database, tmp_path):
    rng = random.Random(20261202)
    agents = 8
    tasks = seed_graph(config, 240, rng)
    claimed, errors = await work_the_queue(server_env(backend_url, tmp_path), agents, len(tasks))
    assert errors == []
    assert [i for i, n in Counter(claimed).items() if n > 1] == []
    assert sorted(claimed) == sorted(tasks)

    # The order as the database saw it: history ids grow in commit order of what each read.
    def history(tx):
        return tx.rows(
            "SELECT id, task_id, content FROM task_comments WHERE comment_type = 'status_change' "
            "AND (content LIKE 'Claimed by%%' OR content LIKE '%%→ completed%%') ORDER BY id"
        )

    claim_at: dict[int, int] = {}
    done_at: dict[int, int] = {}
    for row in database.read(history):
        (claim_at if row["content"].startswith("Claimed by") else done_at)[int(row["task_id"])] = int(row["id"])
    early = [(t, b) for t, info in tasks.items() for b in info["blockers"] if not done_at[b] < claim_at[t]]
    assert early == [], "claimed before a blocker was completed"

    # Among the tasks ready at a claim, none of higher priority waits longer than four rounds of
    # claims: a concurrent claimer may pass a row another holds (SKIP LOCKED), and a blocker's
    # completion whose history row is older than a claim may commit after the claim read.
    rank_of = {t: r for r, t in enumerate(sorted(claim_at, key=claim_at.get))}
    passed_over = []
    for t, at in claim_at.items():
        for u, info in tasks.items():
            ready = all(done_at[b] < at for b in info["blockers"])
            if ready and RANK[info["priority"]] > RANK[tasks[t]["priority"]] and rank_of[u] > rank_of[t] + 4 * agents:
                passed_over.append((t, u))
    assert passed_over == [], [(t, tasks[t], claim_at[t], u, tasks[u], claim_at[u]) for t, u in passed_over[:3]]


@pytest.mark.parametrize("backend_url", ["sqlite", "mariadb"], indirect=True)
async def test_the_spec_workflow_completes_when_the_agent_outlives_its_lease(backend_url, config, tmp_path):
    env = server_env(backend_url, tmp_path, LEASE_MINUTES="0.02")  # 1.2 s
    async with stdio_session(env) as agent, stdio_session(env) as other:
        created = await agent.call_tool("tasks_create", {"title": "Long work", "type": "ai_task"})
        task_id = created.structured_content["id"]
        assert not (await agent.call_tool("tasks_status", {"id": task_id, "status": "in_progress"})).is_error
        await other.call_tool("tasks_create", {"title": "Urgent other work", "priority": "urgent"})
        await anyio.sleep(1.6)
        # Another agent's claim runs the reaper (the long task goes back to pending) and takes the urgent one.
        bystander = await other.call_tool("tasks_claim", {"assignee": "bystander", "assignee_type": "claude"})
        assert bystander.structured_content["task"]["title"] == "Urgent other work"
        assert (await agent.call_tool("tasks_get", {"id": task_id})).structured_content["status"] == "pending"
        result = await agent.call_tool(
            "tasks_result", {"id": task_id, "response": "done", "executor": "claude", "executor_type": "claude"}
        )
        assert not result.is_error, result.content[0].text
        done = await agent.call_tool("tasks_status", {"id": task_id, "status": "completed"})
        assert not done.is_error, done.content[0].text
        got = await agent.call_tool("tasks_get", {"id": task_id})
        assert got.structured_content["status"] == "completed"


@pytest.mark.parametrize("backend_url", ["sqlite", "mariadb"], indirect=True)
async def test_an_agent_whose_task_was_taken_meanwhile_is_refused_naming_the_other(backend_url, config, tmp_path):
    env = server_env(backend_url, tmp_path, LEASE_MINUTES="0.02")
    async with stdio_session(env) as slow, stdio_session(env) as fast:
        task_id = (await slow.call_tool("tasks_create", {"title": "Contested"})).structured_content["id"]
        await slow.call_tool("tasks_status", {"id": task_id, "status": "in_progress", "updated_by": "slow-agent"})
        await anyio.sleep(1.6)
        taken = await fast.call_tool("tasks_claim", {"assignee": "fast-agent", "assignee_type": "claude", "lease_minutes": 5})
        assert taken.structured_content["task"]["id"] == task_id
        refused = await slow.call_tool("tasks_status", {"id": task_id, "status": "completed", "updated_by": "slow-agent"})
        assert refused.is_error and "fast-agent" in refused.content[0].text
        got = (await slow.call_tool("tasks_get", {"id": task_id})).structured_content
        assert (got["status"], got["held_by"]) == ("in_progress", "fast-agent")
