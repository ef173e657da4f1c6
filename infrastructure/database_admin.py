"""The MariaDB/MySQL database itself (not its tables): for init-db and doctor.

A fresh server has no `mcp_tasks` database yet. init-db creates it when the configured
user may (utf8mb4, as the schema needs); otherwise it says the one statement an
administrator runs. MariaDB reports a missing database as error 1049 at login, which
would otherwise read as a refused login.
"""
from __future__ import annotations

from config import DatabaseSettings
from domain.errors import StorageError

UNKNOWN_DATABASE = 1049
_DENIED = {1044, 1045, 1142, 1227}  # access denied to the database / for the user / for the command


def create_statement(name: str) -> str:
    quoted = "`" + name.replace("`", "``") + "`"
    return f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"


def missing_database_message(settings: DatabaseSettings, source: str) -> str:
    return (
        f"The database {settings.name!r} does not exist on MariaDB/MySQL at {settings.where()}. "
        f"Run `python server.py init-db` to create it (the user {settings.user!r} needs the CREATE privilege), "
        f"or have an administrator run: {create_statement(settings.name)} Or fix the database name in {source}."
    )


def ensure_database(settings: DatabaseSettings, source: str) -> bool:
    """Create the configured database if it is missing. True if it was created, False if it existed.

    Raises StorageError naming the CREATE DATABASE statement when the user may not create it,
    and the usual "cannot be reached" when the server does not answer."""
    import pymysql

    try:
        con = _connect_any(settings)
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else None
        if code in _DENIED:
            raise StorageError(
                f"MariaDB/MySQL at {settings.where()} refused the login of {settings.user!r} "
                f"({exc.args[1] if len(exc.args) > 1 else exc}). Fix the user or password in {source}."
            ) from None
        raise StorageError(
            f"The database server at {settings.where()} cannot be reached ({exc.args[-1] if exc.args else exc}). "
            f"Start it, or fix the setting {source}."
        ) from None
    try:
        with con.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [settings.name])
            if cur.fetchone():
                return False
            try:
                cur.execute(create_statement(settings.name).rstrip(";"))
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                if code not in _DENIED:
                    raise
                raise StorageError(
                    f"The database {settings.name!r} does not exist on {settings.where()}, and the user "
                    f"{settings.user!r} may not create it. Have an administrator run: {create_statement(settings.name)} "
                    f"(and grant {settings.user!r} access to it), then run `python server.py init-db` again."
                ) from None
            return True
    finally:
        con.close()


def _connect_any(settings: DatabaseSettings):
    """A connection to the first node that accepts one (DATABASE_URL may list a Galera cluster's)."""
    import pymysql

    nodes = settings.nodes()
    for index, (host, port) in enumerate(nodes):
        try:
            return pymysql.connect(
                host=host, port=port, user=settings.user, password=settings.password,
                connect_timeout=settings.connect_timeout, autocommit=True, charset="utf8mb4",
                ssl_disabled=settings.tls_disabled,
            )
        except pymysql.err.OperationalError as exc:
            if index == len(nodes) - 1 or not exc.args or exc.args[0] in _DENIED:
                raise
    raise AssertionError("unreachable")
