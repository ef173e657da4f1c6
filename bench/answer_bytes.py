"""What an agent pays in context (issue 26): bytes of tools/list per profile, of a page of 50
realistic tasks at each detail level, and of tasks_get on a busy task.

    python bench/answer_bytes.py                                  # this checkout
    python bench/answer_bytes.py --server /tmp/before/server.py   # another (e.g. git archive 0579c51)

Each server runs over stdio on a fresh SQLite file, driven by the SDK's client. The tasks
are tests/support/realistic_tasks.py's (a 250-character description, a priority, one label),
as in tests/e2e/test_compact_answers.py. Figures: "model-facing" is name + description +
inputSchema as compact JSON (what a client hands the model every turn; the measure of
tests/e2e/test_tool_budget.py), "whole" the tools/list result; a page's "text" is its text
block, the part a model reads. A server that does not know MCP_TASKS_TOOLS lists every tool
under every profile, and one that does not know `detail` refuses it: shown as such.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from latency_bench import _env  # noqa: E402
from tests.support.realistic_tasks import realistic_task  # noqa: E402

PROFILES = ("core", "standard", "all")
BUSY = {"comments": 150, "results": 15, "subtasks": 120}  # a task that has been worked on for weeks


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


async def _session(server: Path, env: dict, run):
    params = StdioServerParameters(command=sys.executable, args=[str(server)], env=env, cwd=str(server.parent))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await run(session)


async def measure(server: Path) -> dict:
    figures: dict = {"tools": {}, "page": {}, "get": {}}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**_env(f"sqlite://{tmp}/tasks.db"), "HOME": tmp}
        for profile in PROFILES:
            async def listing(session):
                return (await session.list_tools()).tools

            tools = await _session(server, {**env, "MCP_TASKS_TOOLS": profile}, listing)
            facing = _size([{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools])
            whole = _size({"tools": [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools]})
            figures["tools"][profile] = (len(tools), facing, whole)

        async def work(session):
            async def call(name, **args):
                result = await session.call_tool(name, args)
                text = "".join(getattr(c, "text", "") for c in result.content)
                return result, text

            for n in range(50):
                await call("tasks_create", **realistic_task(n))
            for detail in (None, "compact", "summary"):
                result, text = await call("tasks_list", limit=50, **({"detail": detail} if detail else {}))
                figures["page"][detail or "(default)"] = None if result.is_error else (
                    len(text.encode("utf-8")), _size(result.structured_content))
            busy = (await call("tasks_create", title="Keep the nightly export running"))[0].structured_content["id"]
            for n in range(BUSY["subtasks"]):
                await call("tasks_create", title=f"Nightly export, night {n}", parent_task_id=busy)
            for n in range(BUSY["results"]):
                await call("tasks_result", id=busy, response=f"Night {n}: exported 12,345 rows in 41 s; 3 retries.",
                           executor="claude", executor_type="claude", tokens_input=1200, tokens_output=300)
            for n in range(BUSY["comments"]):
                await call("tasks_comment", id=busy, content=f"Night {n}: the export ran late again; the queue was full at 02:00.")
            result, text = await call("tasks_get", id=busy)
            task = result.structured_content
            figures["get"] = (len(text.encode("utf-8")), len(task["comments"]), len(task["results"]), len(task["subtasks"]),
                              task.get("more"))

        await _session(server, {**env, "MCP_TASKS_TOOLS": "all"}, work)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", type=Path, default=REPO / "server.py")
    args = parser.parse_args(argv)
    figures = anyio.run(measure, args.server.resolve())
    print(f"server: {args.server}\n")
    print("| profile | tools | model-facing bytes | whole tools/list bytes |\n|---|---:|---:|---:|")
    for profile, (count, facing, whole) in figures["tools"].items():
        print(f"| {profile} | {count} | {facing:,} | {whole:,} |")
    print("\n| page of 50, detail | text bytes | structuredContent bytes |\n|---|---:|---:|")
    for detail, value in figures["page"].items():
        print(f"| {detail} | " + (f"{value[0]:,} | {value[1]:,} |" if value else "refused (unknown argument) | |"))
    size, comments, results, subtasks, more = figures["get"]
    print(f"\ntasks_get of a task with {BUSY['comments']} comments, {BUSY['results']} results, {BUSY['subtasks']} subtasks: "
          f"{size:,} bytes of text; it lists {comments} comments, {results} results, {subtasks} subtasks; more: {more}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
