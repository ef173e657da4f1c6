"""The Tasks extension's two hot paths over 2026-07-28 streamable HTTP (issue 27):

- call -> CreateTaskResult: a `tools/call` of quality_check (a one-file project) from a client
  that declares io.modelcontextprotocol/tasks, until the answer has arrived. The record is
  committed before the answer leaves (infrastructure/task_runs.py), so this includes the
  durable write; the check itself runs after, in the background.
- tasks/get: of a completed record, by a random one of the tasks created above.
- floor: a plain `tools/call` of tasks_get (one small read), the same client, the same path.

    python bench/task_extension_bench.py --database-url mysql://root@127.0.0.1:3306/mcp_bench_27 [--calls 300]
    python bench/task_extension_bench.py --database-url sqlite:///tmp/mcp_bench_27.db

The server runs as a subprocess (`server.py --transport http`) on a free loopback port; the
client is `requests` with one keep-alive connection (raw JSON-RPC: the SDK's client has no
tasks support). Times are perf_counter round trips in the client, in milliseconds. The
database must exist (MariaDB) and is migrated by the server's init-db first.
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
VERSION = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    env = {"DATABASE_URL": args.database_url, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, str(REPO / "server.py"), "init-db"], env=env, check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="bench27-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        (project / "ok.py").write_text("x = 1\n")
        env.update(HOME=tmp, QUALITY_ALLOWED_PATHS=str(project))
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, str(REPO / "server.py"), "--transport", "http", "--port", str(port)],
            env=env, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            client = Client(f"http://127.0.0.1:{port}/mcp")
            client.wait_until_up()
            task = client.call("tools/call", {"name": "tasks_create", "arguments": {"title": "bench 27"}})
            task_number = task["structuredContent"]["id"]

            created_ms, keys = [], []
            for i in range(args.warmup + args.calls):
                started = time.perf_counter()
                answer = client.call("tools/call", {"name": "quality_check", "arguments": {"path": str(project)}})
                elapsed = (time.perf_counter() - started) * 1000
                assert answer["resultType"] == "task", answer
                keys.append(answer["taskId"])
                if i >= args.warmup:
                    created_ms.append(elapsed)
            _wait_all_done(client, keys)

            get_ms, floor_ms = [], []
            rng = random.Random(27)
            for i in range(args.warmup + args.calls):
                key = rng.choice(keys)
                started = time.perf_counter()
                answer = client.call("tasks/get", {"taskId": key}, name=key)
                elapsed = (time.perf_counter() - started) * 1000
                assert answer["status"] == "completed", answer
                if i >= args.warmup:
                    get_ms.append(elapsed)
                started = time.perf_counter()
                client.call("tools/call", {"name": "tasks_get", "arguments": {"id": task_number}})
                if i >= args.warmup:
                    floor_ms.append((time.perf_counter() - started) * 1000)
        finally:
            server.terminate()
            server.wait(10)
    print(f"database: {args.database_url.split('@')[-1]}; {args.calls} timed calls each (after {args.warmup} untimed)")
    print("| case | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    for name, values in (("call -> CreateTaskResult (quality_check)", created_ms), ("tasks/get (completed)", get_ms),
                         ("floor: tools/call tasks_get", floor_ms)):
        print(f"| {name} | {_pct(values, 50):.2f} | {_pct(values, 95):.2f} | {_pct(values, 99):.2f} |")
    return 0


class Client:
    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()
        self.next_id = 0

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call("server/discover", {})
                return
            except (requests.ConnectionError, AssertionError):
                time.sleep(0.1)
        raise SystemExit("the server did not answer within 30 s")

    def call(self, method: str, params: dict, name: str | None = None) -> dict:
        self.next_id += 1
        params = {**params, "_meta": {
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}},
            "io.modelcontextprotocol/clientInfo": {"name": "bench-27", "version": "1"},
        }}
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": VERSION, "Mcp-Method": method}
        name = name or (params.get("name") if method == "tools/call" else None)
        if name:
            headers["Mcp-Name"] = name
        response = self.http.post(self.url, data=json.dumps(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}), headers=headers, timeout=60)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            message = next(json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:"))
        else:
            message = response.json()
        assert "result" in message, message
        return message["result"]


def _wait_all_done(client: Client, keys: list[str]) -> None:
    deadline = time.monotonic() + 120
    for key in keys:
        while client.call("tasks/get", {"taskId": key}, name=key)["status"] == "working":
            if time.monotonic() > deadline:
                raise SystemExit("the quality checks did not finish within 120 s")
            time.sleep(0.05)


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values[0] if values else float("nan"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
