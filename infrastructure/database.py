"""Connections, transactions and the mapping of driver errors to ours, for both backends.

The repository hands a function to `read()` or `write()` and gets a `Tx` (tx.py) to run SQL on.
This module and db_errors.py (which says what each driver error means) are the one boundary
where pymysql's and sqlite3's errors become domain errors (`raise ... from exc`), so no other
module needs to know a driver error code.

- MariaDB/MySQL: a small pool of autocommit pymysql connections (mysql_pool.py). A write is
  an explicit BEGIN ... COMMIT, so no transaction (and no metadata lock) stays open between
  calls. The pool pings a connection idle for a second or more when it is handed out and
  replaces a dead one, which is how a restarted server is reconnected without
  `ping(reconnect=True)`. On MariaDB the hottest statements run prepared (`Tx.rows(...,
  prepare=True)`): their parse is paid once per connection.
- SQLite: a small pool too. Each call takes an idle connection (or opens one) and gives
  it back, so one connection serves one call at a time whichever worker thread runs it.
  (One connection per thread leaked: the SDK's worker threads end after 10 s idle, and
  each left an open connection behind.) WAL, foreign keys on, a busy timeout, BEGIN
  IMMEDIATE for writes so two writers queue instead of deadlocking, and a 64 MiB page
  cache per connection, since a pooled connection keeps its cache from call to call.

Nothing connects at import or construction time; drivers are imported on first use.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from config import DatabaseSettings
from domain.errors import Forbidden, OutcomeUnknown, StorageError, TaskSystemError
from infrastructure.db_errors import (
    CANNOT_CONNECT, CONNECTION_LOST, NODE_NOT_READY, READ_ONLY_REFUSAL, DriverErrors, Lost, Retry, broke, timed_out,
)
from infrastructure.foreign_writes import (
    MARK_OUR_SESSION, MARK_OUR_SQLITE_WRITE, PRESENT_SQL, SQLITE_MARK_TABLE, UNMARK_OUR_SQLITE_WRITE, ensure_triggers,
    missing_triggers,
)
from infrastructure.mysql_pool import MySQLPool, timeouts
from infrastructure.tx import Tx
from infrastructure.command_name import init_db

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)
logging.getLogger("yoyo").setLevel(logging.WARNING)  # one line per applied step is noise on stderr
T = TypeVar("T")

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

WRITE_ATTEMPTS = 6
GALERA_WRITE_ATTEMPTS = 16
BACKOFF_MAX = 0.25  # seconds: the longest jittered wait between two attempts
MIGRATION_LOCK_SUFFIX = ".lock"  # <db>.lock beside an SQLite file: an OS lock, so a killed holder never leaves it held
PING_IDLE_SECONDS = 1.0  # a pooled MariaDB connection handed out this recently is not pinged again
SQLITE_IDLE_MAX = 4  # idle SQLite connections kept; more are opened while more calls run at once
SQLITE_CACHE_KIB = 64 * 1024  # page cache per SQLite connection
GALERA_SYNC_WAIT = 1  # wsrep_sync_wait on Galera sessions: reads (SELECT, SHOW, BEGIN) wait for causality


class Database:
    """The task database; `read(fn)` and `write(fn)` run fn(Tx) on a pooled connection."""

    def __init__(self, settings: DatabaseSettings, source: str, read_only: bool = False):
        self.settings = settings
        self.source = source
        # Read-only: write() refuses, and the session itself is read-only (MariaDB
        # SET SESSION TRANSACTION READ ONLY, SQLite query_only), so no SQL path can write.
        self.read_only = read_only
        self.dialect = "mysql" if settings.kind == "mysql" else "sqlite"
        self.errors = DriverErrors(settings, source, read_only)
        self._lock = threading.Lock()
        self._pool: MySQLPool | None = None
        self._sqlite_idle: list[sqlite3.Connection] = []
        self._schema_lock = threading.Lock()
        self._schema_checked = False
        self._node = 0  # index of the node in use among settings.nodes()
        self.retries = 0  # writes run again after a deadlock or certification conflict (for benches)
        # Whether the server is a Galera node (@@wsrep_on); None until the first connection.
        self.galera: bool | None = None
        self._sqlite_marks: bool | None = None  # whether the file has SQLite's foreign-write triggers (0009)

    def describe(self) -> str:
        return self.settings.describe()

    # ---- public operations -------------------------------------------------------------

    def read(self, fn: Callable[[Tx], T]) -> T:
        """Run a read; a connection lost on the way is replaced and the read tried once more."""
        for attempt in (1, 2):
            try:
                return self._run(fn, write=False)
            except Lost as lost:
                if attempt == 2 or lost.timed_out:
                    raise self.errors.unreachable(lost.__cause__) from lost.__cause__
                self._after_lost(lost)
                log.warning("database connection lost during a read; retrying once on a new connection")
        raise AssertionError("unreachable")

    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run fn in one transaction: all of it lands, or none. Deadlocks are retried."""
        if self.read_only:
            raise Forbidden(READ_ONLY_REFUSAL)
        lost_once = False
        # On Galera every node claims from the same head of the queue and the losers learn it
        # at COMMIT (1213, certification): more attempts, so that no agent is refused because
        # another node won (bench/RESULTS.md, issue 24).
        attempts = GALERA_WRITE_ATTEMPTS if self.galera else WRITE_ATTEMPTS
        attempt = 0
        while attempt < attempts:
            attempt += 1
            try:
                return self._run(fn, write=True)
            except Lost as lost:
                # COMMIT was never sent, so the server rolled the transaction back: running it
                # again on a new connection is no blind replay. A second loss means it is down.
                if lost_once or lost.timed_out:
                    raise self.errors.unreachable(lost.__cause__, "Nothing was written.") from lost.__cause__
                lost_once = True
                self._after_lost(lost)
                log.warning("database connection lost before commit; retrying once on a new connection")
            except Retry as retry:
                self.retries += 1
                attempts = GALERA_WRITE_ATTEMPTS if self.galera else WRITE_ATTEMPTS  # known after the first connection
                if attempt >= attempts:
                    raise StorageError(
                        f"The database stayed busy (deadlock, lock wait or, on Galera, a certification conflict: "
                        f"error 1213/1205) through {attempts} attempts; nothing was written. Try again in a moment."
                    ) from retry.__cause__
                # Jittered backoff so that the writers that collided do not collide again.
                time.sleep(random.uniform(0, min(BACKOFF_MAX, 0.02 * 2**attempt)))
        raise AssertionError("unreachable")

    def _after_lost(self, lost: Lost) -> None:
        """A Galera node that refused with 1047/1711 still answers pings, so its pooled
        connections would be handed out again: drop the pool and start at the next node."""
        if lost.not_ready is None:
            return
        with self._lock:
            nodes = self.settings.nodes()
            log.warning("database node %s:%s is not ready (error %s); moving to the next node", *nodes[self._node], lost.not_ready)
            self._node = (self._node + 1) % len(nodes)
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()  # connections still in use are closed when they come back

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            for con in self._sqlite_idle:
                _quietly(con.close)
            self._sqlite_idle.clear()

    def health(self) -> tuple[int, list[str], list[str]]:
        """For doctor: how many tasks there are, which of the server's tables are missing, and
        (MariaDB) which of the triggers that announce other programs' writes are missing."""

        def run(tx: Tx) -> tuple[int, list[str], list[str]]:
            missing = []
            for table in ("tasks", "task_assignments", "task_results", "task_comments", "task_leases", "task_changes"):
                try:
                    tx.value(f"SELECT 1 AS x FROM {table} LIMIT 1")  # our table names, never input
                except Exception:  # noqa: BLE001 - a missing table is what this looks for
                    missing.append(table)
            triggers = missing_triggers({r["name"] for r in tx.rows(PRESENT_SQL)}) if tx.dialect == "mysql" else []
            return (0 if "tasks" in missing else int(tx.value("SELECT COUNT(*) AS n FROM tasks"))), missing, triggers

        return self.read(run)

    def migrate(self) -> list[str]:
        """Create what is missing (tables, indexes), recording what was applied. For init-db."""
        from yoyo import get_backend, read_migrations  # only init-db and a first SQLite start pay for it

        if self.dialect == "sqlite":
            self.settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{self.settings.sqlite_path}"
            folder = SQL_DIR / "sqlite"
        else:
            from urllib.parse import quote

            s = self.settings
            if len(s.nodes()) > 1:
                try:
                    self.read(lambda tx: None)  # a node that serves: the first listed may be down
                except TaskSystemError:
                    pass  # yoyo's own connection then says why
            host, port = s.nodes()[self._node]
            url = f"mysql://{quote(s.user, safe='')}:{quote(s.password, safe='')}@{host}:{port}/{quote(s.name, safe='')}"
            folder = SQL_DIR / "mariadb"
        try:
            with self._sqlite_migration_lock():
                backend = get_backend(url)
                try:
                    migrations = read_migrations(str(folder))
                    if self.dialect == "sqlite":
                        # We hold the OS lock, so no other process is migrating this file: a row in
                        # yoyo's lock table is one a killed process left behind (it would make every
                        # later start wait 10 s and fail until someone ran `yoyo break-lock`).
                        backend.break_lock()
                    with backend.lock():
                        pending = backend.to_apply(migrations)
                        backend.apply_migrations(pending)
                        if self.dialect == "mysql":
                            ensure_triggers(backend.connection.cursor())
                finally:
                    backend.connection.close()  # yoyo keeps it open otherwise, for the life of the process
            return [m.id for m in pending]
        except TaskSystemError:
            raise
        except Exception as exc:
            raise self.errors.unreachable(exc) from exc

    @contextmanager
    def _sqlite_migration_lock(self) -> Iterator[None]:
        """An exclusive flock on `<db>.lock` while an SQLite file is created or migrated.

        Two processes creating one new file take turns, and the kernel releases the lock
        when its holder dies, however it dies: unlike yoyo's lock row, it cannot go stale.
        """
        if self.dialect != "sqlite":
            yield
            return
        try:
            import fcntl
        except ImportError:  # Windows: yoyo's own lock row is all there is
            yield
            return
        path = self.settings.sqlite_path.with_name(self.settings.sqlite_path.name + MIGRATION_LOCK_SUFFIX)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another process migrates (seconds at most)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ---- connections ---------------------------------------------------------------------

    def _run(self, fn: Callable[[Tx], T], write: bool) -> T:
        if self.dialect == "mysql":
            return self._run_mysql(self._mysql_pool(), fn, write)
        con = self._sqlite_connection()
        try:
            return self._run_sqlite(con, fn, write)
        finally:
            self._release_sqlite(con)

    def _run_mysql(self, pool: MySQLPool, fn: Callable[[Tx], T], write: bool) -> T:
        import pymysql

        try:
            con = pool.acquire()
        except pymysql.err.MySQLError as exc:
            if timed_out(exc):  # nothing was sent: trying again would wait as long again
                raise self.errors.unreachable(exc, connecting=True) from exc
            raise self.errors.map_mysql(exc) from exc
        reusable = False
        try:
            cursor = con.cursor()
            try:
                if write:
                    con.begin()
                try:
                    result = fn(Tx(cursor, "mysql", con.get_server_info(), bool(self.galera)))
                except BaseException as exc:
                    reusable = not broke(exc)
                    if write:
                        try:
                            con.rollback()
                        except Exception:  # noqa: BLE001 - the first failure is the one to report
                            reusable = False
                    raise
                if write:
                    try:
                        con.commit()
                    except pymysql.err.OperationalError as exc:
                        if exc.args and exc.args[0] in CONNECTION_LOST:
                            raise OutcomeUnknown(
                                f"The connection to {self.describe()} broke while the change was being committed. "
                                "It may or may not have been saved: read the task with tasks_get before you "
                                "repeat the call."
                            ) from exc
                        raise
                reusable = True
                return result
            finally:
                _quietly(cursor.close)
        except pymysql.err.MySQLError as exc:
            raise self.errors.map_mysql(exc) from exc
        finally:
            pool.release(con, reusable)  # the pool it came from, even if close() has dropped it since

    def _run_sqlite(self, con: sqlite3.Connection, fn: Callable[[Tx], T], write: bool) -> T:
        import sqlite3

        cursor = con.cursor()
        try:
            if write:
                con.execute("BEGIN IMMEDIATE")
                if self._sqlite_marks is None:
                    self._sqlite_marks = con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [SQLITE_MARK_TABLE]).fetchone() is not None
                if self._sqlite_marks:
                    con.execute(MARK_OUR_SQLITE_WRITE)  # the feed triggers stay silent for this transaction
            try:
                result = fn(Tx(cursor, "sqlite"))
                if write:
                    if self._sqlite_marks:
                        con.execute(UNMARK_OUR_SQLITE_WRITE)
                    con.execute("COMMIT")
                return result
            except BaseException:
                if con.in_transaction:
                    _quietly(lambda: con.execute("ROLLBACK"))
                raise
        except sqlite3.Error as exc:
            raise self.errors.map_sqlite(exc) from exc
        finally:
            cursor.close()

    def _mysql_pool(self) -> MySQLPool:
        with self._lock:
            if self._pool is None:
                # Bounded: ten agents with one process each stay well under MariaDB's default
                # max_connections (151).
                self._pool = MySQLPool(
                    self._open_mysql, size=10, ping_idle=PING_IDLE_SECONDS, ping_timeout=self.settings.connect_timeout
                )
            return self._pool

    def _open_mysql(self) -> Any:
        """A new connection to the node in use; when it is down or not ready (Galera 1047),
        to the next one DATABASE_URL names, round the list once (README "Deployments")."""
        import pymysql

        nodes = self.settings.nodes()
        start = self._node
        for step in range(len(nodes)):
            index = (start + step) % len(nodes)
            try:
                con = self._connect_mysql(*nodes[index])
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                if step == len(nodes) - 1 or code not in CANNOT_CONNECT | CONNECTION_LOST | NODE_NOT_READY:
                    raise
                log.warning("database node %s:%s does not serve (%s); trying the next one", *nodes[index], exc)
                continue
            if index != self._node:
                log.warning("database: now using node %s:%s", *nodes[index])
                self._node = index
            return con
        raise AssertionError("unreachable")

    def _connect_mysql(self, host: str, port: int) -> Any:
        import pymysql

        s = self.settings
        con = pymysql.connect(
            host=host,
            port=port,
            user=s.user,
            password=s.password,
            database=s.name,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=s.connect_timeout,
            # Bounds every statement: a server that stops answering would otherwise hold the
            # call for good. The long statements (statistics, search) run well under a second,
            # and the search caps itself with max_statement_time, so the bound never cuts a
            # healthy one. The login below, and the pool's ping, wait DB_CONNECT_TIMEOUT only.
            read_timeout=s.query_timeout,
            write_timeout=s.query_timeout,
            # READ COMMITTED: each statement sees what committed before it started (a claim
            # sees a blocker completed a moment ago; a cycle check after the graph lock sees
            # every earlier graph change), and rows a locking scan passed over are unlocked
            # at once instead of at commit, so concurrent claimers do not skip them.
            init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
            + (", READ ONLY" if self.read_only else ""),
            cursorclass=pymysql.cursors.DictCursor,
            ssl_disabled=s.tls_disabled,
            defer_connect=True,
        )
        try:
            # A server that accepts the connection and then says nothing (a partition, a hung
            # server) is given up on after DB_CONNECT_TIMEOUT, as one that never accepts it.
            with timeouts(con, s.connect_timeout):
                con.connect()
                with con.cursor() as cursor:
                    # Marks the session as ours: the triggers that announce other programs' writes
                    # on the change feed stay silent for it (infrastructure/foreign_writes.py).
                    cursor.execute(MARK_OUR_SESSION)
                    self._galera_session(cursor)
        except BaseException:
            _quietly(con.close)
            raise
        return con

    def _galera_session(self, cursor: Any) -> None:
        """On a Galera node (@@wsrep_on, asked once per Database; on one server nothing
        changes): refuse a node that is not ready (1047, so _open_mysql moves on), and make
        every read wait until this node has applied what the cluster committed before it
        (wsrep_sync_wait = 1: reads and BEGIN), so a call sees what another instance wrote
        through another node a moment ago. Its cost is in bench/RESULTS.md (issue 24)."""
        import pymysql

        if self.galera is None:
            try:
                cursor.execute("SELECT @@wsrep_on AS wsrep")
                self.galera = bool(int(cursor.fetchone()["wsrep"] or 0))
            except pymysql.err.MySQLError as exc:
                if not (exc.args and exc.args[0] == 1193):  # MySQL: no such variable, so no Galera
                    raise
                self.galera = False
        if not self.galera:
            return
        cursor.execute("SHOW STATUS LIKE 'wsrep_ready'")
        ready = cursor.fetchone()
        if not ready or str(ready["Value"]).upper() != "ON":
            raise pymysql.err.OperationalError(1047, "WSREP has not yet prepared node for application use (wsrep_ready is OFF)")
        cursor.execute(f"SET SESSION wsrep_sync_wait = {GALERA_SYNC_WAIT}")

    def _sqlite_connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._sqlite_idle:
                return self._sqlite_idle.pop()
        if self._schema_checked:
            return self._open_sqlite()
        # The first connection sets the file up (WAL, then the schema) while parallel first
        # calls wait: switching to WAL while another connection holds the new file fails at
        # once with "database is locked", whatever the busy timeout.
        with self._schema_lock:
            if self.read_only and not self._schema_checked and not self.settings.sqlite_path.is_file():
                # A read-only server creates nothing, not even an empty file. Forbidden, like
                # every other read-only refusal: retrying cannot help, a configuration change can.
                raise Forbidden(
                    f"The server runs read-only (READ_ONLY=true) and the SQLite file {self.settings.sqlite_path} does not "
                    "exist, so there are no tasks to read; a read-only server does not create it. Start the server once "
                    f"without READ_ONLY (or run `{init_db()}`), or point DATABASE_URL at an existing file."
                )
            con = self._open_sqlite()
            if self._schema_checked:
                return con
            try:
                behind = self._sqlite_schema_behind(con)
                if behind and self.read_only:
                    raise Forbidden(
                        f"The server runs read-only (READ_ONLY=true) and the SQLite file {self.settings.sqlite_path} lacks "
                        f"the current task schema; a read-only server does not change it. Run `{init_db()}` "
                        "once, then start the read-only server again."
                    )
                if behind:
                    # A newcomer with nothing configured gets a working file on first use,
                    # and an upgraded server brings its file up to date.
                    log.info("creating or upgrading the task schema in %s", self.settings.sqlite_path)
                    self.migrate()
                self._schema_checked = True
            except BaseException:
                con.close()
                raise
            return con

    def _open_sqlite(self) -> sqlite3.Connection:
        import sqlite3  # only SQLite servers pay for it, and only on their first call

        path = self.settings.sqlite_path
        try:
            if not self.read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: a pooled connection moves between worker threads, one call at a time.
            con = sqlite3.connect(
                str(path), timeout=self.settings.connect_timeout, isolation_level=None, check_same_thread=False
            )
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA busy_timeout = 5000")
            con.execute("PRAGMA synchronous = NORMAL")
            # 64 MiB instead of SQLite's 2 MiB: at a million tasks the statistics index alone is
            # ~50 MB, and where the OS keeps little file cache every call read it from disk again.
            con.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            self._wal(con)
            if self.read_only:
                con.execute("PRAGMA query_only = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"The SQLite file {path} cannot be opened ({exc}). Check that its directory is writable, "
                f"or point {self.source.split(' ')[0]} at another file."
            ) from exc
        return con

    @staticmethod
    def _wal(con: sqlite3.Connection) -> None:
        """Switch a new file to WAL. Another process doing the same at that moment makes
        SQLite answer "database is locked" at once, not after the busy timeout: try again."""
        import sqlite3

        for attempt in range(50):
            try:
                if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    con.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.02)

    def _release_sqlite(self, con: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._sqlite_idle) < SQLITE_IDLE_MAX:
                self._sqlite_idle.append(con)
                return
        _quietly(con.close)  # more calls ran at once than the pool keeps

    @staticmethod
    def _sqlite_schema_behind(con: sqlite3.Connection) -> bool:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = '_yoyo_migration'").fetchone():
            return True
        applied = con.execute("SELECT COUNT(*) FROM _yoyo_migration").fetchone()[0]
        return applied < len([p for p in (SQL_DIR / "sqlite").iterdir() if p.suffix in (".sql", ".py")])

def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - cleanup after a failure must not hide that failure
        pass
