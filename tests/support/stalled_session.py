"""A streamable-HTTP MCP session whose client stops reading: the listener that falls behind.

    stalled = StalledSession(url, key=None)
    stalled.open()                          # initialize, initialized
    stalled.subscribe([f"task://{n}" for n in range(1, 1001)])
    stalled.stop_reading()                  # a GET stream on a socket nobody reads
    ...
    stalled.close()

probe_latencies() runs the whole scene of issue 22 (a stalled session, a writer, two healthy
listeners) against a server; tests/e2e/test_stalled_listener.py and
bench/stalled_listener_bench.py use it.

Raw sockets, so the receive buffer can be made small and the stream truly left unread (an
HTTP library would read it for us). Every request is a short POST whose whole answer is
read (JSON or one SSE event); only the GET stream is left unread. Each socket has a timeout.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

PROTOCOL = "2025-06-18"
TIMEOUT = 30.0


class StalledSession:
    def __init__(self, url: str, key: str | None = None):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/mcp"
        self.key = key
        self.session_id: str | None = None
        self._next_id = 0
        self._stream: socket.socket | None = None

    def _headers(self, extra: dict[str, str]) -> str:
        headers = {"Host": f"{self.host}:{self.port}", "Accept": "application/json, text/event-stream", **extra}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
            headers["Mcp-Protocol-Version"] = PROTOCOL
        return "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    def post(self, message: dict) -> tuple[int, dict[str, str], bytes]:
        """One POST on its own connection; (status, headers, body), the body read to its end."""
        body = json.dumps(message).encode()
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as conn:
            head = self._headers({"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"})
            conn.sendall(f"POST {self.path} HTTP/1.1\r\n{head}\r\n".encode() + body)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        raw_head, _, payload = data.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return int(lines[0].split()[1]), headers, payload

    def request(self, method: str, params: dict | None = None) -> int:
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        status, headers, body = self.post(message)
        if status != 200:
            raise AssertionError(f"{method}: HTTP {status}: {body[:300]!r}")
        if "error" in body.decode("utf-8", "replace") and '"result"' not in body.decode("utf-8", "replace"):
            raise AssertionError(f"{method}: {body[:300]!r}")
        if self.session_id is None:
            self.session_id = headers.get("mcp-session-id")
        return status

    def open(self) -> None:
        self.request("initialize", {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "stalled", "version": "0"}})
        status, _, body = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert status in (200, 202), (status, body)

    def subscribe(self, uris: list[str]) -> None:
        for uri in uris:
            self.request("resources/subscribe", {"uri": uri})

    def stop_reading(self) -> None:
        """Open the session's GET stream with a small receive buffer, and never read it."""
        conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.settimeout(TIMEOUT)
        conn.connect((self.host, self.port))
        conn.sendall(f"GET {self.path} HTTP/1.1\r\n{self._headers({'Accept': 'text/event-stream'})}\r\n".encode())
        status = conn.recv(12)  # "HTTP/1.1 200": the stream is open; nothing more is read from here on
        if status[9:12] != b"200":
            raise AssertionError(f"the GET stream was refused: {status!r}")
        self._stream = conn

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


PROBE = 900_000  # the task id the probes change; the writer's changes never touch it


class ChangeWriter(threading.Thread):
    """`burst` changes to tasks 1..tasks every `every` seconds, until stopped: feed rows, as any
    process's writes leave them (what infrastructure/change_feed.record_change inserts)."""

    def __init__(self, db: Any, tasks: int, burst: int, every: float):
        super().__init__(daemon=True)
        self.db, self.tasks, self.burst, self.every = db, tasks, burst, every
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        while not self.stop.is_set():
            def many(tx: Any, start: int = self.written) -> None:
                # One multi-row INSERT of what record_change writes row by row: fast enough on MariaDB too.
                ids = [(start + i) % self.tasks + 1 for i in range(self.burst)]
                rows = ", ".join(f"(%s, 'comment', 'stalled-writer', {tx.now})" for _ in ids)
                tx.execute(f"INSERT INTO task_changes (task_id, kind, actor, changed_at) VALUES {rows}", ids)

            self.db.write(many)
            self.written += self.burst
            self.stop.wait(self.every)


async def probe_latencies(url: str, db: Any, *, subscriptions: int = 1000, stall: bool = True, burst: int = 1000,
                          every: float = 0.25, samples: int = 10, interval: float = 1.5, timeout: float = 10.0,
                          warmup: float = 10.0, calm_burst: int | None = None) -> dict[str, Any]:
    """On the HTTP server at `url`: a stalled session holding `subscriptions` subscriptions (unless
    not `stall`), a ChangeWriter on their tasks, and two healthy listeners of task://PROBE (a
    handshake-era session and a subscriptions/listen stream). After `warmup` seconds, `samples`
    probe changes to PROBE; for each listener, the seconds until it was told of each (None: not
    within `timeout`). calm_burst: the writer's burst while probing (default: `burst`), so
    a loaded machine measures the listeners rather than its own backlog; the stalled session
    stays stalled. {"session": [...], "listen": [...], "changes": rows written}."""
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from infrastructure.change_feed import record_change

    probe_uri = f"task://{PROBE}"
    heard: dict[str, list[float]] = {"session": [], "listen": []}
    results: dict[str, Any] = {"session": [], "listen": []}

    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/resources/updated" and str(message.params.uri) == probe_uri:
            heard["session"].append(time.monotonic())

    writer = ChangeWriter(db, subscriptions, burst, every)
    stalled = StalledSession(url)
    timeouts = httpx2.Timeout(30, read=600)
    try:
        async with httpx2.AsyncClient(timeout=timeouts) as http_a, httpx2.AsyncClient(timeout=timeouts) as http_b, \
                Client(streamable_http_client(url, http_client=http_a), mode="legacy", message_handler=on_message) as healthy, \
                Client(streamable_http_client(url, http_client=http_b), mode="auto") as modern:
            await healthy.session.subscribe_resource(probe_uri)
            async with modern.listen(resource_subscriptions=[probe_uri]) as stream:
                async def drain_listen() -> None:
                    async for event in stream:
                        if event.uri == probe_uri:
                            heard["listen"].append(time.monotonic())

                async with anyio.create_task_group() as tg:
                    tg.start_soon(drain_listen)
                    if stall:
                        await anyio.to_thread.run_sync(stalled.open)
                        await anyio.to_thread.run_sync(stalled.subscribe, [f"task://{n}" for n in range(1, subscriptions + 1)])
                        await anyio.to_thread.run_sync(stalled.stop_reading)
                    writer.start()
                    await anyio.sleep(warmup)
                    writer.burst = calm_burst or burst
                    for _ in range(samples):
                        counts = {k: len(v) for k, v in heard.items()}
                        await anyio.to_thread.run_sync(lambda: db.write(lambda tx: record_change(tx, PROBE, "comment", "probe")))
                        began = time.monotonic()
                        with anyio.move_on_after(timeout):
                            while any(len(heard[k]) == counts[k] for k in heard):
                                await anyio.sleep(0.01)
                        for k in heard:
                            results[k].append(heard[k][counts[k]] - began if len(heard[k]) > counts[k] else None)
                        await anyio.sleep(max(0.0, interval - (time.monotonic() - began)))
                    tg.cancel_scope.cancel()
    finally:
        writer.stop.set()
        if writer.is_alive():
            writer.join(30)
        stalled.close()
    results["changes"] = writer.written
    return results
