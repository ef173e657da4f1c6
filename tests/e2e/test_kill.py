"""A server process killed with SIGKILL leaves nothing half-written, and its claims run out.

The server runs as a subprocess spoken to in raw JSON-RPC (tests/support/raw_stdio.py) so
the test knows its pid and can kill it while a stream of concurrent writes is in flight.
The tables are then read directly (sqlite3 / pymysql) and checked against the invariants
in tests/support/task_invariants.py: no assignment without its history comment, no result
without its task and its result comment, every task with its creation comment, statuses
valid, completed_at set if and only if completed.
"""
from __future__ import annotations

import random
import threading
import time

import pytest

from tests.conftest import server_env
from tests.support.mcp_stdio import stdio_session
from tests.support.raw_stdio import RawServer, ServerGone
from tests.support.task_invariants import connect, violations

pytestmark = pytest.mark.timeout(120)

STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]
STATUS_WEIGHTS = [3, 4, 2, 1, 0.5]  # keep most tasks open: writes on final tasks are only refusals
SEED_TASKS = 16
KILL_AFTER = (40, 150)  # responses before each SIGKILL: early in a burst, and deep into one


class WriteStorm:
    """Sends a seeded random mix of writes without waiting for answers, until stopped or the server dies."""

    def __init__(self, server: RawServer, task_ids: list[int], seed: int):
        self.server = server
        self.task_ids = task_ids
        self.random = random.Random(seed)
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "WriteStorm":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)

    def _request(self) -> tuple[str, dict]:
        r = self.random
        task = r.choice(self.task_ids)
        agent = f"agent-{r.randrange(4)}"
        op = r.choices(["create", "assign", "result", "claim", "status", "comment", "update"], [3, 3, 3, 3, 4, 1, 1])[0]
        if op == "create":
            args = {"title": f"storm {self.sent}", "type": r.choice(["ai_task", "mixed"]), "description": "x" * r.randrange(200)}
            if r.random() < 0.3:
                args["parent_task_id"] = task
            return "tasks_create", args
        if op == "assign":
            return "tasks_assign", {"id": task, "assignee": agent, "assignee_type": "claude", "notes": "storm"}
        if op == "result":
            return "tasks_result", {
                "id": task, "response": "r" * r.randrange(1, 2000), "executor": agent, "executor_type": "claude",
                "tokens_input": r.randrange(1000), "tokens_output": r.randrange(1000), "cost_usd": 0.001,
            }
        if op == "claim":
            return "tasks_claim", {"assignee": agent, "assignee_type": "claude", "lease_minutes": 30}
        if op == "status":
            status = r.choices(STATUSES, STATUS_WEIGHTS)[0]
            return "tasks_status", {"id": task, "status": status, "updated_by": agent, "updated_by_type": "ai"}
        if op == "comment":
            return "tasks_comment", {"id": task, "content": "working", "author": agent}
        return "tasks_update", {"id": task, "title": f"renamed {self.sent}", "updated_by": agent}

    def _run(self) -> None:
        while not self.stop.is_set():
            name, args = self._request()
            try:
                self.server.send_tool(name, **args)
            except ServerGone:
                return
            self.sent += 1


async def call(session, name: str, **args):
    result = await session.call_tool(name, args)
    assert not result.is_error, (name, args, result.content)
    return result.structured_content


def crashes(server: RawServer) -> list[str]:
    """Answers that are [internal] refusals: an unhandled exception in the tool."""
    out = []
    for reply in list(server.responses.values()):
        result = reply.get("result") or {}
        if result.get("isError"):
            text = result["content"][0]["text"]
            if text.startswith("[internal]") or not text.startswith("["):
                out.append(text)
    return out


def check_tables(url: str) -> list[str]:
    con = connect(url)
    try:
        return violations(con, subtasks=False)
    finally:
        con.close()


def count_tasks(url: str) -> int:
    con = connect(url)
    try:
        cur = con.cursor()
        cur.execute("SELECT COUNT(*) FROM tasks")
        return int(cur.fetchone()[0])
    finally:
        con.close()


@pytest.mark.anyio
async def test_a_server_killed_in_the_middle_of_writes_leaves_no_partial_rows(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    for round_number, kill_after in enumerate(KILL_AFTER):
        with RawServer(env, errlog=tmp_path / f"server-{round_number}.log") as server:
            server.initialize()
            # Fresh open tasks each round, so the storm's writes mostly succeed rather than meet final tasks.
            task_ids = [server.tool("tasks_create", title=f"seed {round_number}.{i}", type="ai_task")["id"] for i in range(SEED_TASKS)]
            answered_before = len(server.responses)
            with WriteStorm(server, task_ids, seed=round_number) as storm:
                server.wait_for_responses(answered_before + kill_after, timeout=60)
                server.kill()
            in_flight = storm.sent - (len(server.responses) - answered_before)
            assert in_flight > 0, "every request was answered before the kill: the kill did not land mid-stream"
            assert crashes(server) == []
        assert check_tables(backend_url) == [], f"after kill {round_number + 1}"

    # A new server process reads and writes what the killed ones left.
    async with stdio_session(env) as s:
        stats = await call(s, "tasks_statistics")
        assert stats["total"] == count_tasks(backend_url)
        await call(s, "tasks_create", title="after the kills")
        claimed = await call(s, "tasks_claim", assignee="survivor", assignee_type="claude")
        assert claimed["claimed"] or claimed["message"] == "No pending task matches."
    assert check_tables(backend_url) == []


def lease_history(server: RawServer, task_id: int) -> list[str]:
    detail = server.tool("tasks_get", id=task_id)
    return [c["content"] for c in detail["comments"] if c["comment_type"] == "status_change"]


def test_a_killed_claimers_lease_runs_out_and_after_the_last_attempt_the_task_fails(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path, MAX_ATTEMPTS="2")
    lease = dict(lease_minutes=0.02)  # about a second
    with RawServer(env) as first, RawServer(env) as second, RawServer(env) as third:
        for server in (first, second, third):
            server.initialize()
        task = first.tool("tasks_create", title="Claimed by processes that die", type="ai_task")

        # The first process claims and is killed holding the claim.
        got = first.tool("tasks_claim", assignee="agent-first", assignee_type="claude", **lease)
        claimed_at = time.monotonic()
        assert got["claimed"] and got["task"]["id"] == task["id"]
        first.kill()
        held = second.tool("tasks_claim", assignee="agent-second", assignee_type="claude", **lease)
        if held["claimed"]:  # only a machine too slow to call within the lease gets here
            assert time.monotonic() - claimed_at >= 1.0, "a claim was taken inside another process's lease"
            again = held
        else:
            # After the lease the task comes back to the next claim, the attempt counted in its history.
            time.sleep(max(0.0, claimed_at + 1.6 - time.monotonic()))
            again = second.tool("tasks_claim", assignee="agent-second", assignee_type="claude", **lease)
        claimed_at = time.monotonic()
        assert again["claimed"] and again["task"]["id"] == task["id"], again
        history = lease_history(second, task["id"])
        assert any("lease of agent-first expired; attempt 1 of 2" in line for line in history), history
        second.kill()

        # The second expiry uses the last attempt: the task fails, with the reason in its history.
        time.sleep(max(0.0, claimed_at + 1.6 - time.monotonic()))
        last = third.tool("tasks_claim", assignee="agent-third", assignee_type="claude", **lease)
        assert not last["claimed"], last
        detail = third.tool("tasks_get", id=task["id"])
        assert detail["status"] == "failed"
        history = [c["content"] for c in detail["comments"] if c["comment_type"] == "status_change"]
        assert "lease of agent-second expired; attempt 2 of 2; no attempts left" in history[-1], history
        assert [a["assignee"] for a in detail["assignments"]] == ["agent-first", "agent-second"]
        assert all(a["status"] == "rejected" for a in detail["assignments"]), detail["assignments"]
    assert check_tables(backend_url) == []
