"""A brake on guessing API keys at /mcp: the board's sign-in throttle, applied to bearer keys.

Without it a client could try about a thousand keys a second against /mcp (issue 22), while
the board's POST /login paused after five. Here every 401 that /mcp answers to a request that
carried an Authorization header counts as a failed try for the client's address, in the same
throttle the board uses (web/login_throttle.py, passed in by server_commands, which shares
one instance between the two doors): past its limit the address (or, past the overall
limit, everyone) gets 429 with Retry-After, without its key being looked at, until the
oldest counted failure leaves the window. A request without any key is not a guess and is
not counted; a right key is never counted.

An ASGI wrapper, so it knows nothing of how a key is checked (API keys today, OAuth tokens
later): only the status the app answers.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import mcp_types as types

log = logging.getLogger("mcp-tasks.http")


class Throttle(Protocol):
    def retry_after(self, address: str) -> tuple[int, bool]: ...

    def failed(self, address: str) -> None: ...


def throttle_bearer_keys(app: Any, throttle: Throttle, path: str = "/mcp") -> Any:
    """`app` with failed bearer keys at `path` counted, and refused past the throttle's limit."""

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(path):
            await app(scope, receive, send)
            return
        address = (scope.get("client") or ("",))[0] or ""
        wait, everyone = throttle.retry_after(address)
        if wait:
            await _refuse(send, wait, everyone)
            return
        presented = any(name == b"authorization" for name, _ in scope.get("headers", ()))

        async def counting_send(message: dict) -> None:
            if presented and message["type"] == "http.response.start" and message["status"] == 401:
                throttle.failed(address)
                if throttle.retry_after(address)[0]:
                    log.warning("/mcp: unknown bearer keys from %s; its requests are paused (like the board's sign-in)", address)
            await send(message)

        await app(scope, receive, counting_send)

    return guarded


async def _refuse(send: Any, wait: int, everyone: bool) -> None:
    until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + wait))
    whose = "from all addresses" if everyone else "from your address"
    message = (
        f"Too many requests with an unknown API key {whose}; nothing was read. Try again after {until} (in {wait} s) "
        "with one of the server's keys (MCP_API_KEYS), sent as 'Authorization: Bearer <key>'."
    )
    body = types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=-32600, message=message))
    data = body.model_dump_json(by_alias=True, exclude_unset=True).encode()
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        (b"retry-after", str(wait).encode()),
    ]})
    await send({"type": "http.response.body", "body": data})
