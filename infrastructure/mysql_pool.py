"""MariaDB/MySQL connections for `Database`: a small, bounded pool of autocommit PyMySQL
connections, and the server-side prepared statements each connection keeps.

Why our own pool and not DBUtils (which served until issue 16): DBUtils wraps each connection
and each cursor in Python proxies (the pool's dedicated connection, SteadyDB's "tough"
methods) that cost ~35 µs of CPU a call, a tenth of an in-process tasks_get, and what they add
on top of a pool, reconnecting inside a method, `Database.read`/`write` already do one level
up (a call whose connection was lost runs once more on a new one). What is kept:
- a bound: at most `size` connections; beyond it a call waits for one to come back instead
  of paying for a new connection (connect + auth) and closing it again;
- each new connection runs the session statements (the mark that keeps the foreign-write
  triggers silent for us) before it is handed out;
- a connection idle for `ping_idle` seconds or more is pinged when it is handed out, and a
  dead one replaced: that is how a restarted server is reconnected. One used more recently
  was alive then; if the server went away since, the first statement fails and the caller
  retries on a new connection. The ping waits `ping_timeout` (DB_CONNECT_TIMEOUT), not the
  statement timeout: a server behind a partition (packets dropped, nothing refused) is found
  in seconds, where a statement would wait DB_QUERY_TIMEOUT for it;
- a connection that failed (lost, timed out, out of sync) is closed, never handed out again,
  and every idle one is pinged before its next use: a server restart kills them all at once,
  and the caller's one retry must get a live connection, not the next dead one.

Prepared statements (`prepared()`): MariaDB parses a statement on every COM_QUERY. The
tasks_get statement is 4.7 KB of SQL, and parsing it was ~0.45 of its 1.1 ms in the
database, on the same cores as the server. PREPARE once per connection, then `EXECUTE name
USING 5, 5, ...`: literals in USING are MariaDB's (10.2+); MySQL takes only user variables
there, so the Database prepares only on MariaDB.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

PREPARED_PER_CONNECTION = 64  # distinct statements a connection prepares; past it, statements run as text
_UNKNOWN_STATEMENT = 1243  # ER_UNKNOWN_STMT_HANDLER: the connection no longer has it
_PLACEHOLDER = re.compile(r"(?<!%)%s")


class MySQLPool:
    """`acquire()` a connection, `release(con, reusable)` it. Thread-safe; connections are
    opened lazily, nothing at construction."""

    def __init__(self, open_connection: Callable[[], Any], size: int, ping_idle: float, ping_timeout: float = 5.0):
        self._open = open_connection
        self._size = size
        self._ping_idle = ping_idle
        self._ping_timeout = ping_timeout
        self._idle: list[tuple[Any, float]] = []  # (connection, when it came back); last in, first out
        self._count = 0  # open connections, idle or handed out
        self._suspect_before = 0.0  # idle connections back before this are pinged before use
        self._closed = False  # after close(): a call still running gets a connection of its own, closed after
        self._cond = threading.Condition()

    def acquire(self) -> Any:
        with self._cond:
            while not self._closed and not self._idle and self._count >= self._size:
                self._cond.wait()
            if self._idle:
                con, since = self._idle.pop()
            else:
                con, since = None, 0.0
                self._count += 1
        if con is not None:
            fresh = time.monotonic() - since < self._ping_idle and since > self._suspect_before
            if fresh or _answers(con, self._ping_timeout):
                return con
            _close(con)
        try:
            return self._open()
        except BaseException:
            self._forget()
            raise

    def release(self, con: Any, reusable: bool) -> None:
        with self._cond:
            if reusable and con.open and not self._closed:
                self._idle.append((con, time.monotonic()))
                self._cond.notify()
                return
            if not reusable:  # it failed: the idle ones may have died with it (a server restart)
                self._suspect_before = time.monotonic()
        _close(con)
        self._forget()

    def close(self) -> None:
        """Close the idle connections; those handed out are closed when they come back."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._closed = True  # anything released from now on is closed
            self._cond.notify_all()
        for con, _ in idle:
            _close(con)

    def _forget(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify()


def prepared(cursor: Any, sql: str, params: Sequence[Any]) -> Any:
    """Run `sql` (%s placeholders, as for cursor.execute) as a prepared statement of the
    cursor's connection: PREPARE on the connection's first use of it, then EXECUTE ... USING
    the parameters as literals (PyMySQL escapes them as it would in the statement). Returns
    the cursor, its result read. Past PREPARED_PER_CONNECTION statements, the text runs as is."""
    import pymysql

    con = cursor.connection
    names: dict[str, str] | None = getattr(con, "_mcp_prepared", None)
    if names is None:
        names = con._mcp_prepared = {}
    name = names.get(sql)
    if name is None:
        if len(names) >= PREPARED_PER_CONNECTION:
            cursor.execute(sql, tuple(params))
            return cursor
        name = "mcp_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
        _prepare(cursor, name, sql)
        names[sql] = name
    execute = f"EXECUTE {name}" + (" USING " + ", ".join(["%s"] * len(params)) if params else "")
    try:
        cursor.execute(execute, tuple(params))
    except pymysql.err.MySQLError as exc:
        if not (exc.args and exc.args[0] == _UNKNOWN_STATEMENT):
            raise
        _prepare(cursor, name, sql)  # deallocated behind our back: prepare it again, once
        cursor.execute(execute, tuple(params))
    return cursor


def _prepare(cursor: Any, name: str, sql: str) -> None:
    # The statement goes in as a string literal: PyMySQL escapes it, and its %% (doubled for
    # PyMySQL's formatting) become % again, as formatting would have made them.
    cursor.execute(f"PREPARE {name} FROM %s", (_PLACEHOLDER.sub("?", sql).replace("%%", "%"),))


def _answers(con: Any, timeout: float) -> bool:
    try:
        with timeouts(con, timeout):
            con.ping(False)
    except Exception:  # noqa: BLE001 - any failure means this connection is no use
        return False
    return True


@contextmanager
def timeouts(con: Any, seconds: float) -> Iterator[None]:
    """The connection's socket read and write timeouts set to `seconds` for a moment (a ping,
    the login), then back to what they were (DB_QUERY_TIMEOUT, for statements). PyMySQL keeps
    them in `_read_timeout`/`_write_timeout` and applies them before each read and write
    (1.x); it has no public way to change them after connect."""
    before = con._read_timeout, con._write_timeout
    con._read_timeout = con._write_timeout = seconds
    try:
        yield
    finally:
        con._read_timeout, con._write_timeout = before


def _close(con: Any) -> None:
    try:
        con.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is gone either way
        pass
