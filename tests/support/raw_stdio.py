"""The server as a subprocess spoken to in raw JSON-RPC over its pipes, for tests that
must know its pid and kill it (SIGKILL) at a moment of their choosing, with requests
still in flight.

    with RawServer(env) as server:
        server.initialize()
        task = server.tool("tasks_create", title="x")          # waits for the answer
        ids = [server.send_tool("tasks_claim", ...) for ...]    # no waiting
        server.wait_for_responses(50)
        server.kill()                                            # SIGKILL, reaped

A reader thread collects every response by id; nothing here blocks without a bound.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.mcp_stdio import SERVER

PROTOCOL = "2025-06-18"


class ServerGone(Exception):
    """The process ended (or was killed) before it answered."""


class RawServer:
    def __init__(self, env: dict[str, str], errlog: Path | None = None):
        self._errlog = open(errlog, "ab") if errlog else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errlog,
            env=env, cwd=str(SERVER.parent),
        )
        self.pid = self.proc.pid
        self.responses: dict[int, dict[str, Any]] = {}
        self.anonymous_errors: list[dict[str, Any]] = []  # error answers with "id": null
        self._next_id = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def __enter__(self) -> "RawServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- wire --------------------------------------------------------------------------------

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours to judge here; test_stdio checks stdout is pure JSON-RPC
            if "id" in message and ("result" in message or "error" in message):
                with self._changed:
                    if message["id"] is None:
                        self.anonymous_errors.append(message)
                    else:
                        self.responses[message["id"]] = message
                    self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def _write(self, message: dict[str, Any]) -> None:
        self.write_raw((json.dumps(message) + "\n").encode())

    def write_raw(self, data: bytes) -> None:
        """Bytes as they are, for lines no client would send (end them with a newline)."""
        with self._send_lock:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                raise ServerGone(f"server {self.pid} no longer reads its stdin") from exc

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)
        return request_id

    def notify(self, method: str) -> None:
        self._write({"jsonrpc": "2.0", "method": method})

    def wait(self, request_id: int, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while request_id not in self.responses:
                if self._eof:
                    raise ServerGone(f"server {self.pid} ended before answering request {request_id}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"server {self.pid} did not answer request {request_id} within {timeout} s")
                self._changed.wait(left)
            return self.responses[request_id]

    def wait_for_anonymous_errors(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Until `count` error answers with "id": null have arrived; all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.anonymous_errors) < count:
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    raise TimeoutError(f"{len(self.anonymous_errors)} of {count} id-less error answers within {timeout} s")
                self._changed.wait(left)
            return list(self.anonymous_errors)

    def wait_for_responses(self, count: int, timeout: float = 30.0) -> int:
        """Until at least `count` responses have arrived; returns how many have."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.responses) < count and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"only {len(self.responses)} of {count} responses within {timeout} s")
                self._changed.wait(left)
            return len(self.responses)

    # ---- MCP ---------------------------------------------------------------------------------

    def initialize(self, timeout: float = 30.0) -> dict[str, Any]:
        reply = self.wait(
            self.send("initialize", {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}),
            timeout,
        )
        self.notify("notifications/initialized")
        return reply["result"]

    def send_tool(self, name: str, **arguments: Any) -> int:
        return self.send("tools/call", {"name": name, "arguments": arguments})

    def call_tool(self, name: str, timeout: float = 30.0, **arguments: Any) -> dict[str, Any]:
        """The CallToolResult as a dict (isError, content, structuredContent)."""
        reply = self.wait(self.send_tool(name, **arguments), timeout)
        assert "result" in reply, reply
        return reply["result"]

    def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool that must succeed; its structured content."""
        result = self.call_tool(name, **arguments)
        assert not result.get("isError"), (name, arguments, result["content"])
        return result["structuredContent"]

    # ---- ending ------------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, open transactions are cut off where they stand."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill()
        finally:
            if self.proc.poll() is None:
                self.kill()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
            if self._errlog is not subprocess.DEVNULL:
                self._errlog.close()
