"""Who holds a task, seen from real MCP sessions (the server as a subprocess over stdio):
an explicit name decides even inside one connection (Claude Code's subagents share one and
name themselves), the session decides only when no name is given, and a one-shot client
refused by its own lease is told which name to pass."""
from __future__ import annotations

import time

import anyio
import pytest

from tests.conftest import server_env
from tests.e2e.test_stdio import call
from tests.support.mcp_stdio import stdio_session

pytestmark = pytest.mark.anyio


async def refusal(session, name: str, **args) -> str:
    result = await session.call_tool(name, args)
    assert result.is_error, (name, args, result.structured_content)
    return result.content[0].text


async def wait_until_expired(session, task_id: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not (await call(session, "tasks_get", id=task_id))["lease_expired"]:
        assert time.monotonic() < deadline, f"the lease of task {task_id} did not run out within {within} s"
        await anyio.sleep(0.2)


async def test_subagents_sharing_one_connection_are_told_apart_by_their_names(backend_url, tmp_path):
    async with stdio_session(server_env(backend_url, tmp_path), client_name="claude-code") as s:
        task = await call(s, "tasks_create", title="shared work")
        first = await call(s, "tasks_claim", assignee="agent-a", assignee_type="claude", lease_minutes=0.02)
        assert first["task"]["id"] == task["id"]
        await wait_until_expired(s, task["id"])
        second = await call(s, "tasks_claim", assignee="agent-b", assignee_type="claude")
        assert second["task"]["id"] == task["id"]  # agent-a's lease ran out: agent-b has it now
        # agent-a comes back on the same connection: its name is not the holder's.
        text = await refusal(s, "tasks_status", id=task["id"], status="completed", updated_by="agent-a")
        assert text.startswith("[conflict] ") and "held by agent-b" in text and "pass updated_by='agent-b'" in text, text
        await call(s, "tasks_comment", id=task["id"], content="agent-a was here", author="agent-a")
        held = await call(s, "tasks_get", id=task["id"])
        assert (held["status"], held["held_by"].split(" ")[0]) == ("in_progress", "agent-b")
        done = await call(s, "tasks_status", id=task["id"], status="completed", updated_by="agent-b")
        assert done["status"] == "completed"
        # With no name the session decides: what it took under a name, it may finish unnamed.
        other = await call(s, "tasks_create", title="unnamed finish")
        assert (await call(s, "tasks_claim", assignee="agent-c", assignee_type="claude"))["task"]["id"] == other["id"]
        assert (await call(s, "tasks_status", id=other["id"], status="completed"))["status"] == "completed"


async def test_a_one_shot_client_is_told_which_name_to_pass(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    async with stdio_session(env, client_name="inspector-cli") as s:
        task = await call(s, "tasks_create", title="one call at a time")
        await call(s, "tasks_claim", assignee="me", assignee_type="claude")
    async with stdio_session(env, client_name="inspector-cli") as s:  # the next call: a new session, a new suffix
        text = await refusal(s, "tasks_status", id=task["id"], status="completed")
        assert "held by me" in text and "You called as inspector-cli#" in text and "pass updated_by='me'" in text, text
    async with stdio_session(env, client_name="inspector-cli") as s:
        assert (await call(s, "tasks_status", id=task["id"], status="completed", updated_by="me"))["status"] == "completed"
