"""The MariaDB/MySQL database itself (not its tables): for init-db and doctor.

A fresh server has no `mcp_tasks` database yet. init-db creates it when the configured
user may (utf8mb4, as the schema needs); otherwise it says the one statement an
administrator runs. MariaDB reports a missing database as error 1049 at login, which
would otherwise read as a refused login.
"""
from __future__ import annotations

from config import DatabaseSettings, node_label
from domain.errors import StorageError
from infrastructure.command_name import init_db

UNKNOWN_DATABASE = 1049
_DENIED = {1044, 1045, 1142, 1227}  # access denied to the database / for the user / for the command


def create_statement(name: str) -> str:
    quoted = "`" + name.replace("`", "``") + "`"
    return f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"


def missing_database_message(settings: DatabaseSettings, source: str) -> str:
    return (
        f"The database {settings.name!r} does not exist on MariaDB/MySQL at {settings.where()}. "
        f"Run `{init_db()}` to create it (the user {settings.user!r} needs the CREATE privilege), "
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
                    f"(and grant {settings.user!r} access to it), then run `{init_db()}` again."
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
            return _connect_node(settings, host, port)
        except pymysql.err.OperationalError as exc:
            if index == len(nodes) - 1 or not exc.args or exc.args[0] in _DENIED:
                raise
    raise AssertionError("unreachable")


def _connect_node(settings: DatabaseSettings, host: str, port: int, **options):
    """An administrative connection to one node (no database chosen, no TLS on loopback)."""
    import pymysql

    return pymysql.connect(
        host=host, port=port, user=settings.user, password=settings.password,
        connect_timeout=settings.connect_timeout, autocommit=True, charset="utf8mb4",
        ssl_disabled=settings.tls_disabled, **options,
    )


# ---- doctor: the Galera cluster behind DATABASE_URL ----------------------------------------

_WSREP = ("wsrep_ready", "wsrep_cluster_size", "wsrep_cluster_status", "wsrep_local_state_comment")


def galera_nodes(settings: DatabaseSettings) -> list[tuple[str, dict[str, str] | str]]:
    """Each node DATABASE_URL lists, with its wsrep status, or why it did not answer. Empty
    when no node that answers is a Galera node (one server, or MySQL): doctor says nothing then."""
    import pymysql

    out: list[tuple[str, dict[str, str] | str]] = []
    galera = False
    for host, port in settings.nodes():
        where = node_label(host, port)
        try:
            con = _connect_node(settings, host, port, read_timeout=settings.connect_timeout)
        except pymysql.err.MySQLError as exc:
            out.append((where, str(exc.args[-1] if exc.args else exc)))
            continue
        try:
            with con.cursor() as cur:
                cur.execute("SHOW VARIABLES LIKE 'wsrep_on'")
                row = cur.fetchone()
                if not row or str(row[1]).upper() != "ON":
                    out.append((where, {}))
                    continue
                galera = True
                cur.execute(f"SHOW STATUS WHERE Variable_name IN ({', '.join(['%s'] * len(_WSREP))})", _WSREP)
                out.append((where, {name: str(value) for name, value in cur.fetchall()}))
        except pymysql.err.MySQLError as exc:
            out.append((where, str(exc.args[-1] if exc.args else exc)))
        finally:
            con.close()
    return out if galera else []


def judge_galera(nodes: list[tuple[str, dict[str, str] | str]]) -> tuple[bool, str, list[str]]:
    """doctor's verdict on galera_nodes(): (ok, the line, warnings). Not ok when no node that
    answers belongs to a primary component (the cluster lost quorum: every write is refused);
    a warning for each node that does not serve, an even-sized cluster, and nodes of the
    cluster that DATABASE_URL does not list (an instance cannot fail over to them)."""
    warnings: list[str] = []
    states: list[str] = []
    sizes: set[int] = set()
    primary = False
    for where, status in nodes:
        if isinstance(status, str):
            states.append(f"{where} does not answer")
            warnings.append(f"galera: node {where} does not answer ({status}); instances fail over to the other nodes. "
                            "Start it again: it rejoins the cluster by itself.")
            continue
        state = status.get("wsrep_local_state_comment", "?")
        states.append(f"{where} {state}")
        sizes.add(int(status.get("wsrep_cluster_size") or 0))
        primary = primary or status.get("wsrep_cluster_status") == "Primary"
        if status.get("wsrep_cluster_status") != "Primary":
            warnings.append(f"galera: node {where} is in a {status.get('wsrep_cluster_status', '?')} component, cut off "
                            "from the cluster's majority: it refuses every call until it rejoins.")
        elif state != "Synced" or status.get("wsrep_ready") != "ON":
            warnings.append(f"galera: node {where} is {state} (wsrep_ready {status.get('wsrep_ready', '?')}); instances "
                            "use the other nodes until it has caught up.")
    size = max(sizes, default=0)
    if size and size % 2 == 0:
        warnings.append(f"galera: the cluster has {size} nodes; an even number can split into halves that both stop. "
                        "Add a node or an arbitrator (garbd).")
    if size > len(nodes):
        warnings.append(f"galera: DATABASE_URL lists {len(nodes)} of the cluster's {size} nodes; list them all "
                        "(mysql://user@host1:port,host2:port,.../db) so an instance can fail over to any of them.")
    verdict = f"cluster of {size} ({'Primary' if primary else 'no primary component'})" if size else "no node answers"
    if not primary:
        verdict += "; writes are refused until a majority of the nodes is back"
    return primary, f"galera: {verdict}; {', '.join(states)}", warnings
