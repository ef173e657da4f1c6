"""Confirmations: deleting a task that takes others' work with it, and cancelling a task another
agent holds under a live lease, ask the person first (tools/confirmations.py). The server runs
as a subprocess; the person is the SDK client's elicitation callback. 2026-07-28 over HTTP asks
through InputRequiredResult (the client retries with the answer); a 2025 stdio session gets
elicitation/create; a client without elicitation is refused and told to pass confirm: true.
"""
from __future__ import annotations

import anyio
import pytest
from mcp import types

from tests.conftest import server_env
from tests.support.mcp_http import call, http_server, http_session, refused
from tests.support.mcp_stdio import stdio_session

pytestmark = pytest.mark.anyio

ALICE = "alice-key-5f1c0e9a7b3d42e8"
BOB = "bob-key-0c9e7a5b3d1f2468"
KEYS = f"alice:{ALICE},bob:{BOB}"


class Person:
    """The one who answers the form: always the same answer; remembers every question."""

    def __init__(self, action: str = "accept", confirm: bool = True):
        self.action, self.confirm, self.asked = action, confirm, []

    async def __call__(self, context, params):
        self.asked.append(params)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)


async def task_with_a_result(client, title: str) -> dict:
    task = await call(client, "tasks_create", title=title)
    await call(client, "tasks_result", id=task["id"], response="the answer", executor="claude", executor_type="claude")
    return task


def only_question(person: Person) -> str:
    assert len(person.asked) == 1, [p.message for p in person.asked]
    params = person.asked[0]
    assert params.requested_schema["properties"]["confirm"]["type"] == "boolean"
    return params.message


async def test_2026_clients_are_asked_once_through_input_required_and_only_accept_acts(backend_url, tmp_path):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        yes, no, gone = Person("accept"), Person("decline"), Person("cancel")
        unticked = Person("accept", confirm=False)
        async with http_session(server.url, ALICE, "auto", elicitation_callback=yes) as alice, \
                http_session(server.url, BOB, "auto", elicitation_callback=no) as bob_no, \
                http_session(server.url, BOB, "auto", elicitation_callback=gone) as bob_gone, \
                http_session(server.url, BOB, "auto", elicitation_callback=unticked) as bob_unticked, \
                http_session(server.url, BOB, "auto", elicitation_callback=yes) as bob_yes:
            assert alice.session.protocol_version == "2026-07-28"
            # Delete: a result and a comment by somebody else are at stake.
            task = await task_with_a_result(alice, "Quarterly report")
            await call(bob_no, "tasks_comment", id=task["id"], content="numbers checked", author="carol")
            for person, client in ((no, bob_no), (gone, bob_gone), (unticked, bob_unticked)):
                text = await refused(client, "tasks_delete", id=task["id"])
                assert "[conflict]" in text and "not deleted" in text and "Nothing was changed" in text
                message = only_question(person)
                assert f"task {task['id']}" in message and "Quarterly report" in message and "1 result" in message
                assert "1 comment by others (carol (via bob))" in message  # a name given with a key is recorded via it (issue 28)
            kept = await call(alice, "tasks_get", id=task["id"])
            assert len(kept["results"]) == 1
            deleted = await call(alice, "tasks_delete", id=task["id"])
            assert deleted["results_deleted"] == 1
            assert "1 result" in only_question(yes)
            assert "[not_found]" in await refused(alice, "tasks_get", id=task["id"])

            # confirm: true is never asked; nothing at stake is never asked either.
            yes.asked.clear()
            other = await task_with_a_result(alice, "Second report")
            await call(alice, "tasks_delete", id=other["id"], confirm=True)
            own = await call(alice, "tasks_create", title="Scratch")
            await call(alice, "tasks_comment", id=own["id"], content="my own note")
            await call(alice, "tasks_delete", id=own["id"])
            assert yes.asked == []

            # Cancel: alice holds the task under a live lease; bob is asked, alice is not.
            held = await call(alice, "tasks_create", title="Migrate the wiki")
            claimed = await call(alice, "tasks_claim", assignee="alice", assignee_type="claude")
            assert claimed["task"]["id"] == held["id"]
            no.asked.clear()
            text = await refused(bob_no, "tasks_status", id=held["id"], status="cancelled")
            assert "[conflict]" in text and "not cancelled" in text
            message = only_question(no)
            assert f"task {held['id']}" in message and "Migrate the wiki" in message and "alice" in message
            assert (await call(bob_no, "tasks_get", id=held["id"]))["status"] == "in_progress"
            yes.asked.clear()
            cancelled = await call(bob_yes, "tasks_status", id=held["id"], status="cancelled")
            assert cancelled["status"] == "cancelled" and "Migrate the wiki" in only_question(yes)

            yes.asked.clear()
            mine = await call(alice, "tasks_create", title="Own work")
            await call(alice, "tasks_claim", assignee="alice", assignee_type="claude")
            await call(alice, "tasks_status", id=mine["id"], status="cancelled")
            # A lease that ran out protects nothing: no question.
            lapsed = await call(alice, "tasks_create", title="Abandoned work")
            await call(alice, "tasks_claim", assignee="alice", assignee_type="claude", lease_minutes=0.02)
            await anyio.sleep(3)
            await call(bob_yes, "tasks_status", id=lapsed["id"], status="cancelled")
            assert yes.asked == []


async def test_2025_sessions_are_asked_by_elicitation_create(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    yes, no = Person("accept"), Person("decline")
    async with stdio_session(env, elicitation_callback=no) as first, stdio_session(env, elicitation_callback=yes) as second:
        assert first.protocol_version < "2026"
        parent = await call(first, "tasks_create", title="Release 2.0")
        child = await call(first, "tasks_create", title="Changelog", parent_task_id=parent["id"])
        await refused(first, "tasks_delete", id=parent["id"])
        message = only_question(no)
        assert "Release 2.0" in message and "Its 1 subtask loses its parent" in message
        assert (await call(first, "tasks_get", id=child["id"]))["parent_task_id"] == parent["id"]
        await call(second, "tasks_delete", id=parent["id"])
        assert "Release 2.0" in only_question(yes)
        assert (await call(second, "tasks_get", id=child["id"]))["parent_task_id"] is None

        # The first session holds a task for agent-a; the second cancels it after asking.
        await call(first, "tasks_claim", assignee="agent-a", assignee_type="claude")
        cancelled = await call(second, "tasks_status", id=child["id"], status="cancelled")
        assert cancelled["status"] == "cancelled"
        assert len(yes.asked) == 2 and "agent-a" in yes.asked[1].message


async def test_a_client_without_elicitation_is_refused_until_it_passes_confirm_true(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    async with stdio_session(env) as agent, stdio_session(env) as holder:
        task = await task_with_a_result(agent, "Invoice run")
        result = await agent.call_tool("tasks_delete", {"id": task["id"]})
        assert result.is_error and result.meta["mcp-tasks/error"]["code"] == "conflict"
        text = result.content[0].text
        assert "confirm: true" in text and "Invoice run" in text and "1 result" in text
        assert len((await call(agent, "tasks_get", id=task["id"]))["results"]) == 1
        assert (await call(agent, "tasks_delete", id=task["id"], confirm=True))["results_deleted"] == 1

        held = await call(holder, "tasks_create", title="Night build")
        await call(holder, "tasks_claim", assignee="builder", assignee_type="claude")
        text = await refused(agent, "tasks_status", id=held["id"], status="cancelled")
        assert "[conflict]" in text and "confirm: true" in text and "builder" in text
        assert (await call(agent, "tasks_get", id=held["id"]))["status"] == "in_progress"
        done = await call(agent, "tasks_status", id=held["id"], status="cancelled", confirm=True)
        assert done["status"] == "cancelled"


async def test_a_2025_session_on_stateless_http_cannot_be_asked_and_is_told_to_confirm(tmp_path):
    """Stateless HTTP carries no server-to-client request on 2025: declared elicitation or not,
    the question cannot reach the person, so the call is refused rather than left hanging."""
    person = Person("accept")
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)
    with http_server(env, "--stateless") as server:
        async with http_session(server.url, None, "legacy", elicitation_callback=person) as client:
            task = await task_with_a_result(client, "Stateless report")
            text = await refused(client, "tasks_delete", id=task["id"])
            assert "confirm: true" in text and "Stateless report" in text
            assert (await call(client, "tasks_delete", id=task["id"], confirm=True))["results_deleted"] == 1
    assert person.asked == []
