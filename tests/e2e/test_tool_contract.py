"""Every tool's contract with its clients, through the SDK's real client (in-process):
descriptions, schemas, annotations, structured results that match their outputSchema, and
a clear isError refusal for every kind of bad input, with the tables unchanged.
"""
from __future__ import annotations

import json

import jsonschema
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

TASK_TOOLS = {
    "tasks_list", "tasks_get", "tasks_create", "tasks_update", "tasks_status", "tasks_assign",
    "tasks_result", "tasks_delete", "tasks_statistics", "tasks_comment",
}


async def _snapshot(client: Client) -> str:
    """Every row the tools can see, as one string: equal snapshots mean unchanged tables."""
    page = await client.call_tool("tasks_list", {"limit": 500})
    details = [
        (await client.call_tool("tasks_get", {"id": t["id"]})).structured_content for t in page.structured_content["tasks"]
    ]
    stats = (await client.call_tool("tasks_statistics", {})).structured_content
    return json.dumps([details, stats], sort_keys=True)


RULES_IN_DESCRIPTIONS = {
    ("tasks_list", "ready"): ["pending", "blocked"],
    ("tasks_list", "cursor"): ["next_cursor"],
    ("tasks_list", "offset"): ["next_offset"],
    ("tasks_list", "detail"): ["summary"],
    ("tasks_create", "due_date"): ["ISO 8601"],
    ("tasks_update", "due_date"): ['""'],
    ("tasks_update", "parent_task_id"): ["0"],
    ("tasks_update", "labels"): ["Replaces"],
    ("tasks_status", "expected_updated_at"): ["updated_at"],
    ("tasks_status", "updated_by"): ["you"],
    ("tasks_assign", "assignee_type"): ["human_task", "ai_task", "mixed"],
    ("tasks_claim", "assignee_type"): ["task types"],
    ("tasks_result", "executor"): ["Who"],
    ("tasks_execute", "wait"): ["false", "tasks_get"],
    ("quality_check", "path"): ["QUALITY_ALLOWED_PATHS"],
}


async def test_every_tool_is_described_typed_and_annotated(mcp_server):
    async with Client(mcp_server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert TASK_TOOLS <= set(tools)
    for name, tool in tools.items():
        assert tool.description and len(tool.description) > 20, name
        assert tool.title and len(tool.title) <= 24 and tool.title[0].isupper(), (name, tool.title)
        assert tool.annotations is not None, name
        # Hints equal to the spec's defaults are left out (tools/lean_schema.py); what a tool
        # does must still be said: read-only, or a write that says whether it destroys.
        assert tool.annotations.read_only_hint is True or tool.annotations.destructive_hint is not None, name
        assert tool.output_schema and tool.output_schema.get("type") == "object", name
        for pname, prop in tool.input_schema.get("properties", {}).items():
            assert "title" not in prop, f"{name}.{pname} still carries a title"
    # Since issue 26 a parameter whose name, type and enum say it all goes without a description
    # (status, limit, tokens_input, ...); these carry a rule the name does not, and must keep it.
    for (name, pname), words in RULES_IN_DESCRIPTIONS.items():
        text = tools[name].input_schema["properties"][pname].get("description", "")
        assert all(w in text for w in words), f"{name}.{pname}: {text!r} lost {words}"
    assert tools["tasks_delete"].annotations.destructive_hint is True
    assert tools["tasks_list"].annotations.read_only_hint is True
    status = tools["tasks_status"].input_schema["properties"]["status"]
    assert status["enum"] == ["pending", "in_progress", "completed", "failed", "cancelled"]
    limit = tools["tasks_list"].input_schema["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, 500)
    # String lengths are no longer advertised (tools/lean_schema.py); the refusal names them (below, "255").
    assert "maxLength" not in tools["tasks_create"].input_schema["properties"]["title"]


def typed_schemas(server) -> dict[str, dict]:
    """Each tool's whole typed result schema (tools/output_schemas.json, generated from the
    result models); tools/list carries only its key list (tools/lean_schema.py)."""
    from tools.output_schemas import full_schemas, result_model
    from transports.sdk_private import tool_manager

    stored = full_schemas()
    return {t.name: stored[result_model(t).__name__] for t in tool_manager(server).list_tools()}


async def test_structured_content_matches_the_output_schema_for_every_tool(mcp_server):
    typed = typed_schemas(mcp_server)
    async with Client(mcp_server) as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        parent = await client.call_tool("tasks_create", {"title": "Parent", "metadata": {"k": [1, 2]}, "due_date": "2026-12-31"})
        pid = parent.structured_content["id"]
        child = await client.call_tool("tasks_create", {"title": "Child", "parent_task_id": pid})
        calls = {
            "tasks_create": parent,
            "tasks_update": await client.call_tool("tasks_update", {"id": pid, "description": "More"}),
            "tasks_assign": await client.call_tool("tasks_assign", {"id": pid, "assignee": "claude", "assignee_type": "claude"}),
            "tasks_status": await client.call_tool("tasks_status", {"id": pid, "status": "in_progress"}),
            "tasks_result": await client.call_tool(
                "tasks_result", {"id": pid, "response": "ok", "executor": "claude", "executor_type": "claude", "tokens_input": 3}
            ),
            "tasks_comment": await client.call_tool("tasks_comment", {"id": pid, "content": "hi"}),
            "tasks_get": await client.call_tool("tasks_get", {"id": pid}),
            "tasks_list": await client.call_tool("tasks_list", {"search": "Parent"}),
            "tasks_statistics": await client.call_tool("tasks_statistics", {}),
            "tasks_delete": await client.call_tool("tasks_delete", {"id": child.structured_content["id"]}),
        }
    for name, result in calls.items():
        assert not result.is_error, (name, result.content)
        jsonschema.validate(result.structured_content, schemas[name])  # what clients check
        jsonschema.validate(result.structured_content, typed[name])  # and every type the models promise
        # the published schema names every key the result carries, and no key it lacks
        assert set(schemas[name]["required"]) <= set(result.structured_content), name
        assert set(schemas[name]["required"]) == set(typed[name]["required"]), name
        # the text block is the same data, compact: one JSON object, nothing else (issue 16)
        assert len(result.content) == 1 and result.content[0].type == "text", name
        assert json.loads(result.content[0].text) == result.structured_content
        assert "\n" not in result.content[0].text, name  # compact, not pretty-printed


async def test_the_published_output_schemas_are_key_lists_a_client_checks_cheaply(mcp_server):
    """Issue 16: outputSchema on the wire is {"type": "object", "required": [...]} (every key
    the typed schema requires, no types): cheap to send and to check, and still a refusal
    for a result that lost a key."""
    typed = typed_schemas(mcp_server)
    async with Client(mcp_server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name, tool in tools.items():
        assert tool.output_schema == {"type": "object", "required": typed[name]["required"]}, name
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
    page = tools["tasks_list"].output_schema
    assert page["required"] == ["tasks", "total", "total_exact", "next_offset"]
    assert not jsonschema.Draft202012Validator(page).is_valid({"tasks": [], "total": 0, "total_exact": True})


BAD_INPUTS = [
    ("tasks_list", {"status": "done"}, ["status", "pending"]),
    ("tasks_list", {"type": "robot"}, ["type", "ai_task"]),
    ("tasks_list", {"limit": -1}, ["limit"]),
    ("tasks_list", {"limit": 10**12}, ["limit"]),
    ("tasks_list", {"offset": -5}, ["offset"]),
    ("tasks_list", {"limit": "many"}, ["limit"]),
    ("tasks_list", {"search": "x" * 201}, ["search"]),
    ("tasks_list", {"search": "   "}, ["search"]),
    ("tasks_get", {"id": 987654}, ["987654", "does not exist"]),
    ("tasks_get", {"id": 0}, ["id"]),
    ("tasks_get", {"id": "abc"}, ["id"]),
    ("tasks_get", {}, ["id"]),
    ("tasks_create", {"title": "x" * 256}, ["title", "255"]),
    ("tasks_create", {"title": ""}, ["title"]),
    ("tasks_create", {"title": "   "}, ["title is blank"]),
    ("tasks_create", {"title": "t", "type": "robot"}, ["type"]),
    ("tasks_create", {"title": "t", "due_date": "next tuesday"}, ["due_date", "ISO 8601"]),
    ("tasks_create", {"title": "t", "due_date": "2026-02-30"}, ["due_date"]),
    ("tasks_create", {"title": "t", "metadata": [1, 2]}, ["metadata"]),
    ("tasks_create", {"title": "t", "metadata": "not json"}, ["metadata"]),
    ("tasks_create", {"title": "t", "metadata": "[1]"}, ["metadata"]),
    ("tasks_create", {"title": "t", "parent_task_id": 987654}, ["parent_task_id=987654"]),
    ("tasks_create", {"title": "t", "description": "é" * 40000}, ["description", "bytes"]),
    ("tasks_create", {"title": "t", "created_by_type": "robot"}, ["created_by_type"]),
    ("tasks_update", {"id": 987654, "title": "x"}, ["987654"]),
    ("tasks_update", {"id": "{id}"}, ["at least one"]),
    ("tasks_update", {"id": "{id}", "title": "x" * 256}, ["title"]),
    ("tasks_update", {"id": "{id}", "due_date": "31.12.2026"}, ["due_date"]),
    ("tasks_update", {"id": "{id}", "metadata": 5}, ["metadata"]),
    ("tasks_update", {"id": "{id}", "type": "x"}, ["type"]),
    ("tasks_update", {"id": "{id}", "title": "x", "expected_updated_at": "2000-01-01 00:00:00"}, ["changed", "tasks_get"]),
    ("tasks_status", {"id": "{id}", "status": "done"}, ["status"]),
    ("tasks_status", {"id": "{id}", "status": "completed"}, ["pending", "cannot become completed"]),
    ("tasks_status", {"id": "{id}", "status": "pending"}, ["already pending"]),
    ("tasks_status", {"id": 987654, "status": "cancelled"}, ["987654"]),
    ("tasks_assign", {"id": "{id}", "assignee": "a", "assignee_type": "robot"}, ["assignee_type"]),
    ("tasks_assign", {"id": "{id}", "assignee": "a" * 101, "assignee_type": "claude"}, ["assignee"]),
    ("tasks_assign", {"id": "{id}", "assignee": "bob", "assignee_type": "human"}, ["ai_task", "human"]),
    ("tasks_assign", {"id": 987654, "assignee": "a", "assignee_type": "claude"}, ["987654"]),
    ("tasks_result", {"id": "{id}", "response": "r", "executor": "e", "executor_type": "x"}, ["executor_type"]),
    ("tasks_result", {"id": "{id}", "response": "r", "executor": "e", "executor_type": "claude", "status": "ok"}, ["status"]),
    ("tasks_result", {"id": "{id}", "response": "r", "executor": "e", "executor_type": "claude", "tokens_input": -1}, ["tokens_input"]),
    ("tasks_result", {"id": "{id}", "response": "r", "executor": "e", "executor_type": "claude", "cost_usd": 1e9}, ["cost_usd"]),
    ("tasks_result", {"id": 987654, "response": "r", "executor": "e", "executor_type": "claude"}, ["987654"]),
    ("tasks_delete", {"id": 987654}, ["987654"]),
    ("tasks_delete", {"id": -1}, ["id"]),
    ("tasks_comment", {"id": "{id}", "content": ""}, ["content"]),
    ("tasks_comment", {"id": "{id}", "content": "c", "comment_type": "status_change"}, ["comment_type"]),
    ("tasks_comment", {"id": 987654, "content": "c"}, ["987654"]),
    ("tasks_statistics", {"unexpected": 1}, ["unknown argument 'unexpected'", "Allowed: none"]),
    ("tasks_list", {"state": "pending"}, ["unknown argument 'state'", "did you mean 'status'?", "Allowed: status, type"]),
    ("tasks_delete", {"id": True}, ["id=true", "whole number"]),
    ("tasks_get", {"id": "5"}, ['id="5"']),
    ("tasks_get", {"id": 5.0}, ["id=5.0"]),
    ("tasks_update", {"id": "{id}", "parent_task_id": False}, ["parent_task_id=false"]),
    ("tasks_create", {"title": "t", "due_date": "9999-12-31T23:00:00-05:00"}, ["due_date=", "1000-01-01 to 9999-12-31"]),
    ("tasks_create", {"title": "t", "due_date": "0001-01-01T00:00:00+01:00"}, ["due_date=", "1000-01-01 to 9999-12-31"]),
    # base64url of "2026-01-01 00:00:00|<2**64>": a cursor whose id no BIGINT holds
    ("tasks_list", {"cursor": "MjAyNi0wMS0wMSAwMDowMDowMHwxODQ0Njc0NDA3MzcwOTU1MTYxNg"}, ["cursor=", "18446744073709551616", "next_cursor"]),
    ("tasks_list", {"cursor": "postgres://u:hunter2secret@db/x"}, ["cursor=", "***"]),
    ("tasks_lsit", {}, ["no tool 'tasks_lsit'", "Did you mean tasks_list?"]),
    # the order of work
    ("tasks_create", {"title": "t", "depends_on": [987654]}, ["depends_on", "987654", "not exist"]),
    ("tasks_create", {"title": "t", "depends_on": ["x"]}, ["depends_on"]),
    ("tasks_create", {"title": "t", "depends_on": [0]}, ["depends_on"]),
    ("tasks_create", {"title": "t", "depends_on": list(range(1, 102))}, ["depends_on"]),
    ("tasks_update", {"id": "{id}", "depends_on": ["{id}"]}, ["depends_on", "cannot depend on itself"]),
    ("tasks_update", {"id": "{id}", "depends_on": [987654]}, ["987654"]),
    ("tasks_create", {"title": "t", "priority": "critical"}, ["priority"]),
    ("tasks_update", {"id": "{id}", "priority": 3}, ["priority"]),
    ("tasks_create", {"title": "t", "labels": ["a,b"]}, ["labels", "'a,b'"]),
    ("tasks_create", {"title": "t", "labels": ["x" * 51]}, ["labels"]),
    ("tasks_create", {"title": "t", "labels": [" "]}, ["labels"]),
    ("tasks_create", {"title": "t", "labels": [f"l{i}" for i in range(21)]}, ["labels"]),
    ("tasks_update", {"id": "{id}", "labels": "backend"}, ["labels"]),
    ("tasks_list", {"priority": "top"}, ["priority"]),
    ("tasks_list", {"ready": "yes"}, ["ready"]),
    ("tasks_list", {"label": "x" * 51}, ["label"]),
    ("tasks_status", {"id": "{id}", "status": "in_progress", "expected_updated_at": "2000-01-01 00:00:00"}, ["changed"]),
]
PYDANTIC_TEXT = ("validation error", "pydantic", "errors.pydantic.dev", "Input should be", "Arguments", "[type=", "input_value")


def _refusal(result, code: str | None = None) -> str:
    """The refusal's text, after checking its shape: [code] first, the same code in _meta, no structuredContent."""
    assert result.is_error, result.content
    assert result.structured_content is None
    text = result.content[0].text
    meta = (result.meta or {}).get("mcp-tasks/error")
    assert meta and set(meta) == {"code", "retryable"}, result.meta
    assert text.startswith(f"[{meta['code']}] "), text
    if code is not None:
        assert meta["code"] == code, text
    for fragment in PYDANTIC_TEXT:
        assert fragment not in text, text
    return text


async def test_every_bad_input_is_refused_with_a_clear_message_and_nothing_changes(mcp_server):
    async with Client(mcp_server) as client:
        task = (await client.call_tool("tasks_create", {"title": "Target", "description": "stays as it is"})).structured_content
        before = await _snapshot(client)
        for name, args, must_say in BAD_INPUTS:
            def fill(v):
                return task["id"] if v == "{id}" else [fill(i) for i in v] if isinstance(v, list) else v

            args = {k: fill(v) for k, v in args.items()}
            result = await client.call_tool(name, args)
            text = _refusal(result)
            assert "hunter2secret" not in text
            for fragment in must_say:
                assert fragment in text, (name, args, text)
        assert await _snapshot(client) == before


def _valid(prop: dict, task_id: int):
    """A value the property accepts, so that a call fails only for the one argument under test."""
    if "enum" in prop:
        return prop["enum"][0]
    return {"integer": task_id if prop.get("maximum", 10**9) > task_id else 1, "number": 1, "string": "x",
            "boolean": False, "object": {}}[prop["type"]]


WRONG_TYPES = {  # JSON values of another type than the schema's, including the ones lax parsing would coerce
    "integer": ["5", True, 5.0, [5]], "number": ["1.5", True, {}], "string": [5, ["x"], {"x": 1}],
    "boolean": ["true", 1, None], "object": [[1], 5], "enum": [7, True], "array": ["x", 5, {"x": 1}],
}


async def test_every_tool_refuses_an_unknown_or_wrongly_typed_argument_before_it_reads_or_writes(mcp_server):
    async with Client(mcp_server) as client:
        task = (await client.call_tool("tasks_create", {"title": "Target", "description": "stays as it is"})).structured_content
        tools = (await client.list_tools()).tools
        before = await _snapshot(client)
        calls = 0
        for tool in tools:
            props = tool.input_schema.get("properties", {})
            required = {name: _valid(props[name], task["id"]) for name in tool.input_schema.get("required", [])}
            for unknown, suggestion in (("bogus_argument", None), *((name[:-1], name) for name in list(props)[:2] if len(name) > 3)):
                text = _refusal(await client.call_tool(tool.name, {**required, unknown: 1}), "invalid_argument")
                assert f"unknown argument '{unknown}' for {tool.name}" in text, text
                if suggestion:
                    assert f"did you mean '{suggestion}'" in text, text
                for name in props:
                    assert name in text, (tool.name, name, text)
                calls += 1
            for name, prop in props.items():
                kind = "enum" if "enum" in prop else prop["type"]
                for wrong in WRONG_TYPES[kind]:
                    if wrong is None and name not in required:
                        continue  # null means "left out" for an optional argument
                    result = await client.call_tool(tool.name, {**required, name: wrong})
                    text = _refusal(result, "invalid_argument")
                    assert f"{name}={json.dumps(wrong)} is not accepted by {tool.name}" in text, text
                    assert (await client.call_tool(tool.name, {**required, name: wrong})).meta["mcp-tasks/error"]["retryable"] is False
                    calls += 1
        assert await _snapshot(client) == before
    assert calls > 100


async def test_an_unexpected_failure_is_internal_and_shows_nothing_of_the_exception(mcp_server, caplog):
    def tasks_boom(limit: int = 1) -> str:
        """A tool with a bug, added only here."""
        raise RuntimeError("password=hunter2 at line 7")

    mcp_server.add_tool(tasks_boom)
    async with Client(mcp_server) as client:
        text = _refusal(await client.call_tool("tasks_boom", {}), "internal")
        assert "hunter2" not in text and "tasks_boom failed unexpectedly" in text
        # the strict argument model covers tools added later, too
        assert "limit=true" in _refusal(await client.call_tool("tasks_boom", {"limit": True}), "invalid_argument")
    assert "hunter2" in caplog.text and "RuntimeError" in caplog.text  # the traceback stays in the server's log


@pytest.mark.parametrize("term", ["%", "_", "'", '"', "'; DROP TABLE tasks; --", "\\", "100%_done"])
async def test_search_metacharacters_are_literal_through_the_tool(mcp_server, term):
    async with Client(mcp_server) as client:
        hit = (await client.call_tool("tasks_create", {"title": f"mark {term} mark"})).structured_content
        await client.call_tool("tasks_create", {"title": "mark plain mark"})
        page = (await client.call_tool("tasks_list", {"search": term})).structured_content
        assert [t["id"] for t in page["tasks"]] == [hit["id"]]
        assert (await client.call_tool("tasks_list", {})).structured_content["total"] == 2
