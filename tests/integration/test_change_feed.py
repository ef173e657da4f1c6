"""The change feed (infrastructure/change_feed.py) on real SQLite and real MariaDB: order,
kinds, resuming, writers from other connections, and the out-of-order-commit trap."""
from __future__ import annotations

import random
import threading
import time

import anyio
import pytest

from config import parse_database_url
from domain.models import ActorType, ExecutorType, ResultStatus, TaskStatus
from infrastructure.change_feed import SETTLE_SECONDS, Change, ChangeFeed, ChangeHub
from infrastructure.database import Database
from infrastructure.task_repository import TaskRepository
from tests.integration.test_repository import make

AI = ActorType.AI


def raw_mariadb(url: str):
    """A plain pymysql connection, as the web app or another program would hold one."""
    import pymysql

    s = parse_database_url(url)
    con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True)
    con.cursor().execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    return con


def drain(feed: ChangeFeed, seq: int, until: float = 3.0) -> list[Change]:
    """Everything after seq that settles within `until` seconds."""
    out: list[Change] = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        batch = feed.since(seq, 100)
        out += batch
        seq = batch[-1].seq if batch else seq
        if not batch:
            time.sleep(0.05)
    return out


def test_every_kind_of_write_appears_once_in_order(repo: TaskRepository, database: Database):
    feed = ChangeFeed(database)
    start = feed.head()
    task = make(repo, "Feed me")
    repo.update_task(task["id"], {"title": "Fed"}, actor="bob", actor_type=AI)
    repo.set_status(task["id"], TaskStatus.IN_PROGRESS, actor="bob", actor_type=AI)
    repo.add_comment(task["id"], content="looks good", author="carol", author_type="human")
    repo.add_result(
        task["id"], response="done", executor="bob", executor_type=ExecutorType.CLAUDE, model_name=None,
        status=ResultStatus.SUCCESS, tokens_input=1, tokens_output=2, cost_usd=None, error_message=None, request=None,
        duration_ms=None, actor_type=AI,
    )
    other = make(repo, "Doomed")
    repo.assign(other["id"], assignee="dave", assignee_type=ExecutorType.CLAUDE, model_name=None, notes=None,
                assigned_by="bob", assigned_by_type=AI)
    repo.delete_task(other["id"], actor="bob", actor_type=AI)
    changes = feed.since(start)
    assert [(c.task_id, c.kind, c.actor) for c in changes] == [
        (task["id"], "created", "alice"), (task["id"], "updated", "bob"), (task["id"], "status", "bob"),
        (task["id"], "comment", "carol"), (task["id"], "result", "bob"),
        (other["id"], "created", "alice"), (other["id"], "assigned", "bob"), (other["id"], "deleted", "bob"),
    ]
    seqs = [c.seq for c in changes]
    assert seqs == sorted(set(seqs)) and seqs[0] > start
    assert all(len(c.at) == 26 and c.at[10] == "T" for c in changes), changes[0].at
    assert feed.since(seqs[-1]) == [] and feed.head() == seqs[-1]


def test_resuming_from_any_seq_gives_the_rest_exactly_once(repo: TaskRepository, database: Database):
    feed = ChangeFeed(database)
    start = feed.head()
    for i in range(12):
        make(repo, f"t{i}")
    everything = feed.since(start)
    assert len(everything) == 12
    for k, change in enumerate(everything):  # a consumer restarted after change k
        assert feed.since(change.seq) == everything[k + 1:]
    paged, seq = [], start
    while batch := feed.since(seq, limit=5):  # small pages end to end
        paged += batch
        seq = batch[-1].seq
    assert paged == everything


def test_bad_positions_are_refused_with_what_to_pass(database: Database):
    feed = ChangeFeed(database)
    with pytest.raises(Exception, match="seq=-1 must be"):
        feed.since(-1)
    with pytest.raises(Exception, match="limit=0 must be 1 to"):
        feed.since(0, 0)


def test_concurrent_writers_from_many_connections_never_make_the_feed_skip_or_repeat(repo, database, config):
    """Writers on their own Database objects (as other processes), a watcher polling meanwhile."""
    feed = ChangeFeed(database)
    start = feed.head()
    tasks = [make(repo, f"shared {i}")["id"] for i in range(4)]
    stop = threading.Event()
    seen: list[Change] = []

    def watch() -> None:
        seq = start
        while not stop.is_set():
            batch = feed.since(seq, 50)
            seen.extend(batch)
            seq = batch[-1].seq if batch else seq

    def write(n: int) -> None:
        db = Database(config.database, config.database_source)
        other = TaskRepository(db)
        try:
            for i in range(15):
                other.add_comment(random.choice(tasks), content=f"w{n}-{i}", author=f"w{n}", author_type="ai")
        finally:
            db.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    time.sleep(SETTLE_SECONDS + 0.5)
    stop.set()
    watcher.join()
    seen += feed.since(seen[-1].seq if seen else start)
    committed = database.read(lambda tx: [int(r["seq"]) for r in tx.rows("SELECT seq FROM task_changes WHERE seq > %s ORDER BY seq", [start])])
    assert [c.seq for c in seen] == committed
    assert len(committed) == 4 + 4 * 15


# ---- MariaDB: AUTO_INCREMENT values commit out of order -------------------------------------------


@pytest.fixture
def maria(mariadb_url):
    from tests.conftest import empty_mariadb

    empty_mariadb(mariadb_url)
    db = Database(parse_database_url(mariadb_url), "DATABASE_URL")
    yield mariadb_url, db
    db.close()


def test_a_lower_seq_that_commits_later_is_not_skipped(maria):
    url, db = maria
    feed = ChangeFeed(db)
    repo = TaskRepository(db)
    task = make(repo, "race")["id"]
    start = feed.head()
    slow = raw_mariadb(url)
    cur = slow.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (%s, 'comment', 'slow')", [task])
    low = cur.lastrowid  # handed out first, not committed yet
    repo.add_comment(task, content="fast", author="fast", author_type="ai")  # a higher seq, committed first
    time.sleep(SETTLE_SECONDS + 0.1)
    # The trap is real: a plain read now shows the higher seq alone.
    plain = db.read(lambda tx: [int(r["seq"]) for r in tx.rows("SELECT seq FROM task_changes WHERE seq > %s", [start])])
    assert plain == [low + 1]
    # While the slow transaction is open, the feed holds the later change back instead of skipping past the hole.
    for _ in range(3):
        assert feed.since(start) == []
        time.sleep(0.2)
    cur.execute("COMMIT")
    got = feed.since(start)
    assert [(c.seq, c.actor) for c in got] == [(low, "slow"), (low + 1, "fast")]
    slow.close()


def test_a_hole_left_by_a_rollback_delays_the_next_change_briefly_and_loses_nothing(maria):
    url, db = maria
    feed = ChangeFeed(db)
    repo = TaskRepository(db)
    task = make(repo, "hole")["id"]
    start = feed.head()
    con = raw_mariadb(url)
    cur = con.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (%s, 'comment', 'gone')", [task])
    cur.execute("ROLLBACK")  # its seq is burnt: a hole for good
    repo.add_comment(task, content="after the hole", author="next", author_type="ai")
    began = time.monotonic()
    got = drain(feed, start, until=1.5)
    assert [c.actor for c in got] == ["next"]
    con.close()
    assert time.monotonic() - began >= 1.4  # drain ran its course; the change itself came within SETTLE_SECONDS


def open_change(url: str, task: int, actor: str):
    """Another connection's feed row, inserted in a transaction left open: (connection, cursor)."""
    con = raw_mariadb(url)
    cur = con.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (%s, 'comment', %s)", [task, actor])
    return con, cur


def test_head_taken_just_after_a_rollback_hole_stands_after_what_is_already_committed(maria):
    """A hole left by a rollback, then a change, then head() at once (CI at stop 30: a test
    that takes head() after a refused write saw earlier changes as new). head() waits for the
    hole to settle, briefly, instead of standing before it."""
    url, db = maria
    feed = ChangeFeed(db)
    repo = TaskRepository(db)
    task = make(repo, "hole then head")["id"]
    con, cur = open_change(url, task, "gone")
    cur.execute("ROLLBACK")  # a hole for good
    repo.add_comment(task, content="before head", author="before", author_type="ai")
    start = feed.head()
    assert feed.since(start) == []  # nothing committed before head() counts as new
    repo.add_comment(task, content="after head", author="after", author_type="ai")
    assert [c.actor for c in drain(feed, start, until=0.5)] == ["after"]
    con.close()


def test_head_never_stands_past_a_transaction_that_is_still_open(maria):
    """The wait is bounded: an open writer holding a lower seq keeps head() below it, so the
    writer's change, committed later, is still delivered (early rather than lost)."""
    url, db = maria
    feed = ChangeFeed(db)
    repo = TaskRepository(db)
    task = make(repo, "held then head")["id"]
    con, cur = open_change(url, task, "held")
    repo.add_comment(task, content="later seq", author="later", author_type="ai")
    began = time.monotonic()
    start = feed.head()
    assert time.monotonic() - began < 5  # bounded, though the writer stays open
    cur.execute("COMMIT")
    assert "held" in [c.actor for c in drain(feed, start, until=0.5)]
    con.close()


def test_raw_writers_that_commit_out_of_order_and_roll_back_are_seen_exactly_once(maria):
    """Many connections insert, linger a random while, then commit or roll back, while a watcher polls."""
    url, db = maria
    feed = ChangeFeed(db)
    task = make(TaskRepository(db), "storm")["id"]
    start = feed.head()
    committed: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    seen: list[Change] = []

    def write(n: int) -> None:
        con = raw_mariadb(url)
        cur = con.cursor()
        rnd = random.Random(n)
        for i in range(20):
            cur.execute("BEGIN")
            cur.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (%s, 'comment', %s)", [task, f"w{n}"])
            seq = cur.lastrowid
            time.sleep(rnd.uniform(0, 0.04))
            if rnd.random() < 0.15:
                cur.execute("ROLLBACK")
            else:
                cur.execute("COMMIT")
                with lock:
                    committed.append(seq)
        con.close()

    def watch() -> None:
        seq = start
        while not stop.is_set():
            batch = feed.since(seq, 50)
            seen.extend(batch)
            seq = batch[-1].seq if batch else seq
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    time.sleep(SETTLE_SECONDS + 0.5)
    stop.set()
    watcher.join()
    seen += drain(feed, seen[-1].seq if seen else start, until=0.5)
    assert [c.seq for c in seen] == sorted(committed)


# ---- ChangeHub ----------------------------------------------------------------------------------------


async def next_within(iterator, seconds: float = 2.0) -> Change:
    with anyio.fail_after(seconds):
        return await iterator.__anext__()


@pytest.mark.anyio
async def test_the_hub_delivers_a_change_made_by_another_process_within_two_seconds(repo, database, config):
    hub = ChangeHub(database, interval=0.2)
    other_db = Database(config.database, config.database_source)  # what another server process holds
    other = TaskRepository(other_db)
    try:
        async with hub.listen() as changes:
            assert hub._task is not None
            began = time.monotonic()
            created = await anyio.to_thread.run_sync(lambda: make(other, "from elsewhere"))
            change = await next_within(changes)
            assert (change.task_id, change.kind) == (created["id"], "created")
            assert time.monotonic() - began < 2
        assert hub._task is None  # nobody listens: the poll loop stopped
    finally:
        other_db.close()


@pytest.mark.anyio
async def test_a_slow_listener_neither_blocks_others_nor_loses_changes(repo, database):
    hub = ChangeHub(database, interval=0.05)
    hub.buffer = 5
    task = make(repo, "busy")["id"]
    async with hub.listen() as fast, hub.listen() as slow:
        for i in range(30):
            await anyio.to_thread.run_sync(lambda i=i: repo.add_comment(task, content=f"c{i}", author="x", author_type="ai"))
        got_fast = [await next_within(fast) for _ in range(30)]  # the fast one reads while the slow one does not
        assert [c.kind for c in got_fast] == ["comment"] * 30
        slow_listener = next(l for l in hub._listeners if l is slow)
        assert slow_listener.catching_up  # it overflowed ...
        got_slow = [await next_within(slow) for _ in range(30)]
        assert got_slow == got_fast  # ... and caught up from the database: nothing lost, nothing twice
        await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="live", author="y", author_type="ai"))
        assert (await next_within(slow)).actor == "y" and (await next_within(fast)).actor == "y"


@pytest.mark.anyio
async def test_a_restarted_watcher_resumes_from_its_last_seq_without_loss_or_duplicates(repo, database, config):
    hub = ChangeHub(database, interval=0.05)
    task = make(repo, "resume")["id"]
    async with hub.listen() as changes:
        await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="before", author="a", author_type="ai"))
        last = await next_within(changes)
    # The watcher is gone (a restart); changes land meanwhile, one by plain SQL from the outside.
    for who in ("b", "c"):
        await anyio.to_thread.run_sync(lambda who=who: repo.add_comment(task, content="while down", author=who, author_type="ai"))

    def plain_sql(tx):
        tx.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (%s, 'updated', 'webapp')", [task])

    other = Database(config.database, config.database_source)
    await anyio.to_thread.run_sync(lambda: other.write(plain_sql))
    other.close()
    fresh = ChangeHub(database, interval=0.05)  # a new process's hub
    async with fresh.listen(after=last.seq) as changes:
        got = [await next_within(changes) for _ in range(3)]
        assert [c.actor for c in got] == ["b", "c", "webapp"]
        assert got[0].seq > last.seq
        await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="after", author="d", author_type="ai"))
        assert (await next_within(changes)).actor == "d"  # and then live, with nothing repeated


def test_a_database_without_the_feed_table_still_takes_writes_and_the_feed_says_what_to_run(config):
    """A database the web app made, not yet brought up to date by init-db."""
    from domain.errors import StorageError

    db = Database(config.database, config.database_source)
    sqlite_triggers = []
    if db.dialect == "sqlite":  # such a file has none of the feed's triggers either (0009 comes after 0008)
        sqlite_triggers = [r["name"] for r in db.read(lambda tx: tx.rows(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'mcp_tasks_feed_%'"))]
        for name in sqlite_triggers:
            db.write(lambda tx, name=name: tx.execute(f"DROP TRIGGER {name}"))
    try:
        db.write(lambda tx: tx.execute("DROP TABLE task_changes"))
        repo = TaskRepository(db)
        task = make(repo, "still works")
        assert repo.add_comment(task["id"], content="no feed", author="a", author_type="ai")["content"] == "no feed"
        with pytest.raises(StorageError, match="init-db"):
            ChangeFeed(db).since(0)
        assert "task_changes" in db.health()[1]
    finally:  # put it back: the MariaDB test database is shared by the whole run (its migration is recorded as done)
        from infrastructure.database import SQL_DIR

        ddl = (SQL_DIR / ("mariadb" if db.dialect == "mysql" else "sqlite") / "0008.change-feed.sql").read_text()
        db.write(lambda tx: tx.execute(ddl))
        db.close()
        if sqlite_triggers:
            import sqlite3

            con = sqlite3.connect(str(config.database.sqlite_path))
            con.executescript((SQL_DIR / "sqlite" / "0009.foreign-writes.sql").read_text())
            con.close()


@pytest.mark.anyio
async def test_a_listener_from_now_on_after_an_idle_spell_gets_no_stale_changes(repo, database):
    hub = ChangeHub(database, interval=0.05)
    task = make(repo, "idle")["id"]
    async with hub.listen() as changes:
        await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="seen", author="a", author_type="ai"))
        await next_within(changes)
    await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="while nobody listened", author="b", author_type="ai"))
    async with hub.listen() as changes:
        await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="now", author="c", author_type="ai"))
        assert (await next_within(changes)).actor == "c"


def test_a_read_only_server_settles_holes_too(maria):
    """READ_ONLY=true makes the MariaDB session READ ONLY; the settling locking read must still run there."""
    url, db = maria
    task = make(TaskRepository(db), "read-only watcher")["id"]
    reader = Database(parse_database_url(url), "DATABASE_URL", read_only=True)
    try:
        feed = ChangeFeed(reader)
        start = feed.head()
        con = raw_mariadb(url)
        cur = con.cursor()
        cur.execute("BEGIN")
        cur.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (%s, 'comment', 'held')", [task])
        TaskRepository(db).add_comment(task, content="later seq", author="later", author_type="ai")
        time.sleep(SETTLE_SECONDS + 0.1)
        assert feed.since(start) == []  # the open writer holds the hole
        cur.execute("COMMIT")
        assert [c.actor for c in feed.since(start)] == ["held", "later"]
        con.close()
    finally:
        reader.close()


# ---- pruning ------------------------------------------------------------------------------------


@pytest.fixture
def empty_feed(database):
    """The shared MariaDB test database keeps the feed rows of earlier tests, which are young
    and lie below this test's: pruning goes from the bottom, and stops at the first young row."""
    database.write(lambda tx: tx.execute("DELETE FROM task_changes"))
    if database.dialect == "mysql":  # seqs from 1 again: no hole below the first row
        database.write(lambda tx: tx.execute("ALTER TABLE task_changes AUTO_INCREMENT = 1"))
    return database


def age(database: Database, seqs: list[int], days: int) -> None:
    """Make these changes `days` old, as a month of running would."""
    old = f"NOW(6) - INTERVAL {days} DAY" if database.dialect == "mysql" else f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-{days} days')"
    database.write(lambda tx: tx.execute(
        f"UPDATE task_changes SET changed_at = {old} WHERE seq IN ({', '.join(['%s'] * len(seqs))})", seqs
    ))


def task_with_comments(repo, feed: ChangeFeed, comments: int) -> tuple[int, int, list[int]]:
    """(where the feed stood, the task, the seqs of its creation and comments)."""
    start = feed.head()
    task = make(repo, "a month of work")["id"]
    for i in range(comments):
        repo.add_comment(task, content=f"c{i}", author="a", author_type="ai")
    seqs = [c.seq for c in feed.since(start)]
    assert len(seqs) == comments + 1
    return start, task, seqs


def test_pruning_removes_old_changes_and_a_reader_from_before_them_is_told(repo, empty_feed):
    database = empty_feed
    feed = ChangeFeed(database)
    start, _, seqs = task_with_comments(repo, feed, 9)
    age(database, seqs[:7], days=40)
    reader_head = seqs[-1]  # a reader that is up to date ...
    stale_reader = seqs[2]  # ... and one that last saw the third change, long ago

    assert feed.prune(30 * 86400, batch=3) == 6  # in steps of at most 3 rows, oldest first
    left = feed.since(start)
    assert [c.seq for c in left] == seqs[6:]  # the seventh, the newest old one, stays ...
    assert left[0].kind == "pruned" and [c.kind for c in left[1:]] == ["comment"] * 3  # ... as the marker
    assert [c.kind for c in feed.since(stale_reader)][:1] == ["pruned"]  # told that it missed changes
    assert feed.since(reader_head) == []  # one that is up to date sees nothing of it
    assert feed.prune(30 * 86400) == 0  # nothing more is old: the marker stays, nothing else goes
    assert [c.seq for c in feed.since(start)] == seqs[6:]
    age(database, seqs[6:], days=40)
    assert feed.prune(30 * 86400) == 3  # everything old: the newest row stays, as the marker
    assert [(c.seq, c.kind) for c in feed.since(start)] == [(seqs[-1], "pruned")]


def test_pruning_keeps_every_change_younger_than_the_setting(repo, empty_feed):
    feed = ChangeFeed(empty_feed)
    start, _, _ = task_with_comments(repo, feed, 5)
    before = feed.since(start)
    assert feed.prune(3600) == 0 and feed.prune(3600, batch=2) == 0
    assert feed.since(start) == before


@pytest.mark.anyio
async def test_a_running_watcher_prunes_and_a_resuming_listener_gets_the_marker(repo, empty_feed):
    database = empty_feed
    feed = ChangeFeed(database)
    start, task, seqs = task_with_comments(repo, feed, 3)
    age(database, seqs[:3], days=40)
    hub = ChangeHub(database, interval=0.05, keep_seconds=30 * 86400)
    async with hub.listen() as changes:
        with anyio.fail_after(5):
            while feed.since(start)[0].seq != seqs[2]:  # the first poll prunes
                await anyio.sleep(0.05)
        await anyio.to_thread.run_sync(lambda: repo.add_comment(task, content="live", author="b", author_type="ai"))
        assert (await next_within(changes)).actor == "b"  # and goes on delivering as before
    async with ChangeHub(database, interval=0.05).listen(after=start) as resumed:  # a browser back after a month
        first = await next_within(resumed)
        assert (first.seq, first.kind) == (seqs[2], "pruned")
        after_marker = [await next_within(resumed) for _ in range(2)]
        assert [(c.seq, c.actor) for c in after_marker] == [(seqs[3], "a"), (after_marker[1].seq, "b")]
