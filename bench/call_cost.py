"""The cost of a call (issue 16): server CPU per call and client validation CPU, beside the bare SDK.

    python bench/call_cost.py --database-url sqlite:///$PWD/bench/data/bench_1k.db [--rounds 6 --calls 400]
    python bench/call_cost.py --database-url mysql://root@127.0.0.1:3306/mcp_bench_1k --also "before=/tmp/old/server.py"

Every server is started once over stdio and driven by the SDK's own client (`stdio_client`
+ `ClientSession`), as an agent's client is. Then, for `--rounds` rounds, each case makes
`--calls` calls, the servers taking turns within the round (bare, ours, before, bare, ...),
and the server process's CPU (utime + stime of every thread, /proc/<pid>/stat) is read
before and after: CPU ms per call. The table gives the median over rounds of each case,
and the median over rounds of the per-round ratio to the bare server's matching case:
- tasks_get (random ids of the data set) against the bare server's `ping`, and against its
  `ping_db` (the ping plus one `SELECT 1` round trip: the floor of any call that reads the
  database; `bare_server.py --db`);
- tasks_list page of 50 against the bare server's `page` (50 rows of the same fields,
  the SDK's default output schema for them; `bare_server.py --page`).
Client side, for the same two list results: the official client's output-schema check
(`ClientSession.validate_tool_result`, jsonschema), CPU ms per result (thread time,
median of every call of every round); and the bytes on the wire of each result (the
text block, structuredContent as compact JSON, and the whole result).
Also printed: tools/list in bytes, whole and the model-facing part (name, description,
inputSchema; the budget of tests/e2e/test_tool_budget.py); and, for scale, the CPU the
repository's own call takes in this process (`TaskRepository.get_task` / `list_tasks`,
thread time, mean of the same number of calls): the database driver's share, which the
bare server has no counterpart for (PyMySQL parses every packet in Python).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from latency_bench import _env, _no_validation  # noqa: E402

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _children() -> set[int]:
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.add(int(entry.name))
    return found


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS  # utime + stime, every thread


class Server:
    def __init__(self, label: str, session: ClientSession, pid: int, tools: dict):
        self.label, self.session, self.pid, self.tools = label, session, pid, tools


async def start(stack: AsyncExitStack, label: str, script: Path, args: list[str], database_url: str | None) -> Server:
    before = _children()
    params = StdioServerParameters(command=sys.executable, args=[str(script), *args], env=_env(database_url), cwd=str(script.parent))
    read, write = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    _no_validation(session)
    listing = await session.list_tools()
    (pid,) = _children() - before
    return Server(label, session, pid, {t.name: t for t in listing.tools})


async def run_case(server: Server, tool: str, make_args, calls: int, validate: list[float] | None) -> tuple[float, object]:
    last = None
    start_cpu = cpu_ms(server.pid)
    for i in range(calls):
        r = await server.session.call_tool(tool, make_args(i))
        if r.is_error:
            raise RuntimeError(f"{server.label} {tool}: {r.content[0].text if r.content else r}")
        if validate is not None:
            t = time.thread_time()
            await ClientSession.validate_tool_result(server.session, tool, r)
            validate.append((time.thread_time() - t) * 1000)
        last = r
    return (cpu_ms(server.pid) - start_cpu) / calls, last


def _thread_cpu_ms(fn, calls: int) -> float:
    for _ in range(min(calls, 50)):
        fn()
    t = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - t) * 1000 / calls


def _wire(result) -> dict[str, int]:
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    text = sum(len(c.get("text", "").encode()) for c in dumped.get("content", []))
    return {"text": text, "structured": _size(dumped.get("structuredContent")) if "structuredContent" in dumped else 0,
            "whole": _size(dumped)}


async def amain(args) -> int:
    import sqlite3  # noqa: F401 - imported before the first round so it is not timed

    from config import parse_database_url
    from infrastructure.database import Database

    from infrastructure.task_repository import TaskRepository

    db = Database(parse_database_url(args.database_url), "--database-url")
    try:
        max_id = int(db.read(lambda tx: tx.value("SELECT MAX(id) AS m FROM tasks")))
        repo, in_rng = TaskRepository(db), random.Random(2)
        in_process = {
            "tasks_get": _thread_cpu_ms(lambda: repo.get_task(in_rng.randint(1, max_id)), args.calls),
            "tasks_list page 50": _thread_cpu_ms(lambda: repo.list_tasks(limit=50), args.calls),
        }
    finally:
        db.close()
    rng = random.Random(1)
    ours = [("HEAD", REPO / "server.py")] + [(a.split("=", 1)[0], Path(a.split("=", 1)[1]).resolve()) for a in args.also]
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    async with AsyncExitStack() as stack:
        bare = await start(stack, "bare", BENCH / "bare_server.py", ["--page", "--db"], args.database_url)
        servers = [await start(stack, label, path, [], args.database_url) for label, path in ours]
        cases = {  # case -> (tool on our servers, args, the bare case it is measured against)
            "tasks_get": ("tasks_get", lambda i: {"id": rng.randint(1, max_id)}, "ping"),
            "tasks_list page 50": ("tasks_list", lambda i: {"limit": 50}, "page"),
        }
        bare_cases = {"ping": ("ping", lambda i: {"text": "ping"}), "page": ("page", lambda i: {"n": 50}),
                      "ping_db": ("ping_db", lambda i: {"text": "ping"})}
        with_db = {"tasks_get": "ping_db"}  # a second floor: the trivial call plus one database round trip
        cpu: dict[tuple[str, str], list[float]] = {}
        ratios: dict[tuple[str, str], list[float]] = {}
        validation: dict[str, list[float]] = {}
        wire: dict[str, dict[str, int]] = {}
        for server in [bare, *servers]:  # warm-up
            for name, (tool, make, _) in cases.items() if server is not bare else ((n, (*v, None)) for n, v in bare_cases.items()):
                await run_case(server, tool, make, args.warmup, None)
        for rnd in range(args.rounds):
            order = [bare, *servers] if rnd % 2 == 0 else [*reversed(servers), bare]
            this: dict[tuple[str, str], float] = {}
            for server in order:
                if server is bare:
                    for name, (tool, make) in bare_cases.items():
                        v = validation.setdefault("bare page", []) if name == "page" else None
                        this[("bare", name)], last = await run_case(bare, tool, make, args.calls, v)
                        if name == "page":
                            wire["bare page"] = _wire(last)
                else:
                    for name, (tool, make, _) in cases.items():
                        v = validation.setdefault(f"{server.label} page", []) if tool == "tasks_list" else None
                        this[(server.label, name)], last = await run_case(server, tool, make, args.calls, v)
                        if tool == "tasks_list":
                            wire[f"{server.label} page"] = _wire(last)
            for key, value in this.items():
                cpu.setdefault(key, []).append(value)
            for server in servers:
                for name, (_, _, floor) in cases.items():
                    ratios.setdefault((server.label, name), []).append(this[(server.label, name)] / this[("bare", floor)])
                for name, floor in with_db.items():
                    ratios.setdefault((server.label, name + " /db"), []).append(this[(server.label, name)] / this[("bare", floor)])
            print(f"  round {rnd + 1}: " + ", ".join(f"{k[0]} {k[1]} {v:.3f}" for k, v in this.items()), file=sys.stderr, flush=True)
        listings = {"bare": bare.tools, **{s.label: s.tools for s in servers}}
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def q(values: list[float]) -> str:
        lo, hi = min(values), max(values)
        return f"{statistics.median(values):.3f} ({lo:.3f}–{hi:.3f})"

    print(f"\n{args.database_url.split('://')[0]}, {max_id:,} tasks; {args.rounds} rounds × {args.calls} calls per case; "
          f"load average {load_before} → {load_after}\n")
    print("| case | server CPU ms per call, median (min–max) of rounds | ratio to the bare floor, median (min–max) of rounds | repository call alone, in-process CPU ms |")
    print("|---|---:|---:|---:|")
    for name, (_, _, floor) in cases.items():
        print(f"| bare {floor} (floor for {name}) | {q(cpu[('bare', floor)])} | 1 | |")
        for server in servers:
            print(f"| {server.label} {name} | {q(cpu[(server.label, name)])} | **{q(ratios[(server.label, name)])}** | {in_process[name]:.3f} |")
        if name in with_db:
            print(f"| bare {with_db[name]} (ping + one SELECT 1 round trip: the floor of a call that reads the database) | "
                  f"{q(cpu[('bare', with_db[name])])} | {q([a / b for a, b in zip(cpu[('bare', with_db[name])], cpu[('bare', floor)])])} | |")
            for server in servers:
                print(f"| {server.label} {name} against bare {with_db[name]} | | **{q(ratios[(server.label, name + ' /db')])}** | |")
    print("\n| page of 50 | client validation CPU ms, median | ratio to bare | text bytes | structuredContent bytes | whole result bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    floor = statistics.median(validation["bare page"])
    for key, values in validation.items():
        w = wire[key]
        print(f"| {key} | {statistics.median(values):.3f} | {statistics.median(values) / floor:.2f} | {w['text']:,} | {w['structured']:,} | {w['whole']:,} |")
    print("\n| server | tools | tools/list bytes | model-facing bytes | outputSchema bytes |\n|---|---:|---:|---:|---:|")
    for label, tools in listings.items():
        whole = _size({"tools": [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools.values()]})
        facing = _size([{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools.values()])
        outputs = _size([t.output_schema for t in tools.values()])
        print(f"| {label} | {len(tools)} | {whole:,} | {facing:,} | {outputs:,} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--also", action="append", default=[], help="label=path/to/server.py: another server to measure (a checkout of the old code)")
    args = parser.parse_args(argv)
    return anyio.run(amain, args)


if __name__ == "__main__":
    sys.exit(main())
