"""The server as a subprocess serving streamable HTTP on a free loopback port, and the
SDK's real client talking to it with a bearer key.

    with http_server(env, "--stateless") as server:     # waits until the port answers
        async with http_session(server.url, key) as client:
            await client.call_tool(...)
    server.stdout_text(), server.stderr_text()            # what the process printed
"""
from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.mcp_stdio import SERVER

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HttpServer:
    url: str
    port: int
    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    final: dict[str, str] | None = None  # what it printed, kept once it has stopped

    def stdout_text(self) -> str:
        return self.final["stdout"] if self.final else self.stdout_path.read_text(errors="replace")

    def stderr_text(self) -> str:
        return self.final["stderr"] if self.final else self.stderr_path.read_text(errors="replace")


@contextmanager
def http_server(env: dict[str, str], *args: str, host: str = "127.0.0.1", server: Path = SERVER) -> Iterator[HttpServer]:
    """`server`: another checkout's server.py (a bench measuring the code before a change)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mcp-http-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(server), "--transport", "http", "--host", host, "--port", str(port), *args],
                env=env, cwd=str(server.parent), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            )
        served = HttpServer(f"http://127.0.0.1:{port}/mcp", port, process, out, err)
        try:
            _wait_until_listening(served)
            yield served
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            served.final = {"stdout": served.stdout_text(), "stderr": served.stderr_text()}


def _wait_until_listening(server: HttpServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the HTTP server exited with {server.process.returncode}:\n{server.stderr_text()}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the HTTP server did not listen within {START_TIMEOUT} s:\n{server.stderr_text()}")


@asynccontextmanager
async def http_session(url: str, key: str | None, mode: str = "legacy", headers: dict[str, str] | None = None,
                       **client_options) -> AsyncIterator[Client]:
    """A connected client; `mode="legacy"` is the initialize handshake (sessions unless the
    server is stateless), `"auto"` lets the SDK pick the newest protocol both sides speak.
    client_options go to the SDK's Client (e.g. elicitation_callback=...)."""
    import httpx2

    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, **client_options) as client:
            yield client


async def call(client: Client, name: str, **args: Any) -> Any:
    """A tool call that must succeed; its structured result."""
    result = await client.call_tool(name, args)
    assert not result.is_error, (name, args, result.content)
    return result.structured_content


async def refused(client: Client, name: str, **args: Any) -> str:
    """A tool call that must be refused; its refusal's text."""
    result = await client.call_tool(name, args)
    assert result.is_error, (name, args, result.structured_content)
    return result.content[0].text
