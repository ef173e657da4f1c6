"""Driver errors in our words: the one place where PyMySQL's and sqlite3's errors and codes
become domain errors, or the two signals `Database` acts on itself (`Lost`: run the call
again on a new connection; `Retry`: a deadlock victim, run the transaction again).

Belongs here: what an error code means for us and what the caller is told. Connections and
transactions are database.py's.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from config import DatabaseSettings
from domain.errors import Conflict, Forbidden, InvalidInput, StorageError, TaskSystemError
from domain.secrets import scrub
from infrastructure.command_name import init_db

if TYPE_CHECKING:
    import sqlite3

# MariaDB/MySQL error codes, by what they mean for us.
CONNECTION_LOST = {2006, 2013, 2014, 2055, 4031}  # gone away, lost, out of sync, idle kill
CANNOT_CONNECT = {2002, 2003, 2005, 1040, 1203}  # refused, unknown host, too many connections
RETRYABLE = {1213, 1205}  # deadlock (on Galera also a lost certification), lock wait timeout: rolled back
# Galera: 1047 "WSREP has not yet prepared node for application use" (the node left the
# primary component or is still joining), and 1711 "Unknown trigger has an error in its body",
# which a trigger's table gives while its node is in that state. Nothing ran; the
# connection is dropped and the call runs once more on another node (database.py).
NODE_NOT_READY = {1047, 1711}
ACCESS = {1044, 1045, 1049}  # denied, wrong password, unknown database
SCHEMA = {1146, 1054}  # no such table / column
READ_ONLY = {1792}  # statement refused in a READ ONLY transaction
READ_ONLY_REFUSAL = (
    "The server runs read-only (READ_ONLY=true): the database session refuses every change, and "
    "nothing was written. Ask whoever runs the server for a writable instance."
)


class DriverErrors:
    """Maps a driver's error for one database (its settings name it in every message)."""

    def __init__(self, settings: DatabaseSettings, source: str, read_only: bool):
        self.settings = settings
        self.source = source
        self.read_only = read_only

    def describe(self) -> str:
        return self.settings.describe()

    def unreachable(self, exc: BaseException | None, outcome: str = "", connecting: bool = False) -> StorageError:
        reason = str(exc.args[1] if exc is not None and len(getattr(exc, "args", ())) > 1 else exc or "")
        code = exc.args[0] if exc is not None and getattr(exc, "args", None) else None
        if code in NODE_NOT_READY:
            return StorageError(scrub(
                f"The Galera node of {self.describe()} is not ready for queries (error {code}: {reason}), and no other "
                f"node answered. {outcome + ' ' if outcome else ''}The node has left the cluster's primary component or "
                "is still joining; try again in a few seconds, and check the cluster (SHOW STATUS LIKE 'wsrep_%')."
            ))
        if timed_out(exc) and connecting:  # the ping of an idle connection or the login of a new one
            return StorageError(scrub(
                f"The database {self.describe()} did not answer within {self.settings.connect_timeout:g} s "
                f"(DB_CONNECT_TIMEOUT) while connecting. {outcome + ' ' if outcome else ''}Packets to it may be lost "
                "(a network partition) or it is stuck: check the network and the database. "
                "The server keeps running and uses the database again once it answers."
            ))
        if timed_out(exc):
            return StorageError(scrub(
                f"The database {self.describe()} did not answer within {self.settings.query_timeout:g} s "
                f"(DB_QUERY_TIMEOUT), so the call was abandoned. {outcome + ' ' if outcome else ''}It accepts connections "
                "but does not answer: check that it is not stuck or overloaded, or raise DB_QUERY_TIMEOUT. "
                "The server keeps running and answers other calls."
            ))
        return StorageError(scrub(
            f"The database {self.describe()} cannot be reached ({reason or 'connection lost'}). {outcome + ' ' if outcome else ''}"
            f"Start it, or fix the setting {self.source}. The server keeps running and uses the database again once it answers."
        ))

    def map_mysql(self, exc: Exception) -> Exception:
        mapped = self._map_mysql_unscrubbed(exc)
        if isinstance(mapped, TaskSystemError):  # a driver's text can quote a URL or a password
            mapped.args = (scrub(str(mapped)),)
        return mapped

    def _map_mysql_unscrubbed(self, exc: Exception) -> Exception:
        import pymysql

        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in RETRYABLE:
            return Retry()
        if code in READ_ONLY:
            return Forbidden(READ_ONLY_REFUSAL)
        if code in CONNECTION_LOST or isinstance(exc, pymysql.err.InterfaceError):
            return Lost(timed_out=timed_out(exc))
        if code in NODE_NOT_READY:
            return Lost(not_ready=code, reason=text)
        if code in CANNOT_CONNECT:
            return self.unreachable(exc)
        if code == 1049:  # unknown database: the server answered and the login was fine
            from infrastructure.database_admin import missing_database_message

            return StorageError(missing_database_message(self.settings, self.source))
        if code in ACCESS:
            return StorageError(
                f"The database {self.describe()} refused the login ({text}). Fix the user, password or database "
                f"name in {self.source}."
            )
        if code in SCHEMA:
            return StorageError(
                f"The database {self.describe()} lacks a table or column the server needs ({text}). "
                f"Run `{init_db()}` once."
            )
        if isinstance(exc, pymysql.err.IntegrityError):
            return Conflict(f"The database refused the change ({text}); nothing was written. Read the task again and retry.")
        if isinstance(exc, pymysql.err.DataError):
            return InvalidInput(f"The database refused a value ({text}); nothing was written.")
        return StorageError(f"The database {self.describe()} reported an error ({text}); nothing was written.")

    def map_sqlite(self, exc: sqlite3.Error) -> Exception:
        mapped = self._map_sqlite_unscrubbed(exc)
        mapped.args = (scrub(str(mapped)),)
        return mapped

    def _map_sqlite_unscrubbed(self, exc: sqlite3.Error) -> Exception:
        import sqlite3

        text = str(exc)
        if self.read_only and "readonly" in text.replace(" ", "").replace("-", ""):
            return Forbidden(READ_ONLY_REFUSAL)
        if isinstance(exc, sqlite3.IntegrityError):
            return Conflict(f"The database refused the change ({text}); nothing was written. Read the task again and retry.")
        if "locked" in text or "busy" in text:
            return StorageError(
                f"The SQLite file {self.settings.sqlite_path} stayed locked by another writer past the timeout; "
                "nothing was written. Try again in a moment."
            )
        if "no such table" in text or "no such column" in text:
            return StorageError(f"The SQLite file lacks the task schema ({text}). Run `{init_db()}` once.")
        return StorageError(f"The SQLite file {self.settings.sqlite_path} reported an error ({text}); nothing was written.")


class Lost(Exception):
    """The connection died before COMMIT was sent: the server rolled the transaction back."""

    def __init__(self, timed_out: bool = False, not_ready: int | None = None, reason: str = ""):
        super().__init__()
        self.timed_out = timed_out  # no answer within DB_QUERY_TIMEOUT: trying again would wait as long again
        self.not_ready = not_ready  # a Galera node refused with 1047/1711: move to another node
        self.reason = reason


def broke(exc: BaseException) -> bool:
    """Whether a failure left the connection unusable (lost, timed out, out of sync); after
    any other (a refusal, a deadlock, a duplicate key) it is rolled back and used again."""
    import pymysql

    if not isinstance(exc, Exception) or isinstance(exc, pymysql.err.InterfaceError):
        return True  # interrupted (KeyboardInterrupt, cancellation) perhaps mid-packet, or unusable
    return isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] in CONNECTION_LOST | NODE_NOT_READY


def timed_out(exc: BaseException | None) -> bool:
    """pymysql reports a socket timeout as error 2013 "Lost connection ... (timed out)"."""
    return exc is not None and "timed out" in str(exc)


class Retry(Exception):
    """InnoDB chose this transaction as a deadlock victim or a lock wait timed out."""
