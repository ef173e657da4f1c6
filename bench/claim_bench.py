"""Claims per second with N agents on MariaDB, through MCP, beside raw SQL.

    .venv/bin/python bench/claim_bench.py [--tasks 2000] [--agents 8] [--database-url mysql://root@127.0.0.1:3306/mcp_bench_claims]

Each agent is a server process (`server.py`, stdio) driven by its own MCP client, all
started and initialised before the clock starts; each claims in a loop until nothing is
left. The baseline is the same work in raw SQL (SELECT ... FOR UPDATE SKIP LOCKED, the
status change, the assignment and the history comment, one transaction) from N processes.
The database named in the URL is dropped and recreated: never point it at real data.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from config import parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402


def reset(url: str, tasks: int) -> None:
    import pymysql

    s = parse_database_url(url)
    admin = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{s.name}`")
        cur.execute(f"CREATE DATABASE `{s.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.close()
    db = Database(s, "DATABASE_URL")
    db.migrate()
    rows = [(f"bench-{i:08d}", f"claim bench task {i}", "bench") for i in range(tasks)]
    db.write(lambda tx: tx._cursor.executemany(
        "INSERT INTO tasks (uuid, title, type, created_by) VALUES (%s, %s, 'ai_task', %s)", rows
    ))
    db.close()


async def through_mcp(url: str, agents: int) -> tuple[int, float]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(ROOT / "server.py")], env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    ready = anyio.Event()
    counts: list[int] = []
    started_count = [0]
    clock: dict[str, float] = {}

    async def agent(n: int) -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session.list_tools()
                started_count[0] += 1
                if started_count[0] == agents:
                    clock["start"] = time.perf_counter()
                    ready.set()
                await ready.wait()
                done = 0
                while True:
                    result = await session.call_tool("tasks_claim", {"assignee": f"agent-{n}", "assignee_type": "claude"})
                    if result.is_error:
                        raise RuntimeError(result.content[0].text)
                    if not result.structured_content["claimed"]:
                        break
                    done += 1
                clock["end"] = max(clock.get("end", 0.0), time.perf_counter())
                counts.append(done)

    async with anyio.create_task_group() as tg:
        for n in range(agents):
            tg.start_soon(agent, n)
    return sum(counts), clock["end"] - clock["start"]


def _raw_worker(url: str, n: int, barrier, out) -> None:
    import pymysql

    s = parse_database_url(url)
    con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True)
    cur = con.cursor()
    done = 0
    barrier.wait()
    while True:
        con.begin()
        cur.execute("SELECT id FROM tasks WHERE status = 'pending' ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")
        row = cur.fetchone()
        if row is None:
            con.rollback()
            break
        cur.execute("UPDATE tasks SET status = 'in_progress', updated_at = NOW(6) WHERE id = %s AND status = 'pending'", row)
        cur.execute(
            "INSERT INTO task_assignments (task_id, assignee, assignee_type, assigned_by, status) VALUES (%s, %s, 'claude', %s, 'in_progress')",
            (row[0], f"raw-{n}", f"raw-{n}"),
        )
        cur.execute(
            "INSERT INTO task_comments (task_id, author, author_type, comment_type, content) VALUES (%s, %s, 'ai', 'status_change', 'claimed')",
            (row[0], f"raw-{n}"),
        )
        con.commit()
        done += 1
    out.put((done, time.perf_counter()))
    con.close()


def raw_sql(url: str, agents: int) -> tuple[int, float]:
    barrier = multiprocessing.Barrier(agents + 1)
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_raw_worker, args=(url, n, barrier, out)) for n in range(agents)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), max(r[1] for r in results) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306/mcp_bench_claims")
    args = parser.parse_args()
    reset(args.database_url, args.tasks)
    claimed, seconds = anyio.run(through_mcp, args.database_url, args.agents)
    assert claimed == args.tasks, (claimed, args.tasks)
    reset(args.database_url, args.tasks)
    raw, raw_seconds = raw_sql(args.database_url, args.agents)
    assert raw == args.tasks, (raw, args.tasks)
    print(f"| through MCP (tasks_claim, {args.agents} server processes) | {claimed} | {seconds:.2f} s | {claimed / seconds:.0f}/s |")
    print(f"| raw SQL, SKIP LOCKED ({args.agents} processes) | {raw} | {raw_seconds:.2f} s | {raw / raw_seconds:.0f}/s |")


if __name__ == "__main__":
    main()
