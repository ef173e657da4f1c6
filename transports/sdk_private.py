"""Every private handle of the MCP SDK this server uses, in one place.

Each was read from mcp 2.3.0 (the version pyproject.toml pins: mcp>=2.3.0,<2.4), and each
says why no public API does the job. tests/unit/test_sdk_private.py checks every one of them
by name against the installed SDK: an upgrade that renames or moves one fails there, naming
it, instead of somewhere in a transport while a client waits.

Here, in transports/, because both rooms that need them may import it: tools/ (the tool
table, the subscription handlers) and transports/ (stdio, the HTTP session cap). It imports
nothing of ours.
"""
from __future__ import annotations

from typing import Any, Callable

# mcp 2.3.0, mcp/shared/_context_streams.py: the memory streams that carry a request's
# context along with each message; stdio needs the same ones the SDK's own stdio_server makes
# (transports/stdio_transport.py replaces that reader, and there is no public constructor).
from mcp.shared._context_streams import create_context_streams  # noqa: F401 - re-exported

SDK_VERSION = "2.3.0"


def tool_manager(server: Any) -> Any:
    """mcp 2.3.0 `MCPServer._tool_manager`: the registered `Tool` objects themselves (their
    parameters schema, `fn_metadata`, `meta`). The public `list_tools()` is async and answers
    wire types, which cannot be narrowed, given `_meta`, or made strict."""
    return server._tool_manager


def lowlevel_server(server: Any) -> Any:
    """mcp 2.3.0 `MCPServer._lowlevel_server`: where `add_request_handler` and
    `get_capabilities` live (resources/subscribe, subscriptions/listen), and what
    `run_stdio_async` drives; MCPServer offers neither a handler hook nor a stdin parameter."""
    return server._lowlevel_server


def session_connection(session: Any, default: Any = None) -> Any:
    """mcp 2.3.0 `ServerSession._connection`: the one object that lives exactly as long as a
    client's session (its `exit_stack` runs when the session ends), which keys the
    handshake-era subscriptions. `ServerRequestContext` has no public `connection`; only the
    MCPServer `Context` has one. `default`: what a session without one stands for."""
    return getattr(session, "_connection", default) if default is not None else session._connection


def request_context(ctx: Any) -> Any:
    """mcp 2.3.0 `Context._request_context` (a pydantic private attribute): the public
    `ctx.request_context` property goes through BaseModel.__getattr__ twice, ~4 us a time on
    every call, for a dict lookup. Falls back to the property where the slot is missing."""
    private = getattr(ctx, "__pydantic_private__", None)
    found = private.get("_request_context") if isinstance(private, dict) else None
    return found if found is not None else ctx.request_context


def admitted_sessions(manager: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """mcp 2.3.0 `StreamableHTTPSessionManager._server_instances` (session id → transport)
    and `._session_owners` (session id → the principal that opened it): the only record of
    who holds which session; the manager's public `max_sessions` counts all clients as one."""
    return manager._server_instances, manager._session_owners


def wrap_session_admission(manager: Any, wrap: Callable[[Callable[[Any], Any]], Callable[[Any], Any]]) -> None:
    """mcp 2.3.0 `StreamableHTTPSessionManager._admit_session(requestor)`: called under the
    manager's session-creation lock for every new session, so a check placed there cannot be
    raced by concurrent openings. `wrap` gets the SDK's function and returns the one to use."""
    manager._admit_session = wrap(manager._admit_session)
