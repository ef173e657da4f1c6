"""Raw JSON-RPC over 2026-07-28 streamable HTTP, for what the SDK's client does not send
(extension methods, a CreateTaskResult read as it is): one POST per request, the headers the
spec asks for (MCP-Protocol-Version, Mcp-Method, Mcp-Name) and the per-request `_meta`.

    answer = rpc(url, "tasks/get", {"taskId": tid}, key=KEY)   # the JSON-RPC response object
"""
from __future__ import annotations

import itertools
import json
from typing import Any

import requests

VERSION = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
_ids = itertools.count(1)


def rpc(
    url: str, method: str, params: dict[str, Any] | None = None, *, key: str | None = None, tasks: bool = True,
    capabilities: dict[str, Any] | None = None, client: str = "raw-client", name: str | None = None, timeout: float = 60,
) -> dict[str, Any]:
    """Send one request; return the JSON-RPC response (with "result" or "error").
    tasks: declare the Tasks extension in this request's client capabilities.
    name: the Mcp-Name header (default: params' name for tools/call, taskId for tasks/*)."""
    params = dict(params or {})
    caps = dict(capabilities or {})
    if tasks:
        caps.setdefault("extensions", {})[TASKS] = {}
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1.0"},
    }
    headers = {
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION, "Mcp-Method": method,
    }
    if name is None:
        name = params.get("name") if method == "tools/call" else params.get("taskId")
    if name is not None:
        headers["Mcp-Name"] = str(name)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request_id = next(_ids)
    response = requests.post(
        url, data=json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}),
        headers=headers, timeout=timeout,
    )
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("id") == request_id:
                    return message
        raise AssertionError(f"no response to {method} in the stream: {response.text[:500]}")
    assert response.headers.get("content-type", "").startswith("application/json"), (response.status_code, response.text[:500])
    return response.json()


def listen(url: str, notifications: dict[str, Any], *, until, key: str | None = None, tasks: bool = True,
           client: str = "raw-client", seconds: float = 60) -> list[dict[str, Any]]:
    """Open a `subscriptions/listen` stream and return its messages, in order, up to and
    including the first for which `until(message)` is true (or all of them after `seconds`)."""
    caps: dict[str, Any] = {"extensions": {TASKS: {}}} if tasks else {}
    params = {"notifications": notifications, "_meta": {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1.0"},
    }}
    headers = {
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION, "Mcp-Method": "subscriptions/listen",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": "subscriptions/listen", "params": params})
    messages: list[dict[str, Any]] = []
    with requests.post(url, data=body, headers=headers, stream=True, timeout=(10, seconds)) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            return [response.json()]
        import time

        deadline = time.monotonic() + seconds
        for line in response.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                messages.append(json.loads(line[5:]))
                if until(messages[-1]):
                    break
            if time.monotonic() > deadline:
                break
    return messages
