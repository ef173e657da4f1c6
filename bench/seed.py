"""Load N realistic tasks, with subtasks, assignments, results and comments, for benchmarks.

    python bench/seed.py --tasks 1000000 --database-url mysql://root@127.0.0.1:3306/mcp_bench_1m --fresh
    python bench/seed.py --tasks 1000000 --database-url sqlite:///$PWD/bench/data/bench_1m.db --fresh

(`sqlite:///` + an absolute path gives four slashes; `sqlite:///bench/...` is relative to the working directory.)

The schema is created first through `Database.migrate()` (the same migrations as
`server.py init-db`). Then, per batch of tasks, the rows of all four tables are generated
in Python (a fixed seed: the same N gives the same data, with timestamps over the three
years before the load) and written with batched
multi-row INSERTs (`executemany`; pymysql rewrites it to one multi-row INSERT per batch).

Speed-ups, all undone before the command ends, so the result is the ordinary schema:
- MariaDB: `SET unique_checks=0, foreign_key_checks=0` for the loading session. The
  FULLTEXT index stays during the load: at 1M tasks that took 171 s in all, against
  135 s + 45 s when the index is built once afterwards (`--fulltext-after`, kept for the
  comparison; bench/RESULTS.md). `--fulltext-after` drops it with ALGORITHM=COPY while the
  table is empty: see MariaDBLoader.prepare for why.
- SQLite: the FTS5 triggers and the secondary indexes are dropped for the load and
  recreated from their own stored SQL afterwards; the FTS table is filled by one
  'rebuild'; journal_mode=OFF/synchronous=OFF while loading, WAL at the end.
Finally ANALYZE, so the planners see the real row counts.

The text has a Zipf-distributed vocabulary plus planted words with a known frequency
(`PLANTED`): a *rare* word in 0.03% of tasks and a *common* word in 15% (see bench/README.md).
No word of the vocabulary starts with a planted word, so a prefix search finds only those.

Only databases whose name starts with `mcp_bench` are written (or any SQLite file), so
the `test` database and other people's data are never touched.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import sys
import time
import uuid
from datetime import datetime, timezone
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config import parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402

# ---- vocabulary ---------------------------------------------------------------------------

# Planted words: (word, fraction of tasks whose title or description contains it).
PLANTED = {
    "zeppelin": 0.0003,  # rare: ~300 tasks in a million, 0 or 1 in a thousand
    "quasar": 0.0008,  # rare too (< 0.1%)
    "webhook": 0.01,  # medium: 1%
    "customer": 0.15,  # common: 15%
}
RARE_WORD, COMMON_WORD = "zeppelin", "customer"

VERBS = (
    "fix update review implement refactor migrate document test deploy investigate analyse summarise "
    "translate draft prepare check validate optimise clean archive export import configure monitor "
    "benchmark profile design plan estimate schedule merge rebase audit upgrade downgrade rollback "
    "backport triage reproduce verify rename split extract consolidate harden secure encrypt localise"
).split()
NOUNS = (
    "invoice order payment report dashboard pipeline backup release build schema index query cache "
    "session token account profile address ticket issue feature endpoint service server cluster node "
    "container image volume queue worker scheduler cron job batch export import template email "
    "notification alert metric log trace span checkout cart catalog product price discount coupon "
    "shipment warehouse inventory stock supplier contract agreement policy permission role group user "
    "team project milestone sprint roadmap budget forecast revenue expense ledger tax receipt refund "
    "subscription plan tier quota limit timeout retry fallback migration replica shard partition table "
    "column constraint trigger view procedure function module package library dependency version branch "
    "commit tag changelog readme guide manual tutorial faq glossary translation locale currency timezone "
    "calendar meeting agenda minutes summary transcript recording survey feedback review rating comment "
    "thread message channel workspace folder file upload download attachment thumbnail preview render "
    "layout style theme font icon button form field input label tooltip modal dialog menu sidebar header "
    "footer banner carousel gallery chart graph histogram heatmap map route geocoder parser lexer tokenizer "
    "prompt embedding model dataset benchmark evaluation classifier summariser extractor crawler scraper "
    "firewall certificate proxy gateway balancer resolver registry mirror artifact runner agent"
).split()
ADJECTIVES = (
    "slow broken flaky missing duplicate stale legacy new old internal external public private nightly "
    "weekly monthly quarterly annual urgent minor major critical optional default custom shared global "
    "local remote mobile desktop offline async parallel incremental partial full empty large small"
).split()
COMPONENTS = (
    "billing api frontend backend webapp cli admin panel reporting search analytics auth onboarding "
    "checkout mailer scheduler importer exporter gateway worker indexer crawler chatbot assistant wiki "
    "intranet portal shop erp crm helpdesk"
).split()
FUNCTION_WORDS = "the a of to and in for on with from by at as is are be that this it not or when after before".split()
PEOPLE = (
    "anna ben carla david eva felix greta hannah ivan julia karl lena max nina oskar paula quentin rosa "
    "stefan tina ulrich vera walter xenia yusuf zoe"
).split()
AGENTS = ["claude", "claude-code", "mistral-runner", "llama-runner", "gpt-4o-bot", "planner-agent", "triage-agent"]
# (model, executor, executor_type, $ per 1k input tokens, $ per 1k output tokens). The schema's
# executor_type has no OpenAI value: gpt-4o results are recorded as a human pasting ChatGPT output.
MODELS = [
    ("mistral", "ollama", "ollama", 0.0, 0.0, 30),
    ("llama3", "ollama", "ollama", 0.0, 0.0, 25),
    ("llama3:70b", "ollama", "ollama", 0.0, 0.0, 8),
    ("qwen2.5", "ollama", "ollama", 0.0, 0.0, 6),
    ("claude-opus", "claude", "claude", 0.015, 0.075, 10),
    ("claude-sonnet", "anthropic_api", "anthropic_api", 0.003, 0.015, 12),
    ("claude-haiku", "anthropic_api", "anthropic_api", 0.0008, 0.004, 4),
    ("gpt-4o", "chatgpt", "human", 0.0025, 0.01, 4),
    (None, "reviewer", "human", 0.0, 0.0, 1),
]
MODEL_CUM = list(accumulate(m[5] for m in MODELS))

_PLANTED_PREFIXES = tuple(PLANTED)


def _vocabulary() -> list[str]:
    words = set(NOUNS + VERBS + ADJECTIVES + COMPONENTS)
    # Derived forms give a long tail (a few thousand distinct words), as real text has.
    for noun in NOUNS:
        words.update({noun + "s", noun + "_id", noun + "ing"} if len(noun) < 9 else {noun + "s"})
    for verb in VERBS:
        words.update({verb + "d" if verb.endswith("e") else verb + "ed", verb + "r" if verb.endswith("e") else verb + "er"})
    for a in COMPONENTS:
        for b in NOUNS[::7]:
            words.add(f"{a}{b}")
    vocab = sorted(w for w in words if not w.startswith(_PLANTED_PREFIXES))
    random.Random(7).shuffle(vocab)  # rank (and so frequency) independent of the alphabet
    return vocab


VOCAB = _vocabulary()
# Zipf weights: rank r has weight 1/(r+10)^1.07; the top words land in many rows, the tail in few.
VOCAB_CUM = list(accumulate(1.0 / (r + 10) ** 1.07 for r in range(len(VOCAB))))
TITLE_TEMPLATES = [
    "{Verb} {adj} {noun} in {component}",
    "{Verb} the {noun} {noun2} for {component}",
    "{Verb} {noun} {noun2}",
    "{Verb} {adj} {noun} {noun2} ({component})",
    "{component}: {verb} {noun} after {noun2} {verb2}",
    "{Verb} why {noun} {noun2} is {adj}",
]
OPENERS = [
    "We need to", "Please", "The team asked to", "Follow up and", "As discussed,", "Customer reported that we should",
    "Before the release,", "Goal:", "Context:", "Steps:", "Acceptance:", "Note:",
]
OPENERS = [o for o in OPENERS if COMMON_WORD not in o.lower()]
STATUS_WEIGHTS = [("completed", 70), ("pending", 12), ("in_progress", 5), ("failed", 5), ("cancelled", 8)]
TYPE_WEIGHTS = [("human_task", 40), ("ai_task", 45), ("mixed", 15)]
SPAN_SECONDS = 3 * 365 * 86400  # created_at spread over three years, ending now


def _cum(pairs):
    return [p[0] for p in pairs], list(accumulate(p[1] for p in pairs))


STATUS_VALUES, STATUS_CUM = _cum(STATUS_WEIGHTS)
TYPE_VALUES, TYPE_CUM = _cum(TYPE_WEIGHTS)


def _pick(rng: random.Random, values, cum) -> object:
    """rng.choices(values, cum_weights=cum)[0], without its per-call overhead."""
    return values[bisect_right(cum, rng.random() * cum[-1])]


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class Generator:
    """Rows for a batch of task ids; counters carry the ids of the child tables across batches."""

    def __init__(self, n_tasks: int, seed: int, end_epoch: float):
        self.n = n_tasks
        self.seed = seed
        self.start = end_epoch - SPAN_SECONDS
        self.step = SPAN_SECONDS / max(n_tasks, 1)
        self.assignment_id = 0
        self.result_id = 0
        self.comment_id = 0
        self.planted_counts = {w: 0 for w in PLANTED}

    def words(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(VOCAB, cum_weights=VOCAB_CUM, k=k)

    def new_pool(self, rng: random.Random, size: int) -> None:
        """A stream of Zipf words, half of them after a function word; sentences are slices of it
        (one big `choices` per batch instead of one per sentence: 5x faster generation)."""
        content = self.words(rng, size)
        fillers = rng.choices(FUNCTION_WORDS, k=size)
        coins = rng.choices((False, True), k=size)
        pool = []
        for c, f, coin in zip(content, fillers, coins):
            if coin:
                pool.append(f)
            pool.append(c)
        self.pool = pool

    def sentence(self, rng: random.Random, k: int) -> str:
        start = rng.randrange(len(self.pool) - k)
        return " ".join(self.pool[start:start + k])

    def title(self, rng: random.Random) -> str:
        t = rng.choice(TITLE_TEMPLATES)
        w = self.words(rng, 2)
        verb, verb2 = rng.choice(VERBS), rng.choice(VERBS)
        return t.format(
            Verb=verb.capitalize(), verb=verb, verb2=verb2 + "s", adj=rng.choice(ADJECTIVES),
            noun=rng.choice(NOUNS), noun2=w[0], component=rng.choice(COMPONENTS),
        )[:255]

    def description(self, rng: random.Random, planted: list[str]) -> str | None:
        if rng.random() < 0.05:
            return None  # some tasks have a title only
        n = _pick(rng, (1, 2, 3, 4, 5, 6), (10, 30, 55, 75, 90, 100))
        sentences = [f"{rng.choice(OPENERS)} {self.sentence(rng, rng.randint(5, 14))}." for _ in range(n)]
        for word in planted:
            i = rng.randrange(len(sentences))
            sentences[i] = sentences[i][:-1] + f" for the {word} {rng.choice(NOUNS)}."
        return " ".join(sentences)

    def batch(self, first: int, last: int) -> dict[str, list[tuple]]:
        """Rows of all four tables for the tasks first..last (inclusive)."""
        rng = random.Random(self.seed * 1_000_003 + first)
        self.new_pool(rng, min(200_000, 40 * (last - first + 1) + 1000))
        tasks, assignments, results, comments = [], [], [], []
        for tid in range(first, last + 1):
            created = self.start + tid * self.step + rng.uniform(0, self.step)
            status = _pick(rng, STATUS_VALUES, STATUS_CUM)
            # Recent tasks are more often still open, as in a real backlog.
            if tid > self.n * 0.98 and status == "completed" and rng.random() < 0.6:
                status = rng.choice(("pending", "in_progress"))
            ttype = _pick(rng, TYPE_VALUES, TYPE_CUM)
            by_ai = ttype == "ai_task" and rng.random() < 0.5
            creator = rng.choice(AGENTS) if by_ai else rng.choice(PEOPLE)
            parent = None
            if tid > 10 and rng.random() < 0.10:
                parent = max(1, tid - rng.randint(1, 200))  # a subtask of a recent task
            planted = [w for w, f in PLANTED.items() if rng.random() < f]
            for w in planted:
                self.planted_counts[w] += 1
            title = self.title(rng)
            description = self.description(rng, planted)
            if description is None and planted:
                title = (title + " " + " ".join(planted))[:255]
            updated = created + rng.uniform(60, 30 * 86400)
            completed = _ts(updated) if status == "completed" else None
            due = _ts(created + rng.uniform(86400, 60 * 86400))[:19] if rng.random() < 0.3 else None
            meta = None
            if rng.random() < 0.3:
                meta = json.dumps({"priority": rng.choice(("low", "normal", "high")), "tags": rng.sample(COMPONENTS, 2)})
            tasks.append((
                tid, str(uuid.UUID(int=rng.getrandbits(128), version=4)), title, description, ttype, status,
                creator, "ai" if by_ai else "human", parent, due, _ts(created), _ts(updated), completed, meta,
            ))
            # assignments: ~0.7 per task
            n_assign = _pick(rng, (0, 1, 2), (40, 90, 100))
            assignment_ids = []
            for _ in range(n_assign):
                self.assignment_id += 1
                assignment_ids.append(self.assignment_id)
                if ttype == "human_task":
                    assignee, atype, model = rng.choice(PEOPLE), "human", None
                else:
                    m = _pick(rng, MODELS, MODEL_CUM)
                    assignee, atype, model = m[1], m[2], m[0]
                at = created + rng.uniform(10, 86400)
                a_status = "completed" if status == "completed" else rng.choice(("pending", "accepted", "in_progress", "rejected"))
                assignments.append((
                    self.assignment_id, tid, assignee, atype, model, rng.choice(PEOPLE), "human", a_status,
                    _ts(at), _ts(at + 60) if a_status != "pending" else None,
                    completed if a_status == "completed" else None, None,
                ))
            # results: ~1.0 per task
            n_results = _pick(rng, (0, 1, 2, 3), (30, 75, 95, 100))
            for _ in range(n_results):
                self.result_id += 1
                m = _pick(rng, MODELS, MODEL_CUM)
                tin = int(rng.lognormvariate(7.0, 0.9))
                tout = int(rng.lognormvariate(5.8, 0.8))
                cost = round(tin / 1000 * m[3] + tout / 1000 * m[4], 6)
                duration = int(rng.lognormvariate(8.5, 1.0))
                req = created + rng.uniform(60, 86400)
                r_status = _pick(rng, ("success", "error", "partial"), (90, 96, 100))
                results.append((
                    self.result_id, tid, assignment_ids[-1] if assignment_ids else None, m[1], m[2], m[0],
                    self.sentence(rng, 8), self.sentence(rng, 30), _ts(req), _ts(req + duration / 1000), duration,
                    tin, tout, tin + tout, cost, r_status,
                    "model timed out" if r_status == "error" else None, _ts(req + duration / 1000),
                ))
            # comments: ~1.0 per task
            n_comments = _pick(rng, (0, 1, 2, 3), (30, 75, 95, 100))
            for _ in range(n_comments):
                self.comment_id += 1
                by_ai = rng.random() < 0.3
                kind = _pick(rng, ("comment", "note", "status_change", "result"), (60, 75, 95, 100))
                comments.append((
                    self.comment_id, tid, rng.choice(AGENTS) if by_ai else rng.choice(PEOPLE), "ai" if by_ai else "human",
                    kind, self.sentence(rng, rng.randint(4, 16)), None, _ts(created + rng.uniform(60, 20 * 86400)),
                ))
        return {"tasks": tasks, "task_assignments": assignments, "task_results": results, "task_comments": comments}


COLUMNS = {
    "tasks": "id, uuid, title, description, type, status, created_by, created_by_type, parent_task_id, due_date, "
    "created_at, updated_at, completed_at, metadata",
    "task_assignments": "id, task_id, assignee, assignee_type, model_name, assigned_by, assigned_by_type, status, "
    "assigned_at, accepted_at, completed_at, notes",
    "task_results": "id, task_id, assignment_id, executor, executor_type, model_name, request, response, "
    "request_timestamp, response_timestamp, duration_ms, tokens_input, tokens_output, tokens_total, cost_usd, status, "
    "error_message, created_at",
    "task_comments": "id, task_id, author, author_type, comment_type, content, metadata, created_at",
}


def _insert_sql(table: str, placeholder: str) -> str:
    n = COLUMNS[table].count(",") + 1
    return f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({', '.join([placeholder] * n)})"


# ---- backends -------------------------------------------------------------------------------


class MariaDBLoader:
    def __init__(self, settings, fresh: bool, fulltext_during: bool):
        import pymysql

        self.settings = settings
        self.fulltext_during = fulltext_during
        admin = pymysql.connect(host=settings.host, port=settings.port, user=settings.user, password=settings.password, autocommit=True)
        with admin.cursor() as cur:
            if fresh:
                cur.execute(f"DROP DATABASE IF EXISTS `{settings.name}`")
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{settings.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        admin.close()
        self.con = pymysql.connect(
            host=settings.host, port=settings.port, user=settings.user, password=settings.password,
            database=settings.name, charset="utf8mb4", autocommit=False, max_allowed_packet=16 * 1024 * 1024,
        )

    def prepare(self) -> None:
        with self.con.cursor() as cur:
            # @mcp_tasks_writer: a bulk load is not a million changes to announce (infrastructure/foreign_writes.py)
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0, @mcp_tasks_writer = 1")
            if not self.fulltext_during:
                cur.execute(
                    "SELECT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() "
                    "AND table_name = 'tasks' AND index_type = 'FULLTEXT' GROUP BY index_name"
                )
                self.dropped_fulltext = [r[0] for r in cur.fetchall()]
                for name in self.dropped_fulltext:
                    # ALGORITHM=COPY (instant on the still empty table) also removes the hidden
                    # FTS_DOC_ID column. A plain DROP keeps it, and then MariaDB 10.11 builds the
                    # later FULLTEXT index EMPTY: every MATCH finds nothing (checked in finish()).
                    cur.execute(f"ALTER TABLE tasks DROP INDEX `{name}`, ALGORITHM=COPY")
        self.con.commit()

    def write(self, table: str, rows: list[tuple]) -> None:
        if rows:
            with self.con.cursor() as cur:
                cur.executemany(_insert_sql(table, "%s"), rows)

    def commit(self) -> None:
        self.con.commit()

    def finish(self) -> dict[str, float]:
        timings = {}
        with self.con.cursor() as cur:
            if not self.fulltext_during:
                t = time.perf_counter()
                # The same index the migration 0002.search-index.py creates.
                cur.execute("CREATE FULLTEXT INDEX ft_title_description ON tasks (title, description)")
                timings["fulltext index"] = time.perf_counter() - t
            # The index must find what LIKE finds (see prepare()).
            cur.execute(f"SELECT COUNT(*) FROM tasks WHERE MATCH(title, description) AGAINST ('+{COMMON_WORD}' IN BOOLEAN MODE)")
            matched = cur.fetchone()[0]
            cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE description LIKE '%{COMMON_WORD}%' LIMIT 1) AS x")
            if cur.fetchone()[0] and not matched:
                raise SystemExit("The FULLTEXT index finds nothing although LIKE does: the load is broken.")
            t = time.perf_counter()
            cur.execute("SET SESSION unique_checks = 1, foreign_key_checks = 1")
            for table in COLUMNS:
                cur.execute(f"ANALYZE TABLE {table}")
                cur.fetchall()
            timings["analyze"] = time.perf_counter() - t
        self.con.commit()
        self.con.close()
        return timings

    def has_rows(self) -> bool:
        with self.con.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM tasks)")
            return bool(cur.fetchone()[0])


class SQLiteLoader:
    def __init__(self, settings, fresh: bool):
        path = settings.sqlite_path
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        self.path = path

    def connect(self) -> None:
        import sqlite3

        self.con = sqlite3.connect(str(self.path), isolation_level=None)

    def prepare(self) -> None:
        con = self.con
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")  # 256 MB for the index builds
        con.execute("PRAGMA foreign_keys = OFF")
        # Secondary indexes and the FTS triggers, by their own stored SQL, to recreate after the load;
        # the change feed's triggers too: a bulk load is not a million changes to announce.
        self.deferred = con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND "
            "((type = 'index' AND tbl_name IN ('tasks', 'task_assignments', 'task_results', 'task_comments')) "
            "OR (type = 'trigger' AND (tbl_name = 'tasks' OR name LIKE 'mcp_tasks_feed_%')))"
        ).fetchall()
        for kind, name, _ in self.deferred:
            con.execute(f"DROP {kind.upper()} {name}")
        con.execute("BEGIN")

    def write(self, table: str, rows: list[tuple]) -> None:
        if rows:
            self.con.executemany(_insert_sql(table, "?"), rows)

    def commit(self) -> None:
        self.con.execute("COMMIT")
        self.con.execute("BEGIN")

    def finish(self) -> dict[str, float]:
        con = self.con
        con.execute("COMMIT")
        timings = {}
        t = time.perf_counter()
        for kind, name, sql in self.deferred:
            if kind == "index":
                con.execute(sql)
        timings["indexes"] = time.perf_counter() - t
        t = time.perf_counter()
        con.execute("INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild')")
        for kind, name, sql in self.deferred:
            if kind == "trigger":
                con.execute(sql)
        timings["fts rebuild"] = time.perf_counter() - t
        t = time.perf_counter()
        con.execute("ANALYZE")
        con.execute("PRAGMA journal_mode = WAL")
        con.close()
        timings["analyze"] = time.perf_counter() - t
        return timings

    def has_rows(self) -> bool:
        import sqlite3

        try:
            return self.con.execute("SELECT EXISTS (SELECT 1 FROM tasks)").fetchone()[0] == 1
        except sqlite3.Error:
            return False


def _produce(queue, n_tasks: int, seed: int, end_epoch: float, batch: int) -> None:
    gen = Generator(n_tasks, seed, end_epoch)
    for first in range(1, n_tasks + 1, batch):
        last = min(n_tasks, first + batch - 1)
        queue.put(("batch", last, gen.batch(first, last)))
    queue.put(("done", gen.planted_counts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--database-url", required=True, help="mysql://root@127.0.0.1:3306/mcp_bench_1m or sqlite:////absolute/path.db")
    parser.add_argument("--batch", type=int, default=5000, help="tasks per batch (one commit each)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fresh", action="store_true", help="drop the database / delete the file first")
    parser.add_argument("--fulltext-after", action="store_true", help="MariaDB: drop the FULLTEXT index for the load, build it after")
    args = parser.parse_args(argv)

    settings = parse_database_url(args.database_url)
    if settings.kind == "mysql" and not settings.name.startswith("mcp_bench"):
        print(f"Refusing to write database {settings.name!r}: benchmark databases are named mcp_bench*.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    loader = MariaDBLoader(settings, args.fresh, not args.fulltext_after) if settings.kind == "mysql" else SQLiteLoader(settings, args.fresh)

    t = time.perf_counter()
    db = Database(settings, "--database-url")
    applied = db.migrate()
    db.close()
    timings = {"migrate": time.perf_counter() - t}
    if settings.kind == "sqlite":
        loader.connect()
    if loader.has_rows():
        print(f"{settings.describe()} already holds tasks; pass --fresh to replace them.", file=sys.stderr)
        return 2
    loader.prepare()

    # One process generates the rows while this one writes them (the machine has 2 cores).
    end_epoch = time.time() - 3600
    queue: mp.Queue = mp.Queue(maxsize=4)
    producer = mp.Process(target=_produce, args=(queue, args.tasks, args.seed, end_epoch, args.batch), daemon=True)
    producer.start()
    counts = {table: 0 for table in COLUMNS}
    t_wait = t_write = 0.0
    t = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        item = queue.get()
        t1 = time.perf_counter()
        if item[0] == "done":
            planted_counts = item[1]
            break
        last, rows = item[1], item[2]
        for table in COLUMNS:  # parents first
            loader.write(table, rows[table])
            counts[table] += len(rows[table])
        loader.commit()
        t2 = time.perf_counter()
        t_wait += t1 - t0
        t_write += t2 - t1
        if (last // args.batch) % 20 == 0 or last == args.tasks:
            rate = last / (t2 - t)
            print(f"  {last:>9,} tasks  {rate:,.0f} tasks/s  (waited for rows {t_wait:.0f}s, wrote {t_write:.0f}s)", file=sys.stderr, flush=True)
    producer.join()
    t_gen = t_wait
    timings["load (generate and insert, overlapped)"] = time.perf_counter() - t
    timings["of which waiting for the generator"] = t_gen
    timings["of which insert"] = t_write
    timings.update(loader.finish())
    timings["total"] = time.perf_counter() - started

    summary = {
        "database": settings.describe(),
        "tasks": args.tasks,
        "rows": counts,
        "planted_words": {w: {"tasks": n, "fraction": round(n / args.tasks, 5)} for w, n in planted_counts.items()},
        "rare_word": RARE_WORD,
        "common_word": COMMON_WORD,
        "migrations_applied": applied,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(summary, indent=2))
    if settings.kind == "sqlite":
        manifest = Path(str(settings.sqlite_path) + ".seed.json")
    else:
        manifest = REPO / "bench" / "data" / f"{settings.name}.seed.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
