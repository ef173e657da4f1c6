"""Tool profiles (issue 26): MCP_TASKS_TOOLS / --tools choose which tools a server offers,
and over HTTP an X-MCP-Tools header narrows them per connection.

The byte figures are computed from tools/list each run, never pinned: what a client hands
the model every turn (name, description, inputSchema as compact JSON, the measure of
test_tool_budget.py) must stay within the issue's targets, core <= 5,000 bytes and the
default (standard) <= 9,000. `pytest -s` prints each profile's figure and the margin left
(bench/RESULTS.md "Issue 26" has them); a new optional parameter of ~60-100 bytes fits in
that margin, a new tool in core does not.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mcp import Client

from config import load_config
from server import build_server
from tests.conftest import server_env
from tests.support.mcp_http import http_server, http_session
from tests.support.mcp_stdio import SERVER, stdio_session

pytestmark = pytest.mark.anyio

CORE = {"tasks_list", "tasks_get", "tasks_claim", "tasks_status", "tasks_result", "tasks_comment", "quality_check"}
SPEC_TEN = {
    "tasks_list", "tasks_get", "tasks_create", "tasks_update", "tasks_status", "tasks_assign", "tasks_result",
    "tasks_execute", "tasks_delete", "tasks_statistics",
}
STANDARD = SPEC_TEN | {"tasks_claim", "tasks_comment", "quality_check"}
EVERY = STANDARD | {"contracts_list", "contracts_validate"}
TARGETS = {"core": 5_000, "standard": 9_000}  # bytes, model-facing (issue 26)


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


async def _listed(tmp_path, **settings):
    env = {"DATABASE_URL": f"sqlite://{tmp_path / 'never-opened.db'}", "HOME": str(tmp_path), **settings}
    async with Client(build_server(load_config(env))) as client:
        return (await client.list_tools()).tools, (await client.list_prompts()).prompts


def _model_facing(tools) -> int:
    return _size([{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools])


@pytest.mark.parametrize("profile, expected", [("core", CORE), ("standard", STANDARD), ("all", EVERY)])
async def test_each_profile_offers_its_tools(tmp_path, profile, expected):
    tools, _ = await _listed(tmp_path, MCP_TASKS_TOOLS=profile)
    assert {t.name for t in tools} == expected
    assert len(CORE) <= 7


async def test_the_core_tools_ask_claude_code_to_keep_them_loaded(tmp_path):
    """Claude Code defers MCP tools behind tool search unless _meta["anthropic/alwaysLoad"] is true."""
    tools, _ = await _listed(tmp_path, MCP_TASKS_TOOLS="all")
    marked = {t.name for t in tools if (t.meta or {}).get("anthropic/alwaysLoad") is True}
    assert marked == CORE


async def test_the_default_profile_is_standard(tmp_path):
    tools, prompts = await _listed(tmp_path)
    assert {t.name for t in tools} == STANDARD
    assert {p.name for p in prompts} == {"work_on_task", "triage_pending"}


@pytest.mark.parametrize("profile", ["core", "standard"])
async def test_the_model_facing_bytes_of_each_profile_are_within_the_target(tmp_path, profile):
    tools, _ = await _listed(tmp_path, MCP_TASKS_TOOLS=profile)
    size = _model_facing(tools)
    per_tool = ", ".join(f"{t.name} {_model_facing([t]) - 2}" for t in sorted(tools, key=lambda t: -_model_facing([t])))
    print(f"\n{profile}: {len(tools)} tools, {size:,} bytes model-facing, target {TARGETS[profile]:,}, "
          f"margin {TARGETS[profile] - size:,}. Per tool: {per_tool}")
    assert size <= TARGETS[profile], f"{profile} is {size:,} bytes, over {TARGETS[profile]:,}: {per_tool}"


async def test_a_list_of_names_mixes_profiles_and_tools_and_ignores_case_and_spaces(tmp_path):
    tools, prompts = await _listed(tmp_path, MCP_TASKS_TOOLS=" Core , tasks_create")
    assert {t.name for t in tools} == CORE | {"tasks_create"}
    assert [p.name for p in prompts] == ["work_on_task"], "triage needs tools core leaves out"


async def test_a_tool_left_out_is_refused_with_how_to_offer_it(tmp_path):
    env = {"DATABASE_URL": f"sqlite://{tmp_path / 'tasks.db'}", "HOME": str(tmp_path), "MCP_TASKS_TOOLS": "core"}
    async with Client(build_server(load_config(env))) as client:
        result = await client.call_tool("tasks_delete", {"id": 1})
    text = result.content[0].text
    assert result.is_error and text.startswith("[forbidden] tasks_delete is not offered"), text
    assert "MCP_TASKS_TOOLS=core" in text and "all" in text, text


@pytest.mark.parametrize("how", ["environment", "command line"])
def test_an_unknown_name_is_refused_at_start_with_every_name(tmp_path, how):
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    args = [sys.executable, str(SERVER)]
    if how == "environment":
        env["MCP_TASKS_TOOLS"] = "core,tasks_delet"
    else:
        args += ["--tools", "core,tasks_delet"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "'tasks_delet'" in done.stderr and "neither a profile nor a tool" in done.stderr, done.stderr
    for name in ("core", "standard", "all", *sorted(EVERY)):
        assert name in done.stderr, (name, done.stderr)
    assert done.stdout == ""


async def test_the_command_line_profile_over_stdio(tmp_path):
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    env.pop("MCP_TASKS_TOOLS")
    async with stdio_session(env) as session:
        default = {t.name for t in (await session.list_tools()).tools}
    assert default == STANDARD
    env["MCP_TASKS_TOOLS"] = "core"
    async with stdio_session(env) as session:
        assert {t.name for t in (await session.list_tools()).tools} == CORE


async def test_an_http_connection_narrows_its_tools_with_the_x_mcp_tools_header(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_TASKS_TOOLS="standard")) as server:
        async with http_session(server.url, None, headers={"X-MCP-Tools": "core"}) as worker:
            assert {t.name for t in (await worker.list_tools()).tools} == CORE
            refused = await worker.call_tool("tasks_create", {"title": "not from a worker"})
            assert refused.is_error and "X-MCP-Tools" in refused.content[0].text, refused.content
            assert not (await worker.call_tool("tasks_list", {})).is_error
        async with http_session(server.url, None) as lead:
            assert {t.name for t in (await lead.list_tools()).tools} == STANDARD
            assert not (await lead.call_tool("tasks_create", {"title": "from the lead"})).is_error
        # The header narrows what the server offers; it cannot add what MCP_TASKS_TOOLS left out.
        async with http_session(server.url, None, headers={"X-MCP-Tools": "all"}) as greedy:
            assert {t.name for t in (await greedy.list_tools()).tools} == STANDARD
        async with http_session(server.url, None, headers={"X-MCP-Tools": "core,nonsense"}) as wrong:
            with pytest.raises(Exception, match="nonsense"):
                await wrong.list_tools()
