"""Where a tasks_get call's time goes, without the pipes: the SQL, and the SDK around it.

    python bench/get_breakdown.py --database-url mysql://root@127.0.0.1:3306/mcp_bench_1m

1. The repository alone, in this process: `TaskRepository.get_task` p50 for random ids
   (pages the database must read) and for one id over and over (every page cached).
2. The SDK alone: an in-memory `mcp.Client` against `build_server()` (no process, no pipe),
   tasks_get of that one cached id beside the bare server's ping through the same kind of
   client. Their difference minus (1) is what the SDK and our tool code add for a result
   of this size.
latency_bench.py measures the whole call over stdio; this splits it.
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
from pathlib import Path

import anyio

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from config import load_config  # noqa: E402
from infrastructure.database import Database  # noqa: E402
from infrastructure.task_repository import TaskRepository  # noqa: E402


def p50(fn, calls: int) -> float:
    times = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def sdk_p50(server, tool: str, args: dict, calls: int) -> float:
    from mcp import Client

    from latency_bench import _no_validation

    async with Client(server) as client:
        _no_validation(client.session)
        for _ in range(50):
            await client.call_tool(tool, args)
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            await client.call_tool(tool, args)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    config = load_config({"DATABASE_URL": args.database_url})
    db = Database(config.database, config.database_source)
    repo = TaskRepository(db)
    max_id = int(db.read(lambda tx: tx.value("SELECT MAX(id) AS m FROM tasks")))
    rng = random.Random(1)
    hot = rng.randint(1, max_id)
    for _ in range(20):
        repo.get_task(rng.randint(1, max_id))
    random_ms = p50(lambda i: repo.get_task(rng.randint(1, max_id)), args.calls)
    hot_ms = p50(lambda i: repo.get_task(hot), args.calls)
    db.close()

    from server import build_server

    spec = importlib.util.spec_from_file_location("bare_server", BENCH / "bare_server.py")
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    ping_ms = anyio.run(sdk_p50, bare.mcp, "ping", {"text": "ping"}, args.calls)
    get_ms = anyio.run(sdk_p50, build_server(config), "tasks_get", {"id": hot}, args.calls)

    print(f"{max_id:,} tasks; p50 of {args.calls} calls, ms\n")
    print("| part | p50 ms |\n|---|---:|")
    print(f"| repository get_task, random id (in-process) | {random_ms:.3f} |")
    print(f"| repository get_task, one cached id (in-process) | {hot_ms:.3f} |")
    print(f"| in-memory SDK client: bare ping | {ping_ms:.3f} |")
    print(f"| in-memory SDK client: tasks_get, the cached id | {get_ms:.3f} |")
    print(f"| → SDK and tool code beyond the bare ping, without the SQL | {get_ms - ping_ms - hot_ms:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
