"""Bounds and secrets through the real interfaces: the server as a subprocess over stdio
with real MariaDB and SQLite, and `server.py doctor`.

- a DATABASE_URL password with an unencoded `/` logs in and is never printed;
- a swapped MCP_API_KEYS entry (key:name) does not print the key at start-up;
- a MariaDB that accepts connections and never answers: the call is refused within
  DB_QUERY_TIMEOUT while other calls are answered;
- a stale yoyo lock row (a server killed while creating a new SQLite file's schema) does
  not stop the next server.
"""
from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from config import parse_database_url
from tests.conftest import _admin_connection, server_env
from tests.support.mcp_stdio import SERVER, stdio_session
from tests.support.raw_stdio import RawServer

pytestmark = pytest.mark.anyio

SLASHED = "3306/Slash-Tail-9f2e"  # urlsplit took "3306" for the port and the rest for the database name
USER = "mcp_slash_user"


@pytest.fixture
def slashed_user(mariadb_url):
    """A MariaDB user whose password holds an unencoded / (and the test database's name)."""
    name = parse_database_url(mariadb_url).name
    admin = _admin_connection()
    with admin.cursor() as cur:
        for host in ("%", "localhost"):
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", [USER, host, SLASHED])
            cur.execute(f"GRANT ALL ON `{name}`.* TO %s@%s", [USER, host])
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            for host in ("%", "localhost"):
                cur.execute("DROP USER IF EXISTS %s@%s", [USER, host])
        admin.close()


def test_a_password_with_a_slash_logs_in_and_doctor_never_prints_it_and_shows_the_bounds(slashed_user, tmp_path):
    env = server_env(f"mysql://{USER}:{SLASHED}@127.0.0.1:3306/{slashed_user}", tmp_path, DB_QUERY_TIMEOUT="7")
    done = subprocess.run([sys.executable, str(SERVER), "doctor"], env=env, capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert f"OK   database: MariaDB/MySQL at 127.0.0.1:3306, database '{slashed_user}', user '{USER}' answers" in out, out
    assert "Slash-Tail" not in out
    assert "DB_QUERY_TIMEOUT=7 s" in out and "MCP_HTTP_MAX_SESSIONS_PER_KEY=50" in out  # doctor lists the bounds
    assert "galera" not in out  # one server: doctor says nothing of clusters


async def test_a_wrong_password_with_a_slash_is_not_echoed_by_a_refused_call(slashed_user, tmp_path):
    wrong = "3306/Wrong-Secret-4d7a"
    errlog = tmp_path / "stderr.log"
    with errlog.open("w") as err:
        async with stdio_session(server_env(f"mysql://{USER}:{wrong}@127.0.0.1:3306/{slashed_user}", tmp_path), err) as s:
            refused = await s.call_tool("tasks_list", {})
    assert refused.is_error
    text = refused.content[0].text
    assert "refused the login" in text and USER in text, text
    assert "Wrong-Secret" not in text and "Wrong-Secret" not in errlog.read_text()


def test_a_swapped_api_key_entry_is_refused_at_start_without_printing_the_key(tmp_path):
    key = "k3y-0f-alice-5b8d2c7e1a"
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=f"{key}:alice")
    done = subprocess.run([sys.executable, str(SERVER)], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "MCP_API_KEYS, entry 1" in done.stderr and "name:key" in done.stderr
    assert key not in done.stderr + done.stdout


class SilentDatabase:
    """A loopback TCP server that accepts every connection and never sends a byte."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self):
        for s in [self.listener, *self.accepted]:
            s.close()


def test_a_database_that_never_answers_is_refused_within_the_connect_timeout_and_other_calls_are_answered(tmp_path):
    # It accepts the connection and never greets: the login waits DB_CONNECT_TIMEOUT (issue 22;
    # it waited DB_QUERY_TIMEOUT before), so the 30 s a statement may take is not spent on it.
    silent = SilentDatabase()
    env = server_env(f"mysql://root@127.0.0.1:{silent.port}/x", tmp_path, DB_CONNECT_TIMEOUT="2", DB_QUERY_TIMEOUT="30")
    try:
        with RawServer(env) as server:
            server.initialize()
            started = time.monotonic()
            hung = server.send_tool("tasks_list")
            other = server.send_tool("contracts_list")
            assert "result" in server.wait(other, timeout=5)  # answered while tasks_list waits on the database
            assert time.monotonic() - started < 2.5
            reply = server.wait(hung, timeout=15)["result"]
            elapsed = time.monotonic() - started
            assert reply["isError"] and "DB_CONNECT_TIMEOUT" in reply["content"][0]["text"], reply
            assert elapsed < 8, f"refused after {elapsed:.1f} s; the bound is 2 s (one attempt, no retry)"
            assert silent.accepted, "the server did connect to the silent database"
    finally:
        silent.close()


async def test_a_stale_yoyo_lock_left_by_a_killed_server_does_not_stop_the_next_one(tmp_path):
    db = tmp_path / "tasks.db"
    # What a server killed ~50 ms into creating the schema leaves: yoyo's lock row, no tables.
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE yoyo_lock (locked INT DEFAULT 1, ctime TIMESTAMP, pid INT NOT NULL, PRIMARY KEY (locked))")
    con.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, CURRENT_TIMESTAMP, 999999)")
    con.commit()
    con.close()
    started = time.monotonic()
    async with stdio_session(server_env(f"sqlite:///{db}", tmp_path)) as s:
        created = await s.call_tool("tasks_create", {"title": "after a killed migration"})
    assert not created.is_error, created.content
    assert time.monotonic() - started < 8  # yoyo alone waited 10 s for the lock, then failed


def test_a_server_killed_while_creating_the_schema_leaves_nothing_that_stops_the_next_one(tmp_path):
    """Kill servers at several moments of their first call on a new file; each next one works at once."""
    for delay in (0.02, 0.05, 0.1, 0.2):
        db = tmp_path / f"killed-{delay}.db"
        env = server_env(f"sqlite:///{db}", tmp_path)
        with RawServer(env) as server:
            server.initialize()
            server.send_tool("tasks_create", title="interrupted")
            time.sleep(delay)
            server.kill()
        with RawServer(env) as server:
            server.initialize()
            started = time.monotonic()
            assert server.tool("tasks_create", title="next")["title"] == "next"
            assert time.monotonic() - started < 5
