"""Claims per second with N agents, through MCP, beside the same claim in raw SQL.

    .venv/bin/python bench/claim_bench.py [--tasks 2000] [--agents 8] [--database-url mysql://root@127.0.0.1:3306/mcp_bench_claims]
    .venv/bin/python bench/claim_bench.py --database-url sqlite:////tmp/mcp_bench_claims.db

Each agent is a server process (`server.py`, stdio) driven by its own MCP client, all
started, initialised and warmed up (one claim that matches nothing: the connection is
open and the models built, as the raw workers below connect first) before the clock
starts; each claims in a loop until nothing is left. Each client runs in its own process (`--clients each`, the default), as agents do and
as the raw-SQL workers below do; `--clients one` puts all clients in this one process, the
form of the runs before issue 16 (on 2 cores that one process, doing 8 agents' client work
with one process's share of the CPU, became the bottleneck). Beside it, from N processes on the same database, reset before each column:
- raw SQL, the claim's statements: what one tasks_claim sends, in the same order and
  transaction (the look for expired leases and queued priorities, the passes built by the
  repository's own WorkOrder.claim_passes, the status change, the assignment, the lease, the history
  comment and its change-feed row, the task read back with its lease and attributes: 11
  statements; since issue 22 the passes' candidates are one plain read and the task taken is
  locked by its key), with PyMySQL or sqlite3 and nothing else: the floor of the claim as it is written.
- raw SQL, minimal: one SKIP LOCKED select (SQLite: select + compare-and-set), the status
  change, an assignment and a comment: the floor of any claim at all.
Raw MariaDB sessions are marked as the server's own (@mcp_tasks_writer), so the change-feed
triggers for other programs' writes stay silent for them as for the server.
The database named in the URL (or the SQLite file) is dropped and recreated: never point
it at real data.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from config import parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402

LEASE_SECONDS = 1800


def reset(url: str, tasks: int) -> None:
    s = parse_database_url(url)
    if s.kind == "sqlite":
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(str(s.sqlite_path) + suffix).unlink(missing_ok=True)
    else:
        import pymysql

        admin = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{s.name}`")
            cur.execute(f"CREATE DATABASE `{s.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        admin.close()
    db = Database(s, "DATABASE_URL")
    db.migrate()
    rows = [(f"bench-{i:08d}", f"claim bench task {i}", "bench") for i in range(tasks)]
    sql = "INSERT INTO tasks (uuid, title, type, created_by) VALUES (%s, %s, 'ai_task', %s)"
    db.write(lambda tx: tx._cursor.executemany(sql if s.kind == "mysql" else sql.replace("%s", "?"), rows))
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
                await _warm_up(session, n)
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


def _no_validation(session) -> None:
    """As bench/latency_bench.py: the Python SDK client checks every structuredContent against
    the tool's outputSchema with jsonschema (pure Python), the client's cost and not the
    server's; other clients do it faster or not at all."""

    async def skip(name, result):
        return None

    session.validate_tool_result = skip


async def _warm_up(session, n: int) -> None:
    """One claim that matches nothing, before the clock: the server opens its database
    connection and builds the claim's models, as the raw workers connect and build their
    statements before it. A long-running agent's server has done both long before."""
    result = await session.call_tool(
        "tasks_claim", {"assignee": f"agent-{n}", "assignee_type": "claude", "search": "nothing-matches-this-warm-up"}
    )
    if result.is_error or result.structured_content["claimed"]:
        raise RuntimeError(f"the warm-up claim should match nothing: {result.content[0].text}")


def _agent_process(url: str, n: int, barrier, out, validate: bool = True) -> None:
    """One agent as it runs in practice: its own process, its own MCP client, its own server."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(ROOT / "server.py")], env={"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})

    async def agent() -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session.list_tools()
                if not validate:
                    _no_validation(session)
                await _warm_up(session, n)
                barrier.wait()  # blocks this agent's loop only: nothing else runs in it yet
                done = 0
                while True:
                    result = await session.call_tool("tasks_claim", {"assignee": f"agent-{n}", "assignee_type": "claude"})
                    if result.is_error:
                        raise RuntimeError(result.content[0].text)
                    if not result.structured_content["claimed"]:
                        break
                    done += 1
                out.put((done, time.perf_counter()))

    anyio.run(agent)


def through_mcp_processes(url: str, agents: int, validate: bool) -> tuple[int, float]:
    import functools

    return raw_sql(url, agents, functools.partial(_agent_process, validate=validate))


# ---- raw SQL ---------------------------------------------------------------------------------


def _connect(url: str):
    """(connection, dialect) with the server's own session settings, without its pool or Tx."""
    s = parse_database_url(url)
    if s.kind == "sqlite":
        import sqlite3

        con = sqlite3.connect(str(s.sqlite_path), isolation_level=None, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA foreign_keys=ON")
        return con, "sqlite"
    import pymysql

    from infrastructure.foreign_writes import MARK_OUR_SESSION

    con = pymysql.connect(
        host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True, charset="utf8mb4",
        ssl_disabled=s.tls_disabled,  # as the server connects (config.DatabaseSettings.tls_disabled)
        init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    )
    # Marked as the server's own session, as its pool does: the change-feed triggers (issue 14)
    # then stay silent, as they do for the server, instead of writing three feed rows and a
    # priority update per raw claim that the MCP claim does not make.
    with con.cursor() as cur:
        cur.execute(MARK_OUR_SESSION)
    return con, "mysql"


def _claim_sql(url: str, dialect: str) -> dict:
    """The statements of one claim by `claude` (no filters), as the repository builds them
    (infrastructure/repository/leases.py: claim, claim_candidates_sql, CLAIM_LOCK_SQL, _claimed_row)."""
    from domain.models import ExecutorType, TaskType
    from infrastructure.tx import Tx
    from infrastructure.repository.base import TASK_COLUMNS
    from infrastructure.repository.leases import CLAIM_LOCK_SQL, LeasesMixin
    from infrastructure.repository.work_order import WorkOrder
    from validators import workflow_validator as wf

    con, _ = _connect(url)
    if dialect == "mysql":
        import pymysql

        tx = Tx(con.cursor(pymysql.cursors.DictCursor), "mysql", con.get_server_info())
    else:
        tx = Tx(con.cursor(), "sqlite")
    allowed = [t.value for t in TaskType if ExecutorType.CLAUDE in wf.ALLOWED_ASSIGNEES[t]]
    base = "status = %s AND type IN (" + ", ".join(["%s"] * len(allowed)) + ")"
    work = WorkOrder()
    # The bench's tasks are all normal: the opener finds every priority queue empty, so the
    # claim runs the two tasks-index passes only (claim_passes with no queued rank).
    passes = work.claim_passes(tx, base, queued_ranks=set())
    opener = f"SELECT (SELECT task_id FROM task_leases WHERE expires_at < {Tx(None, dialect).now} ORDER BY expires_at LIMIT 1) AS expired, {work.queued_columns(tx)}"
    attribute_columns = work.attribute_columns(tx)
    con.close()
    q = (lambda sql: sql) if dialect == "mysql" else (lambda sql: sql.replace("%s", "?"))
    expires = "NOW(6) + INTERVAL %s SECOND" if dialect == "mysql" else "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || %s || ' seconds')"
    conflict = (
        "ON DUPLICATE KEY UPDATE holder = VALUES(holder), holder_type = VALUES(holder_type), assignment_id = VALUES(assignment_id), "
        "lease_seconds = VALUES(lease_seconds), expires_at = VALUES(expires_at), reaped_holder = NULL, holder_session = VALUES(holder_session)"
        if dialect == "mysql" else
        "ON CONFLICT(task_id) DO UPDATE SET holder = excluded.holder, holder_type = excluded.holder_type, "
        "assignment_id = excluded.assignment_id, lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at, "
        "reaped_holder = NULL, holder_session = excluded.holder_session"
    )
    tx_ = Tx(None, dialect)
    read_back = (
        f"SELECT {TASK_COLUMNS}, (SELECT expires_at FROM task_leases WHERE task_id = tasks.id) AS lease_expires_at, "
        f"{attribute_columns} FROM tasks WHERE id = %s"
    )
    if dialect == "mysql":  # one JSON column, as _claimed_row sends it
        names = [c.strip() for c in TASK_COLUMNS.split(",")] + ["lease_expires_at", "priority_rank", "labels_joined"]
        pairs = ", ".join(f"'{n}', " + ("CONCAT(metadata)" if n == "metadata" else n) for n in names)
        read_back = f"SELECT JSON_OBJECT({pairs}) AS task FROM ({read_back}) AS claimed"
    return {
        "params": ["pending", *allowed],
        "opener": opener,
        "candidates": q(LeasesMixin.claim_candidates_sql(passes, 0)),
        "passes": len(passes),
        "lock": q(CLAIM_LOCK_SQL),
        "take": q(f"UPDATE tasks SET status = 'in_progress', {tx_.touch}, completed_at = NULL WHERE id = %s AND status = 'pending'"),
        "assign": q(
            "INSERT INTO task_assignments (task_id, assignee, assignee_type, model_name, assigned_by, assigned_by_type, "
            f"status, assigned_at, accepted_at, notes) VALUES (%s, %s, %s, %s, %s, %s, 'in_progress', {tx_.now}, {tx_.now}, %s)"
        ),
        "lease": q(
            "INSERT INTO task_leases (task_id, holder, holder_type, assignment_id, lease_seconds, expires_at, holder_session) "
            f"VALUES (%s, %s, %s, %s, %s, {expires}, %s) {conflict}"
        ),
        "history": q(
            "INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata, created_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, {tx_.now})"
        ),
        # The change-feed row the history comment comes with (infrastructure/change_feed.py, record_change).
        "feed": q(f"INSERT INTO task_changes (task_id, kind, actor, changed_at) VALUES (%s, %s, %s, {tx_.now})"),
        "read_back": q(read_back),
    }


def _raw_claim_worker(url: str, n: int, barrier, out) -> None:
    con, dialect = _connect(url)
    sql = _claim_sql(url, dialect)
    cur = con.cursor()
    name = f"raw-{n}"
    done = 0
    barrier.wait()
    while True:
        cur.execute("BEGIN") if dialect == "mysql" else cur.execute("BEGIN IMMEDIATE")
        cur.execute(sql["opener"])
        cur.fetchall()
        claimed = None
        cur.execute(sql["candidates"], sql["params"] * sql["passes"])
        for task_id, *_order in cur.fetchall():
            if dialect == "mysql":
                cur.execute(sql["lock"], (task_id,))
                if not cur.fetchall():
                    continue
            cur.execute(sql["take"], (task_id,))
            if cur.rowcount != 1:
                continue
            cur.execute(sql["assign"], (task_id, name, "claude", None, name, "ai", "claimed with tasks_claim"))
            assignment_id = cur.lastrowid
            cur.execute(sql["lease"], (task_id, name, "ai", assignment_id, LEASE_SECONDS, LEASE_SECONDS, None))
            metadata = {"from": "pending", "to": "in_progress", "assignment_id": assignment_id, "lease_seconds": LEASE_SECONDS}
            cur.execute(sql["history"], (task_id, name, "ai", "status_change", f"Claimed by {name} [claude]: pending → in_progress",
                                         json.dumps(metadata, ensure_ascii=False)))
            cur.execute(sql["feed"], (task_id, "status", name))
            cur.execute(sql["read_back"], (task_id,))
            cur.fetchall()  # no priority row here, so no queue update follows
            claimed = task_id
            break
        cur.execute("COMMIT")
        if claimed is None:
            break
        done += 1
    out.put((done, time.perf_counter()))
    con.close()


def _raw_minimal_worker(url: str, n: int, barrier, out) -> None:
    con, dialect = _connect(url)
    cur = con.cursor()
    q = (lambda s: s) if dialect == "mysql" else (lambda s: s.replace("%s", "?"))
    done = 0
    barrier.wait()
    while True:
        if dialect == "mysql":
            cur.execute("BEGIN")
            cur.execute("SELECT id FROM tasks WHERE status = 'pending' ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")
        else:
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("SELECT id FROM tasks WHERE status = 'pending' ORDER BY created_at, id LIMIT 1")
        row = cur.fetchone()
        if row is None:
            cur.execute("ROLLBACK")
            break
        cur.execute(q("UPDATE tasks SET status = 'in_progress' WHERE id = %s AND status = 'pending'"), row)
        cur.execute(
            q("INSERT INTO task_assignments (task_id, assignee, assignee_type, assigned_by, status) VALUES (%s, %s, 'claude', %s, 'in_progress')"),
            (row[0], f"raw-{n}", f"raw-{n}"),
        )
        cur.execute(
            q("INSERT INTO task_comments (task_id, author, author_type, comment_type, content) VALUES (%s, %s, 'ai', 'status_change', 'claimed')"),
            (row[0], f"raw-{n}"),
        )
        cur.execute("COMMIT")
        done += 1
    out.put((done, time.perf_counter()))
    con.close()


def raw_sql(url: str, agents: int, worker) -> tuple[int, float]:
    barrier = multiprocessing.Barrier(agents + 1)
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(url, n, barrier, out)) for n in range(agents)]
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
    parser.add_argument("--only", choices=["mcp", "raw"], help="run only one side (for profiling)")
    parser.add_argument(
        "--clients", choices=["one", "each"], default="each",
        help="each: every agent's MCP client in its own process, as agents run and as the raw columns do "
        "(default); one: all clients in this process (the form of the earlier runs in bench/RESULTS.md)",
    )
    parser.add_argument(
        "--client-validation", choices=["on", "off"], default="on",
        help="off: the agents' SDK clients skip checking results against the output schema (--clients each only)",
    )
    args = parser.parse_args()
    rows = []
    if args.only != "raw":
        reset(args.database_url, args.tasks)
        if args.clients == "one":
            claimed, seconds = anyio.run(through_mcp, args.database_url, args.agents)
            label = f"through MCP (tasks_claim, {args.agents} server processes, their clients in one process)"
        else:
            claimed, seconds = through_mcp_processes(args.database_url, args.agents, args.client_validation == "on")
            label = (f"through MCP (tasks_claim, {args.agents} agent processes, each a client and its server; "
                     f"SDK client validation {args.client_validation})")
        assert claimed == args.tasks, (claimed, args.tasks)
        rows.append((label, claimed, seconds))
    if args.only != "mcp":
        for label, worker in (("raw SQL, the claim's statements", _raw_claim_worker), ("raw SQL, minimal", _raw_minimal_worker)):
            reset(args.database_url, args.tasks)
            done, took = raw_sql(args.database_url, args.agents, worker)
            assert done == args.tasks, (done, args.tasks)
            rows.append((f"{label} ({args.agents} processes)", done, took))
    print("| | claims | time | rate |")
    print("|---|---:|---:|---:|")
    for label, n, took in rows:
        print(f"| {label} | {n} | {took:.2f} s | {n / took:.0f}/s |")
    if len(rows) == 3:
        print(f"MCP / raw claim statements = {rows[0][2] and (rows[1][2] / rows[0][2]):.2f}; MCP / raw minimal = {rows[2][2] / rows[0][2]:.2f}")


if __name__ == "__main__":
    main()
