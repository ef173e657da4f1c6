"""One transaction's statements (`Tx`) and the one form of a timestamp (`text_time`).

Database.read()/write() (database.py) hand a Tx to the repository's functions; the
repository, the change feed and the status history build their SQL on it. Dialect
differences that a statement's text needs (the clock, the "touch" of updated_at, row
locks, ? for %s) live here, so the repository writes each statement once.
"""
from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, Iterable

from infrastructure.mysql_pool import prepared


def text_time(value: Any) -> str | None:
    """The one form of every timestamp a caller sees, from either backend: ISO 8601
    'YYYY-MM-DDTHH:MM:SS.ffffff', on the database's clock (README: Timestamps). Here, beside
    Tx, so that the repository and the change feed (which the repository imports) share it."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.isoformat(timespec="microseconds")


class Tx:
    """SQL on one connection. Statements use %s placeholders; SQLite gets them as ?."""

    def __init__(self, cursor: Any, dialect: str, server_version: str = "", galera: bool = False):
        self._cursor = cursor
        self.dialect = dialect
        # A Galera node (@@wsrep_on): row locks are node-local there, only writes are certified.
        self.galera = galera
        # The server's version as its handshake gave it (PyMySQL's get_server_info(), e.g.
        # "5.5.5-10.11.19-MariaDB-0+deb12u1"): what a dialect feature depends on, without a
        # query. Compare versions with `version`, which reads past MariaDB's prefix.
        self.server_version = server_version
        self.mariadb = "mariadb" in server_version.lower()  # where a prepare=True statement runs prepared
        # The database clock, never Python's: rows from the web app and from us order alike.
        self.now = "NOW(6)" if dialect == "mysql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
        # updated_at strictly increases with every change, even two in one clock tick (SQLite
        # counts milliseconds), so expected_updated_at always tells a changed row apart.
        self.touch = (
            "updated_at = GREATEST(NOW(6), updated_at + INTERVAL 1 MICROSECOND)"
            if dialect == "mysql"
            else "updated_at = max(strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', updated_at, '+0.001 seconds'))"
        )
        # Row locks for a read inside a write; SQLite needs none: BEGIN IMMEDIATE lets one writer in at a time.
        self.for_update = " FOR UPDATE" if dialect == "mysql" else ""

    @property
    def version(self) -> tuple[int, ...]:
        """The server's version as numbers, e.g. (10, 11, 19); () when unknown. MariaDB before
        11 announces itself in the handshake as "5.5.5-10.11.19-MariaDB" (a prefix kept for
        old replication clients), where SELECT VERSION() says "10.11.19-MariaDB": the prefix
        is not the version."""
        text = self.server_version.removeprefix("5.5.5-")
        return tuple(int(n) for n in re.findall(r"\d+", text)[:3])

    def _run(self, sql: str, params: Iterable[Any], prepare: bool = False) -> Any:
        """Run one statement. prepare=True marks a hot one of fixed text (values only as
        %s): on MariaDB it is parsed once per connection (mysql_pool.prepared)."""
        if self.dialect == "sqlite":
            sql = sql.replace("%s", "?")
        elif prepare and self.mariadb:
            return prepared(self._cursor, sql, tuple(params))
        self._cursor.execute(sql, tuple(params))
        return self._cursor

    def rows(self, sql: str, params: Iterable[Any] = (), prepare: bool = False) -> list[dict[str, Any]]:
        cursor = self._run(sql, params, prepare)
        if self.dialect == "mysql":
            return list(cursor.fetchall())
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def rows_within(self, seconds: float, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]] | None:
        """rows() of a SELECT, or None when it ran longer than `seconds` (and was stopped).

        MariaDB: SET STATEMENT max_statement_time=... FOR SELECT (error 1969 when it fires;
        MySQL would take the optimizer hint /*+ MAX_EXECUTION_TIME(ms) */, error 3024).
        SQLite: a progress handler that interrupts the statement past the deadline.
        """
        if self.dialect == "mysql":
            import pymysql

            try:
                return self.rows(f"SET STATEMENT max_statement_time={seconds:.3f} FOR {sql}", params)
            except pymysql.err.MySQLError as exc:  # 188 arrives as InternalError, 1969 as OperationalError
                # 1969 max_statement_time; 188 the same interrupt surfacing from inside InnoDB full-text
                # search ("Operation was interrupted by end user"); 3024 is MySQL's MAX_EXECUTION_TIME.
                if exc.args and exc.args[0] in (1969, 188, 3024):
                    return None
                raise
        import sqlite3

        con = self._cursor.connection
        deadline = time.monotonic() + seconds
        con.set_progress_handler(lambda: time.monotonic() > deadline, 2000)
        try:
            return self.rows(sql, params)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                return None
            raise
        finally:
            con.set_progress_handler(None, 0)

    def row(self, sql: str, params: Iterable[Any] = (), prepare: bool = False) -> dict[str, Any] | None:
        found = self.rows(sql, params, prepare)
        return found[0] if found else None

    def value(self, sql: str, params: Iterable[Any] = (), prepare: bool = False) -> Any:
        found = self.row(sql, params, prepare)
        return next(iter(found.values())) if found else None

    def execute(self, sql: str, params: Iterable[Any] = (), prepare: bool = False) -> int:
        return self._run(sql, params, prepare).rowcount

    def insert(self, sql: str, params: Iterable[Any] = (), prepare: bool = False) -> int:
        return int(self._run(sql, params, prepare).lastrowid)

    def has_table(self, name: str) -> bool:
        """Whether the table exists: a database the web app made may lack what init-db adds."""
        if self.dialect == "mysql":
            sql = "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s"
        else:
            sql = "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = %s"
        return bool(self.value(sql, [name]))
