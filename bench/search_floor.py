"""The floor of a common-word search page on MariaDB: its bare SQL in a PyMySQL loop, the
plan before issue 16 (probe + a count of up to 1,001 matches within 10,000 rows) beside the
plan now (the probe counts its own matches, then the page by id), alternating.

    .venv/bin/python bench/search_floor.py [--database-url mysql://root@127.0.0.1:3306/mcp_bench_1m] [--word customer]

Only reads. Use the seeded database (bench/seed.py): its common word is `customer` (15%).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from config import parse_database_url  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306/mcp_bench_1m")
parser.add_argument("--word", default="customer")
args = parser.parse_args()
s = parse_database_url(args.database_url)
con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True, charset="utf8mb4")
cur = con.cursor()
cols = ("id, title, SUBSTR(COALESCE(description, ''), 1, 161) AS description_preview, CHAR_LENGTH(COALESCE(description, '')) AS description_length, "
        "type, status, created_by, parent_task_id, due_date, created_at, updated_at")
like = "(title LIKE %s ESCAPE '!' OR description LIKE %s ESCAPE '!')"
w = [f"%{args.word}%"] * 2
def attrs(ids):
    m = ", ".join(["%s"] * len(ids))
    cur.execute(f"SELECT task_id, priority, NULL AS label FROM task_priorities WHERE task_id IN ({m}) UNION ALL SELECT task_id, NULL, label FROM task_labels WHERE task_id IN ({m})", ids + ids); cur.fetchall()
def old():
    cur.execute(f"SELECT {cols} FROM tasks WHERE {like} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s ROWS EXAMINED 1000", w + [51, 0]); rows = cur.fetchall()
    cur.execute(f"SELECT 1 AS x FROM tasks WHERE {like} LIMIT %s ROWS EXAMINED 10000", w + [1001]); n = len(cur.fetchall())
    attrs([r[0] for r in rows[:50]]); return min(n, 1000)
def new():
    cur.execute(f"SELECT id FROM tasks WHERE {like} ORDER BY created_at DESC, id DESC LIMIT %s ROWS EXAMINED 1000", w + [1000]); ids = [r[0] for r in cur.fetchall()]
    page = ids[:51]; m = ", ".join(["%s"] * len(page))
    cur.execute(f"SELECT {cols} FROM tasks WHERE id IN ({m}) ORDER BY created_at DESC, id DESC", page); rows = cur.fetchall()
    attrs([r[0] for r in rows[:50]]); return len(ids)
res = {"old": [], "new": []}
for rnd in range(4):
    for name, fn in (("old", old), ("new", new)):
        for i in range(25):
            t = time.perf_counter(); total = fn(); res[name].append((time.perf_counter() - t) * 1000)
for name in res:
    ts = sorted(res[name]); print(f"{name}: p50 {statistics.median(ts):.2f} ms, p10 {ts[len(ts)//10]:.2f} ms (n={len(ts)}), total {old() if name == 'old' else new()}")
