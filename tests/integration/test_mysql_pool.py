"""The MariaDB connection pool and its prepared statements (infrastructure/mysql_pool.py),
against the real server: the bound, reuse after a refusal, no reuse after a loss, and a
prepared statement that answers as the text does, even when the connection lost it."""
from __future__ import annotations

import threading
import time

import pymysql
import pytest

from config import parse_database_url
from domain.errors import Conflict
from infrastructure import mysql_pool
from infrastructure.database import Database


@pytest.fixture
def db(mariadb_url):
    from tests.conftest import empty_mariadb

    empty_mariadb(mariadb_url)
    database = Database(parse_database_url(mariadb_url), "DATABASE_URL")
    database.migrate()
    yield database
    database.close()


def connection_id(db: Database) -> int:
    return int(db.read(lambda tx: tx.value("SELECT CONNECTION_ID() AS c")))


def test_a_refused_write_gives_its_connection_back_for_the_next_call(db):
    first = connection_id(db)
    db.write(lambda tx: tx.execute("INSERT INTO tasks (id, uuid, title, type, status, created_by, created_by_type) "
                                   "VALUES (1, 'u1', 't', 'ai_task', 'pending', 'a', 'ai')"))
    with pytest.raises(Conflict):  # a duplicate key: the server answered, the connection is fine
        db.write(lambda tx: tx.execute("INSERT INTO tasks (id, uuid, title, type, status, created_by, created_by_type) "
                                       "VALUES (1, 'u2', 't', 'ai_task', 'pending', 'a', 'ai')"))
    assert connection_id(db) == first
    assert db.read(lambda tx: tx.value("SELECT @@in_transaction AS t")) == 0  # rolled back, nothing left open


def test_a_killed_connection_is_not_handed_out_again(db):
    first = connection_id(db)
    admin = pymysql.connect(**_admin(db))
    try:
        admin.cursor().execute(f"KILL {first}")
    finally:
        admin.close()
    # Used within the second, so not pinged: the read fails on it, is retried on a new one,
    # and the dead one is gone from the pool.
    assert connection_id(db) != first
    assert db.read(lambda tx: tx.value("SELECT 1 AS x")) == 1


def test_the_pool_is_bounded_and_a_call_beyond_it_waits(db):
    pool = mysql_pool.MySQLPool(db._open_mysql, size=2, ping_idle=1.0)
    held = [pool.acquire(), pool.acquire()]
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    time.sleep(0.3)
    assert got == []  # a third connection is not opened
    pool.release(held[0], reusable=True)
    waiter.join(5)
    assert got == [held[0]]  # it got the one given back
    pool.release(held[1], reusable=False)  # closed, and its place is free again
    assert not held[1].open
    third = pool.acquire()
    assert third.open and third is not held[1]
    for con in (got[0], third):
        pool.release(con, reusable=True)
    pool.close()
    assert not got[0].open and not third.open


def test_a_prepared_statement_answers_as_its_text_and_survives_being_deallocated(db):
    sql = "SELECT %s + 1 AS n, CONCAT(%s, '%%') AS s, DATE_FORMAT('2026-01-02', '%%Y') AS y"

    def run(tx, value, text):
        return tx.row(sql, [value, text], prepare=True), tx.row(sql, [value, text])

    prepared, plain = db.read(lambda tx: run(tx, 41, "it's"))
    assert prepared == plain == {"n": 42, "s": "it's%", "y": "2026"}

    def names(tx):
        return dict(tx._cursor.connection._mcp_prepared)

    known = db.read(names)
    assert list(known) == [sql]
    # Someone deallocates it behind our back (or the server lost it): prepared again, once.
    db.read(lambda tx: tx.execute(f"DEALLOCATE PREPARE {known[sql]}"))
    prepared, plain = db.read(lambda tx: run(tx, "1; DROP TABLE tasks", "x"))
    assert prepared == plain and prepared["s"] == "x%"
    assert db.read(lambda tx: tx.value("SELECT COUNT(*) AS n FROM tasks")) == 0  # the table is still there


def test_past_the_cap_a_connection_runs_statements_as_text(db):
    cap = mysql_pool.PREPARED_PER_CONNECTION

    def many(tx):
        answers = [tx.value(f"SELECT %s + {i} AS n", [1], prepare=True) for i in range(cap + 5)]
        return answers, len(tx._cursor.connection._mcp_prepared)

    answers, kept = db.read(many)
    assert answers == [1 + i for i in range(cap + 5)]
    assert kept == cap


def _admin(db: Database) -> dict:
    s = db.settings
    return dict(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name)


def test_a_call_running_when_the_pool_closes_still_ends_and_leaves_nothing_open(db):
    pool = mysql_pool.MySQLPool(db._open_mysql, size=1, ping_idle=1.0)
    held = pool.acquire()
    pool.close()
    late = pool.acquire()  # beyond the bound, but a closed pool makes nobody wait for ever
    assert late.open and late is not held
    pool.release(held, reusable=True)
    pool.release(late, reusable=True)
    assert not held.open and not late.open


def test_a_partition_is_reported_within_the_connect_timeout_and_long_statements_still_run(mariadb_url):
    """Packets dropped, nothing refused (tests/support/tcp_proxy.py drop()): the pool's ping of an
    idle connection, and the login of a new one, wait DB_CONNECT_TIMEOUT, not DB_QUERY_TIMEOUT."""
    from dataclasses import replace

    from domain.errors import StorageError
    from infrastructure.database import PING_IDLE_SECONDS
    from tests.support.tcp_proxy import TcpProxy

    real = parse_database_url(mariadb_url)
    proxy = TcpProxy(real.host, real.port).start()
    settings = replace(real, host="127.0.0.1", port=proxy.port, connect_timeout=1.5, query_timeout=30.0)
    database = Database(settings, "DATABASE_URL")
    try:
        # A statement longer than the connect timeout runs: that bound is for pings and logins only.
        assert database.read(lambda tx: tx.value("SELECT SLEEP(2.5) AS slept")) == 0
        time.sleep(PING_IDLE_SECONDS + 0.5)  # idle: the next call pings it first
        proxy.drop()
        began = time.monotonic()
        with pytest.raises(StorageError) as refused:
            database.read(lambda tx: tx.value("SELECT 1 AS one"))
        took = time.monotonic() - began
        # A ping and a login of 1.5 s each, with room for a loaded machine: far below the 30 s a statement waits.
        assert took < 10, f"the partition was reported after {took:.1f} s"
        assert f"127.0.0.1:{proxy.port}" in str(refused.value) and "DB_CONNECT_TIMEOUT" in str(refused.value), refused.value
        proxy.heal()
        assert database.read(lambda tx: tx.value("SELECT 1 AS one")) == 1  # and back as soon as it heals
    finally:
        database.close()
        proxy.stop()
