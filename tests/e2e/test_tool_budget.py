"""The part of tools/list that clients hand the model on every turn (each tool's name,
description and input schema) stays under 12 KB of JSON for all tools together.

Measured (compact JSON, UTF-8) when this test was written, 15 tools: 11,605 bytes for
name + description + inputSchema (about 2,900 tokens at 4 characters a token); the
output schemas, which clients use to validate results and most do not show the model,
19,430 bytes more. Since issue 16 the output schemas are key lists (2.6 KB) and the whole
tools/list has a budget too: 16,000 bytes. `pytest -s tests/e2e/test_tool_budget.py` prints today's numbers.
These are for every tool (MCP_TASKS_TOOLS=all): 9,070 bytes model-facing after issue 26;
tests/e2e/test_tool_profiles.py holds the tighter targets of the core and default profiles.
"""
from __future__ import annotations

import json

import jsonschema
import pytest
from mcp import Client

pytestmark = pytest.mark.anyio

# Issue 27 added `confirm` to tasks_delete and tasks_status (~63 bytes each, the question a
# person is asked otherwise; tools/confirmations.py): both budgets grew by that, 130 bytes.
BUDGET = 12_130  # bytes: "12 KB" of model-facing JSON
WHOLE_BUDGET = 16_130  # bytes: the whole tools/list result, output schemas and annotations included (issue 16)


@pytest.fixture
def listing_server(tmp_path):
    """Enough to answer tools/list; it never opens its database."""
    from config import load_config
    from server import build_server

    return build_server(load_config({
        "DATABASE_URL": f"sqlite://{tmp_path / 'never-opened.db'}", "HOME": str(tmp_path), "MCP_TASKS_TOOLS": "all",
    }))


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


async def test_the_model_facing_tool_list_stays_under_12_kb(listing_server):
    async with Client(listing_server) as client:
        tools = (await client.list_tools()).tools
    facing = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools]
    size, outputs = _size(facing), _size([t.output_schema for t in tools])
    per_tool = ", ".join(f"{f['name']} {_size(f)}" for f in sorted(facing, key=_size, reverse=True))
    report = (
        f"{len(tools)} tools: name+description+inputSchema {size:,} bytes (~{size // 4:,} tokens at 4 chars/token), "
        f"budget {BUDGET:,}; outputSchemas {outputs:,} bytes (~{outputs // 4:,} tokens). Per tool: {per_tool}"
    )
    print("\n" + report)
    assert size <= BUDGET, "Over budget; shorten descriptions or drop schema noise. " + report


async def test_the_whole_tool_list_stays_under_16_kb(listing_server):
    """Every client reads all of tools/list (most keep the output schemas to check results):
    35.8 KB before issue 16, 59% of it typed output schemas; now the key lists."""
    async with Client(listing_server) as client:
        tools = (await client.list_tools()).tools
    whole = _size({"tools": [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools]})
    outputs = _size([t.output_schema for t in tools])
    print(f"\ntools/list {whole:,} bytes (budget {WHOLE_BUDGET:,}), of which outputSchemas {outputs:,}")
    assert whole <= WHOLE_BUDGET, f"tools/list is {whole:,} bytes, over {WHOLE_BUDGET:,}"
    assert outputs <= 3_000, f"output schemas are {outputs:,} bytes: key lists, not typed schemas (tools/lean_schema.py)"


async def test_the_lean_input_schemas_are_valid_and_still_typed(listing_server):
    async with Client(listing_server) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        assert "title" not in tool.input_schema, tool.name
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert "type" in prop or "enum" in prop, f"{tool.name}.{name} lost its type"
            assert "anyOf" not in prop or {"type": "null"} not in prop["anyOf"], f"{tool.name}.{name}"
            assert prop.get("default", "absent") is not None, f"{tool.name}.{name} still says default: null"


async def test_an_explicit_null_for_an_optional_argument_is_still_accepted(mcp_server):
    """The schema no longer advertises null, but a client that sends it is not refused."""
    async with Client(mcp_server) as client:
        result = await client.call_tool("tasks_list", {"status": None, "search": None, "limit": 5})
    assert not result.is_error, result.content
