"""The change feed: every change to a task, from any process, in order, exactly once.

Every write of ours leaves a history row (task_comments) in its transaction, and beside it a
row in `task_changes` (sql/*/0008.change-feed.sql): seq, task id, kind, actor, time. A
deletion writes one too; its history rows go with the task (ON DELETE CASCADE), which is why
the feed is a table of its own rather than the history itself. Watchers in every process
(MCP subscriptions, the board's live updates) read `seq > last ORDER BY seq`, a primary-key
range scan that costs the same at a million rows as at ten.

The trap, and how it is avoided. An AUTO_INCREMENT value is handed out when a row is
inserted, but transactions commit in any order: seq 11 may commit after seq 12, so a
watcher that has seen 12 and goes on from there loses 11. On SQLite this cannot happen
(one writer at a time, and a rolled-back seq is handed out again). On MariaDB `since()`
hands out only a *settled* prefix:
- rows without a hole (last+1, last+2, ...) are safe as they are: nothing below them is missing;
- at a hole, it reads the range again with LOCK IN SHARE MODE NOWAIT. An uncommitted
  insert holds a lock on its record, so that read fails at once while any transaction that
  inserted a row in the range is still open: then the feed hands out what precedes the hole
  and asks again at the next poll (nobody waits on a lock). When the read passes, every row
  in the range is committed or gone for good (rolled back, a deadlock retry, a pruned row).
- the one moment a lock cannot cover is between the handing out of a value and the insert
  of its record, inside one INSERT statement. A hole is therefore passed only when the row
  after it is SETTLE_SECONDS old by the database clock: its value was handed out after the
  hole's, so the hole's record, if any, has long been inserted (and locked).
So a hole delays the changes after it by SETTLE_SECONDS at most (or for as long as the
transaction that made it stays open), and never loses one. tests/integration/test_change_feed.py
holds a transaction open across a later commit, and runs writers that commit out of order.

On Galera none of that holds: the NOWAIT lock sees only this node's open transactions, and
AUTO_INCREMENT hands out seqs interleaved by node (auto_increment_increment = cluster
size), so every seq follows a hole and a lower one may commit on another node at any time.
There the feed's order is not seq but `pos` (sql/mariadb/0011.galera.py), handed out after
commit: `sequence()` takes the one row of task_feed_position by writing it, numbers the
committed rows that have no pos yet (pos+1, pos+2, ... in one transaction) and moves the
row on. Two sequencers on two nodes both write that row, so certification lets one commit
and refuses the other (1213; it runs again and finds nothing left to number). Positions are
therefore contiguous, and since Galera applies commits in one order on every node, a node
that shows pos N shows every pos below it: a reader reads `pos > last ORDER BY pos`, no
hole check, no lock. A change committed late (on any node) simply gets the next pos when
it is committed: delivered, never lost, never twice. Every polling instance sequences
before it reads (a read-only one leaves it to the others), so a change waits one poll to be
numbered and one to be read. Change.seq carries pos there.

Pruning. The feed keeps CHANGE_FEED_KEEP_DAYS (30) of changes; `prune()` deletes older rows
from the bottom, PRUNE_BATCH at a time (each a short transaction on the primary key), and
turns the newest row it passes into a `pruned` change. A reader resuming from below it (a
browser's Last-Event-ID from a month ago) therefore meets that row first, and knows that
what came before is gone and it must read afresh (the board reloads on any change); a
reader from above it never sees it. On Galera "bottom" and "passes" go by pos, the feed's order
there. init-db prunes, and so does a running watcher, hourly.

ChangeFeed is synchronous SQL. ChangeHub is the one watcher per process: it polls the feed
in a worker thread while anybody listens and fans changes out to async listeners.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from domain.errors import InvalidInput
from infrastructure.database import Database
from infrastructure.tx import Tx, text_time

log = logging.getLogger(__name__)

SINCE_MAX = 5_000  # rows one since() call returns at most
SETTLE_SECONDS = 0.25  # a hole is passed only when the row after it is this old (see above)
HEAD_LOOKBACK = 256  # head() settles this many of the newest seqs, so an in-flight lower seq is not skipped
HEAD_SETTLE_WAIT = 4 * SETTLE_SECONDS  # head() waits at most this long for a hole among them to settle
HUB_BATCH = 500  # rows the hub reads per poll; a fuller batch is followed at once by the next
LISTENER_BUFFER = 1_000  # changes buffered per listener before it is switched to catching up from the database
CATCH_UP_THREADS = 2  # worker threads all listeners' catch-up reads share (see ChangeHub.__init__)
ERROR_BACKOFF_MAX = 5.0  # seconds between polls while the database does not answer
PRUNE_BATCH = 10_000  # rows one pruning transaction deletes at most
PRUNE_EVERY = 3600.0  # seconds between a running watcher's prunes
PRUNED = "pruned"  # the kind of the row that stands for every change pruned before it

# history comment_type -> change kind (a status change without "from" is the creation)
_KINDS = {"status_change": "status", "assignment": "assigned", "result": "result", "update": "updated"}
COLUMNS = "seq, task_id, kind, actor, changed_at"
GALERA_COLUMNS = "pos AS seq, task_id, kind, actor, changed_at"  # on Galera the feed's order is pos
SEQUENCE_BATCH = 2_000  # changes one sequencer transaction numbers at most


@dataclass(frozen=True)
class Change:
    seq: int  # position in the feed; strictly increasing; an SSE event id / resume point
    task_id: int
    kind: str  # created, updated, status, assigned, comment, result, deleted
    actor: str | None
    at: str  # ISO 8601 'YYYY-MM-DDTHH:MM:SS.ffffff', database clock


def change_kind(comment_type: str, metadata: dict | None) -> str:
    """The feed's kind for a history row of this type (comments, notes, quality checks: comment)."""
    if comment_type == "status_change" and not (metadata or {}).get("from"):
        return "created"
    return _KINDS.get(comment_type, "comment")


def record_change(tx: Tx, task_id: int, kind: str, actor: str | None) -> None:
    """One feed row, in the caller's transaction: it commits (or not) with the change it reports."""
    tx.execute(
        f"INSERT INTO task_changes (task_id, kind, actor, changed_at) VALUES (%s, %s, %s, {tx.now})",
        [task_id, kind, actor[:100] if actor else actor],
    )


def _change(row: dict[str, Any]) -> Change:
    return Change(int(row["seq"]), int(row["task_id"]), row["kind"], row["actor"], text_time(row["changed_at"]))


class ChangeFeed:
    """Reads the feed. Synchronous and stateless: the caller keeps its position."""

    def __init__(self, db: Database):
        self.db = db

    def galera(self) -> bool:
        """Whether the database is a Galera cluster (asked of the first connection)."""
        if self.db.dialect != "mysql":
            return False
        if self.db.galera is None:
            self.db.read(lambda tx: None)  # the first connection answers it
        return bool(self.db.galera)

    def sequence(self, batch: int = SEQUENCE_BATCH) -> int:
        """Galera: number the committed changes that have no pos yet (module docstring); how many."""
        if self.db.read_only or not self.db.read(
            lambda tx: tx.value("SELECT 1 AS x FROM task_changes WHERE pos IS NULL LIMIT 1")
        ):
            return 0

        def run(tx: Tx) -> int:
            # The row lock orders sequencers on this node; across nodes, both write the row (and
            # the unique pos of each change), and certification lets only one of them commit.
            top = int(tx.value("SELECT pos FROM task_feed_position WHERE id = 1 FOR UPDATE"))
            tx.execute("SET @mcp_tasks_pos = %s", [top])
            numbered = tx.execute(
                "UPDATE task_changes SET pos = (@mcp_tasks_pos := @mcp_tasks_pos + 1) WHERE pos IS NULL ORDER BY seq LIMIT %s",
                [batch],
            )
            if numbered:
                tx.execute("UPDATE task_feed_position SET pos = %s WHERE id = 1", [top + numbered])
            return numbered

        return self.db.write(run)

    def head(self, settle: float = HEAD_SETTLE_WAIT) -> int:
        """The current position: since(head()) gives only changes committed from now on.

        Not simply MAX(seq): a lower seq may still be in flight. The newest HEAD_LOOKBACK seqs
        are settled first, so head() stops before a hole that may yet fill, waiting up to
        `settle` seconds for it to settle. settle=0 answers at once, perhaps before a hole, so
        that since() may also hand out a few changes committed just before the call (early,
        never lost): for a hot path where an extra change costs nothing, such as the board's
        streams, which open by the hundred and must not each hold a worker thread for a second.
        """
        if self.galera():
            self.sequence()
            return int(self.db.read(lambda tx: tx.value("SELECT pos FROM task_feed_position WHERE id = 1")) or 0)

        def top_and_count(tx: Tx) -> tuple[int, int]:
            top = int(tx.value("SELECT COALESCE(MAX(seq), 0) AS top FROM task_changes") or 0)
            count = int(tx.value("SELECT COUNT(*) AS n FROM task_changes WHERE seq > %s", [max(0, top - HEAD_LOOKBACK)]))
            return top, count

        top, count = self.db.read(top_and_count)
        position = max(0, top - HEAD_LOOKBACK)
        if count == top - position:  # no hole among the newest seqs: nothing below top is in flight there
            return top
        # A hole: since() passes it once the row after it is SETTLE_SECONDS old and no open
        # transaction holds one in the range. Wait that long (a rollback's hole, the usual
        # case), not longer: standing before a hole makes since(head()) hand out changes
        # committed before the call, which is safe (early, never lost) but not "from now on".
        deadline = time.monotonic() + settle
        while True:
            while position < top:
                batch = self.since(position, HEAD_LOOKBACK)
                if not batch:
                    break
                position = batch[-1].seq
            if position >= top or time.monotonic() >= deadline:
                return position
            time.sleep(SETTLE_SECONDS / 5)

    def since(self, seq: int, limit: int = 500) -> list[Change]:
        """Every change after seq, in order, exactly once: a settled prefix, never past a hole
        that may still fill (the module docstring says how). Empty when nothing new is settled."""
        if not isinstance(seq, int) or seq < 0:
            raise InvalidInput(f"seq={seq!r} must be a whole number >= 0: 0 or a seq from the feed.")
        if not isinstance(limit, int) or not 1 <= limit <= SINCE_MAX:
            raise InvalidInput(f"limit={limit!r} must be 1 to {SINCE_MAX}.")
        if self.galera():
            self.sequence()
            return [_change(r) for r in self.db.read(lambda tx: tx.rows(
                f"SELECT {GALERA_COLUMNS} FROM task_changes WHERE pos > %s ORDER BY pos LIMIT %s", [seq, limit]
            ))]
        rows = self.db.read(
            lambda tx: tx.rows(f"SELECT {COLUMNS} FROM task_changes WHERE seq > %s ORDER BY seq LIMIT %s", [seq, limit])
        )
        if self.db.dialect == "sqlite" or all(int(r["seq"]) == seq + i + 1 for i, r in enumerate(rows)):
            return [_change(r) for r in rows]
        settled = self.db.read(lambda tx: self._settle(tx, seq, int(rows[-1]["seq"])))
        if settled is None:  # a transaction still holds a row in the range: hand out what has no hole
            settled = rows
        out: list[Change] = []
        expected = seq + 1
        for row in settled:
            if int(row["seq"]) != expected and float(row.get("age_us") or 0) < SETTLE_SECONDS * 1e6:
                break  # a hole before a row too young to prove it will stay a hole
            out.append(_change(row))
            expected = int(row["seq"]) + 1
        return out

    def prune(self, keep_seconds: float, batch: int = PRUNE_BATCH) -> int:
        """Delete the changes older than keep_seconds (database clock), oldest first, `batch`
        rows a transaction; the newest row passed becomes the `pruned` marker (module
        docstring). Stops at the first row young enough to keep, so the cost is the rows
        removed, never the size of the table. Returns how many rows were deleted."""
        removed = 0
        # The feed's order: on Galera pos, not seq. Pruning by seq there could delete a row whose
        # pos lies above the marker's, and a reader resuming between the two would never be told.
        order = "pos" if self.galera() else "seq"
        while True:
            deleted, more = self.db.write(lambda tx: self._prune_step(tx, keep_seconds, batch, order))
            removed += deleted
            if not more:
                return removed

    @staticmethod
    def _prune_step(tx: Tx, keep_seconds: float, batch: int, order: str = "seq") -> tuple[int, bool]:
        if tx.dialect == "mysql":
            old = "changed_at < NOW(6) - INTERVAL %s SECOND"
        else:
            old = "changed_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || %s || ' seconds')"
        # (Galera: a row without pos is not numbered yet, so not yet in the feed's order: kept.)
        numbered = "WHERE pos IS NOT NULL " if order == "pos" else ""
        sql = f"SELECT {order} AS seq, kind, {old} AS old FROM task_changes {numbered}ORDER BY {order} LIMIT %s"
        rows: list[dict[str, Any]] = []
        for limit in (2, batch):  # two rows tell the usual case, nothing to prune, without reading a batch
            rows = tx.rows(sql, [keep_seconds, limit])
            prefix = 0
            while prefix < len(rows) and rows[prefix]["old"]:
                prefix += 1
            if prefix == 0 or (prefix == 1 and rows[0]["kind"] == PRUNED):
                return 0, False  # nothing old, or only the marker of an earlier prune
            if prefix < len(rows) or len(rows) < limit:
                break  # the old prefix ends within these rows
        cut = int(rows[prefix - 1]["seq"])
        deleted = tx.execute(f"DELETE FROM task_changes WHERE {order} < %s", [cut])
        tx.execute(f"UPDATE task_changes SET kind = %s WHERE {order} = %s", [PRUNED, cut])
        return deleted, prefix == len(rows) == batch  # a whole batch was old: there may be more

    @staticmethod
    def _settle(tx: Tx, after: int, upto: int) -> list[dict[str, Any]] | None:
        """The range (after, upto] when no open transaction holds a row in it; None while one
        does. age_us: each row's age on the database clock."""
        import pymysql

        try:
            return tx.rows(
                f"SELECT {COLUMNS}, TIMESTAMPDIFF(MICROSECOND, changed_at, NOW(6)) AS age_us FROM task_changes "
                "WHERE seq > %s AND seq <= %s ORDER BY seq LOCK IN SHARE MODE NOWAIT",
                [after, upto],
            )
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1205:  # NOWAIT found a lock: a writer is still open; ask again later
                return None
            raise


class ChangeHub:
    """The one watcher per process and database: polls the feed in a worker thread while
    anybody listens, and hands each listener every change after its position.

    A slow listener blocks nobody: each has its own buffer of LISTENER_BUFFER changes. When
    it overflows, the hub stops filling it and the listener, once it has drained its buffer,
    catches up by reading the feed itself from where it is (in its own task), then rejoins the
    hub. So overflow costs a listener database reads, never a lost or repeated change. A
    listener that starts from an old seq (`listen(after=...)`, a client resuming) catches
    up the same way.

    Runs on asyncio (the SDK's transports and uvicorn do).
    """

    def __init__(self, db: Database, interval: float = 0.5, keep_seconds: float | None = None):
        self.feed = ChangeFeed(db)
        self.interval = interval
        # Prunes changes older than this once an hour while polling (None: never; read-only: never).
        self.keep_seconds = None if db.read_only else keep_seconds
        self._next_prune = 0.0
        self._pruning: asyncio.Task | None = None  # the running prune, kept referenced until it ends
        self.buffer = LISTENER_BUFFER
        self.cursor: int | None = None  # where the hub has read to; None until the first listener
        self._listeners: set[_Listener] = set()
        self._task: asyncio.Task | None = None
        self._start_lock: asyncio.Lock | None = None
        self.polls = 0  # for tests and doctor-style checks: how many polls ran
        self._failing_since: float | None = None
        # Catch-up reads (listeners resuming from an old seq) take worker threads of their own,
        # CATCH_UP_THREADS at most: a crowd of resuming streams waits for those, never for the
        # threads tool calls run in (anyio's default pool, which they would otherwise fill).
        self._catch_up_limiter: Any = None

    @property
    def listening(self) -> int:
        return len(self._listeners)

    @asynccontextmanager
    async def listen(self, after: int | None = None) -> AsyncIterator[AsyncIterator[Change]]:
        """An async iterator of the changes after `after` (None: from now on), for as long as
        the block runs. The poll loop runs while at least one block is open."""
        if after is not None and (not isinstance(after, int) or after < 0):
            raise InvalidInput(f"after={after!r} must be a seq from the feed (a whole number >= 0), or None for now on.")
        await self._start()
        assert self.cursor is not None
        listener = _Listener(self, self.cursor if after is None else after)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
            listener.close()
            if not self._listeners:
                await self._stop()

    async def aclose(self) -> None:
        """Stop polling and end every listener's iterator (server shutdown)."""
        for listener in list(self._listeners):
            listener.close()
        self._listeners.clear()
        await self._stop()

    async def _start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._task is not None and not self._task.done():
                return
            if self.cursor is None:
                import anyio

                self.cursor = await anyio.to_thread.run_sync(self.feed.head)
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="change-feed-poll")
            log.debug("change feed: polling from seq %d", self.cursor)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - it was told to stop
                pass
        if self._task is None and not self._listeners:
            # Idle: the next listener "from now on" starts at the head then, not where polling stopped.
            self.cursor = None
        if task is not None:
            log.debug("change feed: nobody listens; polling stopped")

    async def _poll(self) -> None:
        import anyio

        delay = self.interval
        while True:
            try:
                changes = await anyio.to_thread.run_sync(self.feed.since, self.cursor, HUB_BATCH)
            except Exception as exc:  # noqa: BLE001 - the database is down or busy: keep the listeners, try again
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.warning("change feed: cannot read new changes (%s); retrying until the database answers", exc)
                delay = min(ERROR_BACKOFF_MAX, delay * 2)
                await anyio.sleep(delay)
                continue
            if self._failing_since is not None:
                log.info("change feed: reading again after %.1f s", time.monotonic() - self._failing_since)
                self._failing_since = None
            delay = self.interval
            self.polls += 1
            if changes:
                self.cursor = changes[-1].seq
                for listener in list(self._listeners):
                    listener.offer(changes)
            if self.keep_seconds and time.monotonic() >= self._next_prune and (self._pruning is None or self._pruning.done()):
                # Beside the polls, not in their way: a first prune after an upgrade may take a while.
                self._next_prune = time.monotonic() + PRUNE_EVERY
                self._pruning = asyncio.get_running_loop().create_task(self._prune(), name="change-feed-prune")
            if len(changes) < HUB_BATCH:
                await anyio.sleep(self.interval)

    async def _prune(self) -> None:
        import anyio

        try:
            removed = await anyio.to_thread.run_sync(self.feed.prune, self.keep_seconds)
        except Exception as exc:  # noqa: BLE001 - pruning is housekeeping: the next hour tries again
            log.warning("change feed: pruning old changes failed (%s); trying again in an hour", exc)
            return
        if removed:
            log.info("change feed: pruned %d changes older than %g days", removed, self.keep_seconds / 86400)


class _Listener:
    """One listener's position and buffer; iterating it yields Changes."""

    def __init__(self, hub: ChangeHub, position: int):
        self.hub = hub
        self.position = position  # the last seq handed to the consumer
        self.queued = position  # the last seq in the buffer (or handed out)
        self.pending: deque[Change] = deque()
        # Behind the hub (resuming from an old seq): read the feed directly until level with it.
        self.catching_up = position < (hub.cursor or 0)
        self.closed = False
        self._wakeup: asyncio.Event | None = None

    def offer(self, changes: list[Change]) -> None:
        """The hub's new changes (runs on the event loop, between the listener's awaits)."""
        if self.closed or self.catching_up:
            return
        fresh = [c for c in changes if c.seq > self.queued]
        if len(self.pending) + len(fresh) > self.hub.buffer:
            self.catching_up = True  # overflow: keep what is buffered, read the rest from the feed later
            log.info("change feed: a listener fell %d changes behind; it catches up from the database", len(fresh))
        elif fresh:
            self.pending.extend(fresh)
            self.queued = fresh[-1].seq
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def ready(self) -> list[Change]:
        """The changes already buffered, taken without waiting: a consumer that acts once per
        burst (one notification for ten changes to a task) takes them after each __anext__."""
        taken = list(self.pending)
        self.pending.clear()
        if taken:
            self.position = taken[-1].seq
        return taken

    def __aiter__(self) -> _Listener:
        return self

    async def __anext__(self) -> Change:
        while True:
            if self.pending:
                change = self.pending.popleft()
                self.position = change.seq
                return change
            if self.closed:
                raise StopAsyncIteration
            if self.catching_up:
                await self._catch_up()
                continue
            self._wakeup = asyncio.Event()
            await self._wakeup.wait()
            self._wakeup = None

    async def _catch_up(self) -> None:
        import anyio

        if self.hub._catch_up_limiter is None:
            self.hub._catch_up_limiter = anyio.CapacityLimiter(CATCH_UP_THREADS)
        try:
            batch = await anyio.to_thread.run_sync(self.hub.feed.since, self.queued, HUB_BATCH,
                                                   limiter=self.hub._catch_up_limiter)
        except Exception as exc:  # noqa: BLE001 - as in the hub's poll: wait and try again
            log.warning("change feed: a listener cannot catch up (%s); retrying", exc)
            await anyio.sleep(self.hub.interval)
            return
        if batch:
            self.pending.extend(batch)
            self.queued = batch[-1].seq
        # Level with the hub (checked without an await in between, so no poll lands in the gap):
        # from here the hub's offers carry every change after self.queued.
        if len(batch) < HUB_BATCH and self.queued >= (self.hub.cursor or 0):
            self.catching_up = False
        elif not batch:
            await anyio.sleep(self.hub.interval)  # the hub is ahead, but the next seq is not settled yet
