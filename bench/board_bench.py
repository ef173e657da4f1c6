"""The board at size: bytes and time of each page at N tasks, with one task holding many
results, history rows and subtasks (issue 23).

    python bench/board_bench.py --database-url sqlite:////abs/bench/data/bench_1m.db --results 10000
    python bench/board_bench.py --database-url mysql://root@127.0.0.1:3306/mcp_bench_1m --results 10000

Seed the tasks first (bench/seed.py). The heavy task is the newest one; its results,
history rows and subtasks are added straight to the tables once (INSERT ... SELECT over
numbers; a second run finds them there). Then `server.py board` serves the database, and each
page is read `--runs` times over loopback after one warm-up: its bytes, and the median and
worst wall time of the request (server time plus a loopback round trip).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config import parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402

DIGITS = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
NUMBERS = (f"(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM ({DIGITS}) a, ({DIGITS}) b, "
           f"({DIGITS}) c, ({DIGITS}) e, ({DIGITS}) f) AS numbers")
RESPONSE = "The evaluation found nothing new in this run; the figures match the previous week. " * 40  # 3.4 KB


def heavy_task(db: Database, results: int) -> int:
    """The newest task, with `results` results and history rows and results // 5 subtasks (made
    by the first run; later runs find it, whatever --results they give)."""

    def run(tx) -> int:
        # An earlier run's heavy task is the parent of its first subtask (uuid is indexed).
        earlier = tx.value("SELECT parent_task_id FROM tasks WHERE uuid = 'bench-sub-0'")
        if earlier is not None:
            return int(earlier)
        task_id, have = int(tx.value("SELECT MAX(id) AS id FROM tasks")), 0
        tx.execute("INSERT INTO task_results (task_id, executor, executor_type, model_name, response, tokens_input, "
                   f"tokens_output, tokens_total, status) SELECT %s, 'mistral', 'ollama', 'mistral', %s, 40, 12, 52, "
                   f"'success' FROM {NUMBERS} WHERE n < %s", [task_id, RESPONSE, results - have])
        tx.execute("INSERT INTO task_comments (task_id, author, author_type, comment_type, content) "
                   f"SELECT %s, 'mistral', 'ai', 'result', %s FROM {NUMBERS} WHERE n < %s", [task_id, RESPONSE[:300], results])
        concat = "CONCAT('bench-sub-', n)" if tx.dialect == "mysql" else "'bench-sub-' || n"
        title = "CONCAT('Step ', n)" if tx.dialect == "mysql" else "'Step ' || n"
        tx.execute(f"INSERT INTO tasks (uuid, title, type, status, created_by, parent_task_id) SELECT {concat}, {title}, "
                   f"'ai_task', 'pending', 'bench', %s FROM {NUMBERS} WHERE n < %s", [task_id, results // 5])
        return task_id

    return db.write(run)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--server", default=str(REPO / "server.py"), help="server.py to measure (another checkout's, to compare)")
    args = parser.parse_args(argv)

    db = Database(parse_database_url(args.database_url), "DATABASE_URL")
    try:
        started = time.perf_counter()
        task_id = heavy_task(db, args.results)
        tasks = int(db.read(lambda tx: tx.value("SELECT COUNT(*) AS n FROM tasks")))
        print(f"{tasks:,} tasks; task {task_id} holds {args.results:,} results (ready in {time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
    finally:
        db.close()

    port = free_port()
    env = {**os.environ, "DATABASE_URL": args.database_url, "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, args.server, "board", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(base + "/static/board.css", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the board did not start: " + (server.stderr.read().decode() if server.poll() is not None else ""))
                time.sleep(0.3)
        pages = [
            ("board", "/"), ("board, pending page 200", "/?status=pending&offset=5000"),
            ("heavy task", f"/tasks/{task_id}"), ("heavy task, results 5000+", f"/tasks/{task_id}?results_from=5000"),
            ("a small task", f"/tasks/{max(1, task_id // 2)}"), ("statistics", "/stats"),
        ]
        print("| page | bytes | median ms | worst ms |")
        print("|---|---:|---:|---:|")
        for name, path in pages:
            answer = requests.get(base + path, timeout=300)  # warm-up (and the page's size)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                requests.get(base + path, timeout=300).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
            print(f"| {name} | {len(answer.content):,} | {statistics.median(times):.1f} | {max(times):.1f} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
