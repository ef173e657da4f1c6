"""N instances over a 3-node Galera cluster beside one server, in one run (issue 24).

    python bench/galera_bench.py                   # brings up both, measures, tears down
    python bench/galera_bench.py --tasks 900 --agents 9 --feed-seconds 20

Both topologies are throwaway servers made here with the same options
(tests/support/galera_cluster.py, tests/support/throwaway_mariadb.py); needs galera-4 and
rsync, and root (the nodes run as user mysql) or user mysql itself. Three "instances" are
three `Database` objects in this process, each with its own pool, on node 1, 2 and 3 (on the
single server all three on it); the agents are threads, an equal share on each instance.

- claims/s: the agents claim and complete `--tasks` ready tasks (claim, then tasks_status
  completed: what an agent does), wall time from the first claim to the last completion.
  Counted: writes run again after 1213 (deadlock; on Galera a lost certification) and calls
  refused. On Galera three times: as shipped (a claim tries the first 8 ready tasks of its
  pass in random order, GALERA_SPREAD, and a write gets 16 jittered attempts), without the
  spread, and without both (6 attempts, as on one server), to show what each buys.
- feed latency: a ChangeHub per instance (the server's 0.5 s poll) with one listener each;
  one writer per instance creates a task every 50 ms for `--feed-seconds`; latency is the
  time from the writer's create returning (committed) to a listener receiving it, over
  every listener and change (p50, p99, max), and every change must reach every listener once.
- wsrep_sync_wait: tasks_get through node 2 of a task, `--calls` times with the session's
  wsrep_sync_wait = 1 (what the server sets) and 0, alternating blocks; p50 in ms.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config import parse_database_url  # noqa: E402
from domain.errors import TaskSystemError  # noqa: E402
from domain.models import ActorType, ExecutorType, TaskStatus, TaskType  # noqa: E402
from infrastructure import database as database_module  # noqa: E402
from infrastructure.change_feed import ChangeHub  # noqa: E402
from infrastructure.database import Database  # noqa: E402
from infrastructure.repository import leases as leases_module  # noqa: E402
from infrastructure.task_repository import TaskRepository  # noqa: E402
from tests.support.galera_cluster import GaleraCluster  # noqa: E402
from tests.support.throwaway_mariadb import ThrowawayMariaDB  # noqa: E402

AI = ActorType.AI


def repo_of(url: str) -> TaskRepository:
    return TaskRepository(Database(parse_database_url(url), "DATABASE_URL"))


def create(repo: TaskRepository, title: str) -> dict:
    return repo.create_task(
        title=title, description=None, type=TaskType.AI_TASK, parent_task_id=None, due_date=None, metadata=None,
        created_by="bench", created_by_type=AI,
    )


def fresh(make_database, name: str) -> str:
    url = make_database(name)
    db = Database(parse_database_url(url), "DATABASE_URL")
    db.migrate()
    db.close()
    return url


def claims(urls: list[str], tasks: int, agents: int) -> dict:
    seeder = repo_of(urls[0])
    for n in range(tasks):
        create(seeder, f"bench {n}")
    seeder.db.close()
    repos = [repo_of(u) for u in urls]
    refused: list[str] = []
    done = [0]
    lock = threading.Lock()

    def agent(n: int) -> None:
        repo = repos[n % len(repos)]
        while True:
            try:
                task = repo.claim(
                    assignee=f"agent-{n}", assignee_type=ExecutorType.CLAUDE, model_name=None, type=None, search=None,
                    parent_task_id=None, lease_minutes=None, actor_type=AI,
                )
                if task is None:
                    return
                repo.set_status(task["id"], TaskStatus.COMPLETED, actor=f"agent-{n}", actor_type=AI)
            except TaskSystemError as exc:
                with lock:
                    refused.append(str(exc)[:160])
                continue
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(agents)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    seconds = time.perf_counter() - start
    retries = sum(r.db.retries for r in repos)
    for r in repos:
        r.db.close()
    return {"done": done[0], "per_s": done[0] / seconds, "retries": retries, "refused": len(refused), "sample": refused[:2]}


async def feed_latency(urls: list[str], seconds: float) -> dict:
    import anyio

    dbs = [Database(parse_database_url(u), "DATABASE_URL") for u in urls]
    hubs = [ChangeHub(db) for db in dbs]
    committed: dict[int, float] = {}
    received: list[dict[int, list[float]]] = [{} for _ in hubs]
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        listeners = [await stack.enter_async_context(h.listen()) for h in hubs]

        async def collect(i: int) -> None:
            async for change in listeners[i]:
                if change.kind == "created":
                    received[i].setdefault(change.task_id, []).append(time.time())

        def write(i: int) -> None:
            repo = repo_of(urls[i])
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                task = create(repo, f"feed {i} {n}")
                committed[task["id"]] = time.time()
                n += 1
                time.sleep(0.05)
            repo.db.close()

        async with anyio.create_task_group() as group:
            for i in range(len(hubs)):
                group.start_soon(collect, i)
            writers = [threading.Thread(target=write, args=(i,)) for i in range(len(urls))]
            for w in writers:
                w.start()
            await anyio.to_thread.run_sync(lambda: [w.join(seconds + 120) for w in writers])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(len(r) < len(committed) for r in received):
                await anyio.sleep(0.1)
            await anyio.sleep(1)
            group.cancel_scope.cancel()
    for db in dbs:
        db.close()
    latencies = [got[0] - committed[t] for r in received for t, got in r.items() if t in committed]
    missing = sum(len(committed) - len([t for t in r if t in committed]) for r in received)
    repeated = sum(len(got) - 1 for r in received for got in r.values())
    latencies.sort()
    return {
        "changes": len(committed), "listeners": len(hubs), "missing": missing, "repeated": repeated,
        "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
    }


def sync_wait_cost(url: str, calls: int) -> dict:
    writer = repo_of(url)
    task = create(writer, "read me")
    writer.db.close()
    repo = repo_of(url)
    timings: dict[int, list[float]] = {1: [], 0: []}
    for _ in range(4):
        for wait in (1, 0):
            repo.db.read(lambda tx: tx.execute(f"SET SESSION wsrep_sync_wait = {wait}"))  # one connection: one thread
            for _ in range(calls // 4):
                start = time.perf_counter()
                repo.get_task(task["id"])
                timings[wait].append(time.perf_counter() - start)
    repo.db.close()
    return {f"sync_wait={w}_p50_ms": round(1000 * statistics.median(t), 3) for w, t in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=900)
    parser.add_argument("--agents", type=int, default=9)
    parser.add_argument("--feed-seconds", type=float, default=20.0)
    parser.add_argument("--calls", type=int, default=800)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    started = time.monotonic()
    with ThrowawayMariaDB.create() as single, GaleraCluster.create(3) as cluster:
        print(f"servers up in {time.monotonic() - started:.1f} s", file=sys.stderr)
        one = fresh(single.create_database, "bench_claims")
        results["1 node: claims"] = claims([one] * 3, args.tasks, args.agents)
        def on_cluster(name: str) -> list[str]:
            fresh(lambda n: cluster.create_database(n) and cluster.url(n, [1]), name)
            return [cluster.url(name, [i]) for i in (1, 2, 3)]

        attempts, spread = database_module.GALERA_WRITE_ATTEMPTS, leases_module.GALERA_SPREAD
        for label, (tries, head) in {
            "spread 8 + 16 attempts (as shipped)": (attempts, spread),
            "no spread, 16 attempts": (attempts, 1),
            "no spread, 6 attempts (as one server)": (database_module.WRITE_ATTEMPTS, 1),
        }.items():
            database_module.GALERA_WRITE_ATTEMPTS, leases_module.GALERA_SPREAD = tries, head
            results[f"3 nodes: claims, {label}"] = claims(on_cluster(f"bench_claims_{tries}_{head}"), args.tasks, args.agents)
        database_module.GALERA_WRITE_ATTEMPTS, leases_module.GALERA_SPREAD = attempts, spread
        feed_one = fresh(single.create_database, "bench_feed")
        results["1 node: feed"] = asyncio.run(feed_latency([feed_one] * 3, args.feed_seconds))
        feed_nodes = on_cluster("bench_feed")
        results["3 nodes: feed"] = asyncio.run(feed_latency(feed_nodes, args.feed_seconds))
        results["3 nodes: tasks_get via node 2"] = sync_wait_cost(feed_nodes[1], args.calls)
    for name, figures in results.items():
        print(f"{name}: " + ", ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
