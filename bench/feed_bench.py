"""What the change feed's watcher costs per poll, on a seeded database (issue 14).

    python bench/seed.py --tasks 1000000 --database-url mysql://root@127.0.0.1:3306/mcp_bench_feed --fresh
    python bench/feed_bench.py --database-url mysql://root@127.0.0.1:3306/mcp_bench_feed --fill

bench/seed.py writes history (task_comments) but not the feed, so `--fill` first copies one
feed row per history row into task_changes (what the server would have written), unless it
holds that many already. Then, in alternating rounds, each case runs `--calls` times:

- floor: `SELECT 1`, the round trip every query pays;
- poll, nothing new: the watcher's query at the head (what every idle poll costs);
- poll, 500 new: the same query 500 rows behind the head (a busy poll);
- settle 500: the locking read that runs when a hole in the seqs shows (LOCK IN SHARE MODE NOWAIT);
- since(): ChangeFeed.since() at the head, the whole Python call;
- head(): ChangeFeed.head(), what a new listener pays once.

With --write-cost: what the feed adds to a write. tasks_comment's repository call on one
task, with and without its feed row (the same code, the feed switched off for the other
repository object as on a database without the table), alternating, `--calls` each per round.

EXPLAIN of the poll query shows that it reads the primary key by range, so its cost does not
depend on the table's size. Medians in ms; the spread is the range of the rounds' medians.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config import parse_database_url  # noqa: E402
from infrastructure.change_feed import COLUMNS, ChangeFeed  # noqa: E402
from infrastructure.database import Database  # noqa: E402

POLL = f"SELECT {COLUMNS} FROM task_changes WHERE seq > %s ORDER BY seq LIMIT 500"
SETTLE = (
    f"SELECT {COLUMNS}, TIMESTAMPDIFF(MICROSECOND, changed_at, NOW(6)) AS age_us FROM task_changes "
    "WHERE seq > %s AND seq <= %s ORDER BY seq LOCK IN SHARE MODE NOWAIT"
)


def fill(db: Database) -> None:
    def counts(tx):
        return int(tx.value("SELECT COUNT(*) FROM task_changes")), int(tx.value("SELECT COUNT(*) FROM task_comments"))

    changes, comments = db.read(counts)
    if changes >= comments:
        print(f"task_changes holds {changes:,} rows (task_comments {comments:,}); no fill needed")
        return
    began = time.perf_counter()
    kind = (
        "CASE comment_type WHEN 'status_change' THEN 'status' WHEN 'assignment' THEN 'assigned' "
        "WHEN 'result' THEN 'result' WHEN 'update' THEN 'updated' ELSE 'comment' END"
    )
    db.write(lambda tx: tx.execute(
        f"INSERT INTO task_changes (task_id, kind, actor, changed_at) SELECT task_id, {kind}, author, created_at "
        "FROM task_comments ORDER BY id"
    ))
    changes, comments = db.read(counts)
    print(f"filled task_changes: {changes:,} rows in {time.perf_counter() - began:.0f} s")


def timed(fn, calls: int) -> float:
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--fill", action="store_true", help="copy history rows into task_changes first")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write-cost", action="store_true", help="also time a write with and without its feed row")
    args = parser.parse_args()
    settings = parse_database_url(args.database_url)
    if (args.fill or args.write_cost) and settings.kind == "mysql" and not settings.name.startswith("mcp_bench"):
        parser.error("--fill and --write-cost write: only to a database whose name starts with mcp_bench (as bench/seed.py)")
    db = Database(settings, "--database-url")
    if args.fill:
        fill(db)
    feed = ChangeFeed(db)
    counts = db.read(lambda tx: {t: int(tx.value(f"SELECT COUNT(*) FROM {t}")) for t in ("tasks", "task_changes")})
    top = int(db.read(lambda tx: tx.value("SELECT COALESCE(MAX(seq), 0) FROM task_changes")))
    print(f"{args.database_url.rsplit('/', 1)[-1]}: {counts['tasks']:,} tasks, {counts['task_changes']:,} feed rows, head seq {top:,}")
    if db.dialect == "mysql":
        plan = db.read(lambda tx: tx.rows("EXPLAIN " + POLL, [top]))
        for row in plan:
            print(f"EXPLAIN poll: type={row['type']} key={row['key']} rows={row['rows']} extra={row['Extra']}")
    cases = {
        "floor SELECT 1": lambda: db.read(lambda tx: tx.value("SELECT 1")),
        "poll, nothing new": lambda: db.read(lambda tx: tx.rows(POLL, [top])),
        "poll, 500 new": lambda: db.read(lambda tx: tx.rows(POLL, [top - 500])),
        "since() at the head": lambda: feed.since(top),
        "head()": feed.head,
    }
    if db.dialect == "mysql":
        cases["settle 500 (locking read)"] = lambda: db.read(lambda tx: tx.rows(SETTLE, [top - 500, top]))
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):  # alternate the cases round by round, so drift hits all alike
        for name, fn in cases.items():
            results[name].append(timed(fn, args.calls))
    if args.write_cost:
        from infrastructure.task_repository import TaskRepository

        with_feed, without_feed = TaskRepository(db), TaskRepository(db)
        without_feed._changes = False  # as on a database without task_changes
        task_id = int(db.read(lambda tx: tx.value("SELECT MAX(id) FROM tasks")))
        for label, repo in (("write with feed row", with_feed), ("write without feed row", without_feed)):
            results[label] = []
        for _ in range(args.rounds):
            for label, repo in (("write with feed row", with_feed), ("write without feed row", without_feed)):
                results[label].append(timed(
                    lambda repo=repo: repo.add_comment(task_id, content="bench", author="bench", author_type="ai"),
                    max(1, args.calls // 5),
                ))
    floor = statistics.median(results["floor SELECT 1"])
    print(f"{'case':28} {'median ms':>10} {'spread ms':>16} {'x floor':>8}")
    for name, medians in results.items():
        mid = statistics.median(medians)
        print(f"{name:28} {mid:10.3f} {min(medians):7.3f}-{max(medians):<8.3f} {mid / floor:8.1f}")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
