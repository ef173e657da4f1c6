"""init-db and doctor against a MariaDB server where the configured database does not exist
yet: init-db creates it when the user may, else names the CREATE DATABASE statement; doctor
calls it a missing database, not an unreachable server or a refused login."""
from __future__ import annotations

import secrets
import subprocess
import sys

import pymysql
import pytest

from config import parse_database_url
from tests.conftest import server_env
from tests.support.fake_ollama import FakeOllama
from tests.support.mcp_stdio import SERVER


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def admin(mariadb_url):
    s = parse_database_url(mariadb_url)
    con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, autocommit=True)
    yield con, s, mariadb_url.rsplit("/", 1)[0]
    con.close()


def _exists(con, name: str) -> bool:
    with con.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [name])
        return cur.fetchone() is not None


def test_init_db_creates_a_missing_database_and_doctor_names_it_missing_before(admin, tmp_path):
    con, _, base = admin
    name = f"mcp_tasks_new_{secrets.token_hex(3)}"
    env = server_env(f"{base}/{name}", tmp_path)
    try:
        with FakeOllama() as ollama:
            before = _run({**env, "OLLAMA_HOST": ollama.url}, "doctor")
        assert before.returncode == 1
        line = next(line for line in before.stdout.splitlines() if line.startswith("FAIL database"))
        assert "does not exist" in line and "CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4" in line, line
        assert "refused the login" not in line and "cannot be reached" not in line
        created = _run(env, "init-db")
        assert created.returncode == 0, created.stdout + created.stderr
        assert f"created database {name!r}" in created.stdout and _exists(con, name)
        with con.cursor() as cur:
            cur.execute("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [name])
            assert cur.fetchone()[0] == "utf8mb4"
        again = _run(env, "init-db")
        assert again.returncode == 0 and "created database" not in again.stdout and "up to date" in again.stdout
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_init_db_without_the_create_privilege_names_the_statement_to_run(admin, tmp_path):
    con, s, _ = admin
    user, password, name = f"mcp_t_{secrets.token_hex(3)}", secrets.token_hex(8), f"mcp_tasks_new_{secrets.token_hex(3)}"
    with con.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'")
    try:
        env = server_env(f"mysql://{user}:{password}@{s.host}:{s.port}/{name}", tmp_path)
        refused = _run(env, "init-db")
        assert refused.returncode == 1
        assert f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;" in refused.stderr, refused.stderr
        assert password not in refused.stderr + refused.stdout
        assert not _exists(con, name)
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'localhost'")


def test_a_migration_that_ran_but_was_not_recorded_runs_again_cleanly(tmp_path):
    """A server killed after 0007's ALTERs took effect but before yoyo recorded them left a
    file whose next start failed with "duplicate column name" (seen in test_hardening)."""
    import sqlite3

    from config import parse_database_url
    from infrastructure.database import Database

    path = tmp_path / "half.db"
    db = Database(parse_database_url(f"sqlite://{path}"), "DATABASE_URL")
    db.migrate()
    db.close()
    con = sqlite3.connect(path)
    con.execute("DELETE FROM _yoyo_migration WHERE migration_id = '0007.lease-holder-names'")
    con.commit()
    con.close()
    db = Database(parse_database_url(f"sqlite://{path}"), "DATABASE_URL")
    assert db.migrate() == ["0007.lease-holder-names"]
    db.close()
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(task_leases)")}
    assert {"holder_session", "reaped_holder"} <= columns
