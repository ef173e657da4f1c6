"""The SDK's private handles that transports/sdk_private.py reaches, each checked by name
against the installed SDK, and that no other module of ours reaches one itself.

An SDK upgrade that renames or moves one fails here, in the test named after it, rather
than in a transport at run time. The checks use the SDK's real objects: a real MCPServer,
a real in-process client session, a real StreamableHTTPSessionManager.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from transports import sdk_private

ROOT = Path(__file__).resolve().parents[2]


def test_mcp_server_keeps_its_tool_manager_in_tool_manager():
    server = MCPServer("probe")

    @server.tool()
    def probe() -> str:
        """A tool to find."""
        return "ok"

    manager = sdk_private.tool_manager(server)
    assert [tool.name for tool in manager.list_tools()] == ["probe"], "MCPServer._tool_manager.list_tools() moved"
    tool = manager.get_tool("probe")
    assert tool.fn_metadata.arg_model is not None and isinstance(tool.parameters, dict), "Tool.fn_metadata/parameters moved"


def test_mcp_server_keeps_its_lowlevel_server_in_lowlevel_server():
    low = sdk_private.lowlevel_server(MCPServer("probe"))
    for name in ("add_request_handler", "get_capabilities", "run", "create_initialization_options"):
        assert callable(getattr(low, name, None)), f"MCPServer._lowlevel_server.{name} moved"


def test_context_streams_come_from_mcp_shared_context_streams():
    send, receive = sdk_private.create_context_streams[str](0)
    send.close()
    receive.close()


def test_http_session_manager_admits_sessions_in_admit_session_and_records_owners_and_instances():
    manager = StreamableHTTPSessionManager(app=sdk_private.lowlevel_server(MCPServer("probe")))
    instances, owners = sdk_private.admitted_sessions(manager)
    assert instances == {} and owners == {}, "StreamableHTTPSessionManager._server_instances/_session_owners moved"
    assert list(inspect.signature(manager._admit_session).parameters) == ["requestor"], (
        "StreamableHTTPSessionManager._admit_session(requestor) changed"
    )
    seen = []
    sdk_private.wrap_session_admission(manager, lambda admit: lambda requestor: seen.append(admit) or "admitted")
    assert manager._admit_session(None) == "admitted" and callable(seen[0])


@pytest.mark.anyio
async def test_a_tool_call_reaches_its_request_context_and_the_session_connection():
    server = MCPServer("probe")
    found: dict = {}

    @server.tool()
    def probe(ctx: Context) -> str:
        """Look at the context."""
        found["private"] = "_request_context" in (getattr(ctx, "__pydantic_private__", None) or {})
        found["same"] = sdk_private.request_context(ctx) is ctx.request_context
        connection = sdk_private.session_connection(ctx.request_context.session)
        found["exit_stack"] = callable(getattr(getattr(connection, "exit_stack", None), "callback", None))
        return "ok"

    async with Client(server) as client:
        result = await client.call_tool("probe", {})
    assert not result.is_error, result
    assert found["private"], "Context.__pydantic_private__['_request_context'] moved (request_context's fast path)"
    assert found["same"]
    assert found["exit_stack"], "ServerSession._connection.exit_stack moved (the subscriptions' session key)"


def test_no_module_of_ours_but_sdk_private_reaches_a_private_sdk_handle():
    handles = re.compile(
        r"\._(tool_manager|lowlevel_server|connection|admit_session|session_owners|server_instances)\b"
        r"|__pydantic_private__|from mcp[\w.]*\._|import mcp[\w.]*\._"
    )
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("bench", "scripts", "build") or relative.parts[0].startswith("."):
            continue
        if relative in (Path("transports/sdk_private.py"), Path(__file__).relative_to(ROOT)):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if handles.search(line) and "self._connection" not in line:
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "private SDK handles outside transports/sdk_private.py:\n" + "\n".join(offenders)
