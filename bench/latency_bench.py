"""Per-call latency over stdio, through the SDK's real client, beside the bare SDK server.

    python bench/latency_bench.py --database-url mysql://root@127.0.0.1:3306/mcp_bench_1m [--calls 1000]
    python bench/latency_bench.py --database-url sqlite:///bench/data/bench_1m.db

Starts `server.py` (and `bench/bare_server.py`) as subprocesses with `stdio_client` +
`ClientSession`, as an agent's client does, and times `session.call_tool()` round trips
(perf_counter in the client: JSON-RPC over the pipes, validation, the SQL, the result
model and its serialisation). Every case first makes `--warmup` untimed calls, then up to
`--calls` timed calls, and stops early when the case has used `--budget` seconds (slow
cases then report fewer calls: the `n` column says how many). Arguments vary per call
(random ids, different search words are NOT used: the same rare/common word each time,
as an agent repeating a search would) with a fixed seed.

The Python SDK client validates every result's structuredContent against the tool's
outputSchema with `jsonschema` (pure Python, ~4 ms for a page of 50 rows). That is the
client's cost, not the server's, and other clients do it faster or not at all, so it is
switched off in the timed call and timed on its own right after it: the column
"+ SDK client validation" (add it to p50 for what a Python SDK client sees).

Cases (the `case` column of the output):
- bare ping: the bare server's trivial tool, the floor of any call.
- bare ping_db: the same plus one `SELECT 1` round trip to the database (`bare_server.py
  --db`), the floor of a call that reads it.
- tasks_get: a random existing id each call.
- tasks_list page 50: no filter, first page.
- tasks_list ready=true: the ready queue's first page of 50 (where tasks_list offers `ready`).
- tasks_list search rare / common: the seeder's planted words (bench/seed.py PLANTED).
- tasks_list filters: status=pending, type=ai_task, page of 50.
- tasks_list offset 0 / offset end: the first page vs a page 50 rows before the end
  (`--deep-offset`, default: the task count minus 50), and, where tasks_list offers a
  `cursor` parameter, the same deep page fetched by its keyset cursor.
- tasks_create: `--calls` new tasks (created_by=bench-latency), then
- tasks_status: each of those moved pending → in_progress.
- tasks_statistics.
The tasks this benchmark created are deleted at the end (with their history), so a run
leaves the seeded data as it found it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from config import parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402

BENCH_ACTOR = "bench-latency"
SLOW_CASES = {"tasks_list offset end", "tasks_list search common", "tasks_statistics"}


def percentiles(values_ms: list[float]) -> dict[str, float]:
    if len(values_ms) == 1:
        v = values_ms[0]
        return {"p50": v, "p95": v, "p99": v, "mean": v}
    q = statistics.quantiles(values_ms, n=100, method="inclusive")
    return {"p50": statistics.median(values_ms), "p95": q[94], "p99": q[98], "mean": statistics.fmean(values_ms)}


class Runner:
    def __init__(self, session: ClientSession, warmup: int, calls: int, budget: float, verbose: bool):
        self.session = session
        self.warmup = warmup
        self.calls = calls
        self.budget = budget
        self.verbose = verbose
        self.results: dict[str, dict] = {}

    async def case(self, name: str, tool: str, make_args, calls: int | None = None, warmup: int | None = None):
        """Time `calls` calls of tool(make_args(i)); returns the last structured result."""
        calls = calls if calls is not None else self.calls
        warmup = self.warmup if warmup is None else warmup
        last = None
        errors = 0
        for i in range(warmup):
            r = await self.session.call_tool(tool, make_args(-1 - i))
            if r.is_error:
                raise RuntimeError(f"{name}: {tool} failed: {r.content[0].text if r.content else r}")
        times, checks = [], []
        started = time.perf_counter()
        for i in range(calls):
            args = make_args(i)
            t = time.perf_counter()
            r = await self.session.call_tool(tool, args)  # validation switched off: see _no_validation
            times.append((time.perf_counter() - t) * 1000)
            if r.is_error:
                errors += 1
                if errors == 1:
                    print(f"  {name}: error: {r.content[0].text if r.content else r}", file=sys.stderr)
            else:
                t = time.perf_counter()
                await ClientSession.validate_tool_result(self.session, tool, r)
                checks.append((time.perf_counter() - t) * 1000)
            last = r.structured_content
            if time.perf_counter() - started > self.budget:
                break
        stats = percentiles(times)
        check = statistics.median(checks) if checks else 0.0
        self.results[name] = {"tool": tool, "n": len(times), "errors": errors, **stats, "client_validation_p50": check}
        note = ""
        if isinstance(last, dict) and "total" in last and "tasks" in last:
            note = f"total={last['total']}{'' if last.get('total_exact', True) else '+'} rows={len(last['tasks'])}"
            self.results[name]["note"] = note
        print(f"  {name:<28} n={len(times):>5}  p50={stats['p50']:8.2f}  p95={stats['p95']:8.2f}  p99={stats['p99']:8.2f} ms"
              f"  (+{check:.2f} client validation)  {note}",
              file=sys.stderr, flush=True)
        return last


async def bench_bare(args, runner_results: dict) -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(BENCH / "bare_server.py"), "--db"],
                                   env=_env(args.database_url), cwd=str(REPO))
    async with stdio_client(params, errlog=sys.stderr) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            _no_validation(session)
            await session.list_tools()  # caches the output schemas the validation uses
            runner = Runner(session, args.warmup, args.calls, args.budget, args.verbose)
            await runner.case("bare ping", "ping", lambda i: {"text": "ping"})
            await runner.case("bare ping_db", "ping_db", lambda i: {"text": "ping"})
            runner_results.update(runner.results)


def _no_validation(session: ClientSession) -> None:
    """The Python SDK client checks every structuredContent against the tool's outputSchema with
    `jsonschema` (pure Python: ~4 ms for a page of 50 rows, more than the server's own work).
    Other clients do this faster (ajv) or not at all, so the timed call leaves it out and the
    runner times it separately (the `client validation` column); add the two for the SDK client."""

    async def skip(name, result):
        return None

    session.validate_tool_result = skip


def _env(database_url: str | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "LOG_LEVEL": "WARNING"}
    if database_url:
        env["DATABASE_URL"] = database_url
    for key in ("PYTHONPATH",):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _manifest(url: str) -> dict:
    s = parse_database_url(url)
    path = Path(str(s.sqlite_path) + ".seed.json") if s.kind == "sqlite" else BENCH / "data" / f"{s.name}.seed.json"
    return json.loads(path.read_text()) if path.exists() else {}


async def bench_server(args, results: dict, facts: dict) -> None:
    db = Database(parse_database_url(args.database_url), "--database-url")
    try:
        max_id, count = db.read(lambda tx: (tx.value("SELECT MAX(id) AS m FROM tasks"), tx.value("SELECT COUNT(*) AS n FROM tasks")))
    finally:
        db.close()
    max_id, count = int(max_id), int(count)
    manifest = _manifest(args.database_url)
    rare = args.rare or manifest.get("rare_word", "zeppelin")
    common = args.common or manifest.get("common_word", "customer")
    deep = args.deep_offset if args.deep_offset is not None else max(0, count - 50)
    facts.update({"tasks": count, "max_id": max_id, "rare": rare, "common": common, "deep_offset": deep})
    rng = random.Random(1)
    server = Path(args.server).resolve()
    params = StdioServerParameters(command=sys.executable, args=[str(server)], env=_env(args.database_url), cwd=str(server.parent))
    created: list[int] = []
    async with stdio_client(params, errlog=sys.stderr) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            _no_validation(session)
            tools = {t.name: t for t in (await session.list_tools()).tools}
            list_params = set(tools["tasks_list"].input_schema.get("properties", {}))
            facts["tasks_list_parameters"] = sorted(list_params)
            r = Runner(session, args.warmup, args.calls, args.budget, args.verbose)
            slow = args.slow_calls
            want = set(args.only.split(",")) if args.only else None

            def on(name: str) -> bool:
                return want is None or any(w in name for w in want)

            if on("tasks_get"):
                await r.case("tasks_get", "tasks_get", lambda i: {"id": rng.randint(1, max_id)})
            if on("page 50"):
                await r.case("tasks_list page 50", "tasks_list", lambda i: {"limit": 50})
            if on("ready") and "ready" in list_params:
                # The ready queue (issue 12): pending tasks whose blockers are all done, first page.
                await r.case("tasks_list ready=true", "tasks_list", lambda i: {"ready": True, "limit": 50})
            if on("filters"):
                await r.case("tasks_list filters", "tasks_list", lambda i: {"status": "pending", "type": "ai_task", "limit": 50})
            if on("search rare"):
                await r.case("tasks_list search rare", "tasks_list", lambda i: {"search": rare, "limit": 50})
            if on("search common"):
                await r.case("tasks_list search common", "tasks_list", lambda i: {"search": common, "limit": 50},
                             calls=min(slow, args.calls), warmup=min(args.warmup, 3))
            if on("offset"):
                await r.case("tasks_list offset 0", "tasks_list", lambda i: {"limit": 50, "offset": 0}, calls=min(slow, args.calls))
                await r.case("tasks_list offset end", "tasks_list", lambda i: {"limit": 50, "offset": deep},
                             calls=min(slow, args.calls), warmup=min(args.warmup, 3))
                if "cursor" in list_params:
                    # The keyset cursor of the page just before the deep one, taken from an offset call.
                    before = await session.call_tool("tasks_list", {"limit": 50, "offset": max(0, deep - 50)})
                    cursor = (before.structured_content or {}).get("next_cursor")
                    if cursor:
                        await r.case("tasks_list cursor end", "tasks_list", lambda i: {"limit": 50, "cursor": cursor})
            if on("create") or on("status"):
                await r.case("tasks_create", "tasks_create", lambda i: {
                    "title": f"Bench task {i} {rng.random():.6f}", "description": "Created by bench/latency_bench.py.",
                    "type": "ai_task", "created_by": BENCH_ACTOR, "created_by_type": "ai"}, warmup=0)
                db = Database(parse_database_url(args.database_url), "--database-url")
                try:
                    created = [int(x["id"]) for x in db.read(lambda tx: tx.rows(
                        "SELECT id FROM tasks WHERE created_by = %s AND status = 'pending' ORDER BY id", [BENCH_ACTOR]))]
                finally:
                    db.close()
                if on("status") and created:
                    await r.case("tasks_status", "tasks_status", lambda i: {
                        "id": created[i], "status": "in_progress", "updated_by": BENCH_ACTOR, "updated_by_type": "ai"},
                        calls=len(created), warmup=0)
            if on("statistics"):
                await r.case("tasks_statistics", "tasks_statistics", lambda i: {}, calls=min(slow, args.calls), warmup=min(args.warmup, 3))
            results.update(r.results)
    _cleanup(args.database_url)


def _cleanup(url: str) -> None:
    db = Database(parse_database_url(url), "--database-url")
    try:
        n = db.write(lambda tx: tx.execute("DELETE FROM tasks WHERE created_by = %s", [BENCH_ACTOR]))
        if n:
            print(f"  (deleted the {n} tasks this run created)", file=sys.stderr)
    finally:
        db.close()


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def amain(args) -> int:
    results: dict = {}
    facts: dict = {"load_before": _loadavg()}
    if not args.no_bare:
        await bench_bare(args, results)
    await bench_server(args, results, facts)
    label = args.label or parse_database_url(args.database_url).describe()
    facts["load_after"] = _loadavg()
    print(f"\n{label}: {facts.get('tasks', 0):,} tasks; rare={facts.get('rare')!r} common={facts.get('common')!r}; "
          f"deep offset={facts.get('deep_offset')}; load average {facts['load_before']} → {facts['load_after']}")
    print("| case | n | p50 ms | p95 ms | p99 ms | + SDK client validation p50 ms | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, s in results.items():
        print(f"| {name} | {s['n']}{' (' + str(s['errors']) + ' errors)' if s['errors'] else ''} | {s['p50']:.2f} | {s['p95']:.2f} "
              f"| {s['p99']:.2f} | {s['client_validation_p50']:.2f} | {s.get('note', '')} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"label": label, "facts": facts, "calls": args.calls, "results": results}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--slow-calls", type=int, default=100, help="calls for the slow cases (common search, deep offset, statistics)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per case before it stops early")
    parser.add_argument("--rare", help="the rare search word (default: from the seed manifest)")
    parser.add_argument("--common", help="the common search word (default: from the seed manifest)")
    parser.add_argument("--deep-offset", type=int)
    parser.add_argument("--only", help="comma-separated substrings of the case names to run")
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--server", default=str(REPO / "server.py"), help="server.py to start (a scratch copy, to try a change)")
    parser.add_argument("--label")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    return anyio.run(amain, args)


if __name__ == "__main__":
    sys.exit(main())
