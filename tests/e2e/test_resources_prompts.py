"""Resources and prompts through the SDK's real client: in-process on both backends, and
over stdio to the server as a subprocess."""
from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import server_env
from tests.support.mcp_stdio import stdio_session

pytestmark = pytest.mark.anyio


async def _tool(client, name: str, **args):
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content
    return result.structured_content


async def _read_json(client, uri: str):
    result = await client.read_resource(uri)
    (content,) = result.contents
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def test_task_and_statistics_resources_are_listed_and_read_as_the_tools_return_them(mcp_server):
    async with Client(mcp_server) as client:
        static = {str(r.uri): r for r in (await client.list_resources()).resources}
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
        assert "tasks://statistics" in static and static["tasks://statistics"].description
        assert "task://{id}" in templates and templates["task://{id}"].description
        parent = await _tool(client, "tasks_create", title="Parent")
        child = await _tool(client, "tasks_create", title="Child", parent_task_id=parent["id"], metadata={"k": 1})
        await _tool(client, "tasks_comment", id=child["id"], content="a note")
        assert await _read_json(client, f"task://{child['id']}") == await _tool(client, "tasks_get", id=child["id"])
        assert await _read_json(client, "tasks://statistics") == await _tool(client, "tasks_statistics")


@pytest.mark.parametrize("uri, fragment", [("task://999999", "Task 999999 does not exist"), ("task://abc", "not a positive whole number")])
async def test_a_task_resource_that_cannot_be_read_says_why(mcp_server, uri, fragment):
    async with Client(mcp_server) as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource(uri)
    assert fragment in str(raised.value)


async def test_prompts_are_listed_with_their_arguments(mcp_server):
    async with Client(mcp_server) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) >= {"work_on_task", "triage_pending"}
    work = prompts["work_on_task"]
    assert work.description and [(a.name, a.required) for a in work.arguments] == [("id", True)]
    assert work.arguments[0].description
    assert [(a.name, a.required) for a in prompts["triage_pending"].arguments] == [("limit", False)]


async def test_work_on_task_walks_through_claim_work_quality_check_result_and_complete(mcp_server):
    async with Client(mcp_server) as client:
        task = await _tool(client, "tasks_create", title="Refactor the parser", description="Split parse() in two.")
        prompt = await client.get_prompt("work_on_task", {"id": str(task["id"])})
        (message,) = prompt.messages
        text = message.content.text
        assert message.role == "user"
        assert "Refactor the parser" in text and "Split parse() in two." in text
        steps = [
            f'tasks_status(id={task["id"]}, status="in_progress")', f"tasks_get(id={task['id']})", "quality_check(",
            f"tasks_result(id={task['id']}", f'tasks_status(id={task["id"]}, status="completed")',
        ]
        positions = [text.index(step) for step in steps]
        assert positions == sorted(positions), text
        await _tool(client, "tasks_status", id=task["id"], status="cancelled")
        final = (await client.get_prompt("work_on_task", {"id": str(task["id"])})).messages[0].content.text
        assert "final" in final and "parent_task_id" in final
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("work_on_task", {"id": "999999"})
        assert "999999 does not exist" in str(raised.value)


async def test_triage_pending_lists_the_pending_tasks_and_what_to_decide(mcp_server):
    async with Client(mcp_server) as client:
        empty = (await client.get_prompt("triage_pending", {})).messages[0].content.text
        assert "no pending tasks" in empty
        for title in ("Write the release notes", "Fix the login bug"):
            await _tool(client, "tasks_create", title=title)
        done = await _tool(client, "tasks_create", title="Already done")
        await _tool(client, "tasks_status", id=done["id"], status="cancelled")
        text = (await client.get_prompt("triage_pending", {"limit": "5"})).messages[0].content.text
    assert "Write the release notes" in text and "Fix the login bug" in text and "Already done" not in text
    for tool in ("tasks_update", "tasks_assign", "tasks_comment", "tasks_create"):
        assert tool in text


async def test_resources_and_prompts_over_stdio(tmp_path):
    async with stdio_session(server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)) as session:
        created = (await session.call_tool("tasks_create", {"title": "Over the pipe"})).structured_content
        assert {str(r.uri) for r in (await session.list_resources()).resources} >= {"tasks://statistics"}
        assert {t.uri_template for t in (await session.list_resource_templates()).resource_templates} >= {"task://{id}"}
        read = await session.read_resource(f"task://{created['id']}")
        assert json.loads(read.contents[0].text)["title"] == "Over the pipe"
        assert {p.name for p in (await session.list_prompts()).prompts} >= {"work_on_task", "triage_pending"}
        prompt = await session.get_prompt("work_on_task", {"id": str(created["id"])})
        assert "Over the pipe" in prompt.messages[0].content.text


async def test_task_ids_complete_from_the_database_newest_first(mcp_server):
    from mcp.types import PromptReference, ResourceTemplateReference

    async with Client(mcp_server) as client:
        assert client.server_capabilities.completions is not None
        ids = [(await _tool(client, "tasks_create", title=f"t{n}"))["id"] for n in range(12)]
        template, prompt = ResourceTemplateReference(uri="task://{id}"), PromptReference(name="work_on_task")
        newest = (await client.complete(template, {"name": "id", "value": ""})).completion
        assert newest.values == [str(i) for i in sorted(ids, reverse=True)] and not newest.has_more
        ones = (await client.complete(prompt, {"name": "id", "value": "1"})).completion
        assert ones.values == [str(i) for i in sorted(ids, reverse=True) if str(i).startswith("1")]
        assert (await client.complete(template, {"name": "id", "value": "x"})).completion.values == []
        assert (await client.complete(PromptReference(name="triage_pending"), {"name": "limit", "value": "1"})).completion.values == []
        # A task that is gone is no longer offered.
        await _tool(client, "tasks_delete", id=ids[-1])
        assert str(ids[-1]) not in (await client.complete(template, {"name": "id", "value": ""})).completion.values


async def test_a_resource_refusal_carries_its_code(mcp_server):
    async with Client(mcp_server) as client:
        with pytest.raises(MCPError) as err:
            await client.read_resource("task://987654")
    assert str(err.value).startswith("[not_found] ") or "[not_found] " in str(err.value), str(err.value)
