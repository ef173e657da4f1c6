"""A cap on the stateful HTTP sessions one API key may hold open at once.

The SDK's StreamableHTTPSessionManager limits the sessions of all clients together
(`max_sessions`, 10,000 by default): one key opening sessions and never closing them took
every slot, and every other key got 503. Here a key at its own cap
(MCP_HTTP_MAX_SESSIONS_PER_KEY) gets 429 for a new session, and the other keys keep
working. Without API keys (loopback) all clients count as one. Idle sessions are closed
by the SDK after MCP_HTTP_SESSION_IDLE_TIMEOUT, which frees their slots.

The SDK admits a session in `_admit_session(requestor)`, under its session-creation lock,
and records each session's principal in `_session_owners`: the cap is checked there, so
concurrent openings cannot slip past it. (Both are private: transports/sdk_private.py holds
them, and tests/unit/test_sdk_private.py fails by name if a new SDK version changes them.)
"""
from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
from starlette.responses import Response

from transports.sdk_private import admitted_sessions, wrap_session_admission

log = logging.getLogger("mcp-tasks.http")


class _OverCap(Exception):
    def __init__(self, who: str, limit: int):
        super().__init__(who)
        self.who, self.limit = who, limit


def cap_sessions_per_key(manager: Any, limit: int) -> None:
    """Install the per-key cap on a (stateful) StreamableHTTPSessionManager."""
    def within_cap(admit: Any) -> Any:
        def admit_within_cap(requestor: Any) -> Any:
            instances, owners = admitted_sessions(manager)
            if requestor is not None:
                held = sum(1 for owner in owners.values() if owner == requestor)
            else:
                held = len(instances) - len(owners)
            if held >= limit:
                raise _OverCap((requestor or {}).get("client_id") or "unauthenticated clients", limit)
            return admit(requestor)

        return admit_within_cap

    inner = manager.asgi_app

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await inner(scope, receive, send)
        except _OverCap as over:
            log.warning("refused a new HTTP session for %s: at its cap of %d open sessions (MCP_HTTP_MAX_SESSIONS_PER_KEY)", over.who, over.limit)
            message = (
                f"Too many open sessions for this API key ({over.limit}, MCP_HTTP_MAX_SESSIONS_PER_KEY). Close sessions "
                "you no longer use (HTTP DELETE with their Mcp-Session-Id) or reuse one; idle sessions close by themselves "
                "after MCP_HTTP_SESSION_IDLE_TIMEOUT."
            )
            body = types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=-32600, message=message))
            response = Response(
                body.model_dump_json(by_alias=True, exclude_unset=True), status_code=429,
                media_type="application/json", headers={"Retry-After": "60"},
            )
            await response(scope, receive, send)

    wrap_session_admission(manager, within_cap)
    manager.asgi_app = asgi_app
