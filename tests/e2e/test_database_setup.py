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
    db = Database(parse_database_url(f"sqlite:///{path}"), "DATABASE_URL")
    db.migrate()
    db.close()
    con = sqlite3.connect(path)
    con.execute("DELETE FROM _yoyo_migration WHERE migration_id = '0007.lease-holder-names'")
    con.commit()
    con.close()
    db = Database(parse_database_url(f"sqlite:///{path}"), "DATABASE_URL")
    assert db.migrate() == ["0007.lease-holder-names"]
    db.close()
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(task_leases)")}
    assert {"holder_session", "reaped_holder"} <= columns


def test_init_db_prunes_the_change_feed_past_change_feed_keep_days(tmp_path):
    from config import load_config
    from infrastructure.change_feed import ChangeFeed
    from infrastructure.database import Database
    from infrastructure.task_repository import TaskRepository
    from tests.integration.test_repository import make

    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    env = server_env(url, tmp_path)
    assert _run(env, "init-db").returncode == 0
    config = load_config(env)
    db = Database(config.database, config.database_source)
    try:
        task = make(TaskRepository(db), "old news")["id"]
        for i in range(4):
            TaskRepository(db).add_comment(task, content=f"c{i}", author="a", author_type="ai")
        db.write(lambda tx: tx.execute(
            "UPDATE task_changes SET changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-10 days') WHERE seq <= 3"
        ))
        kept = _run({**env, "CHANGE_FEED_KEEP_DAYS": "14"}, "init-db")
        assert kept.returncode == 0 and "pruned" not in kept.stdout  # ten days is within fourteen
        pruned = _run({**env, "CHANGE_FEED_KEEP_DAYS": "7"}, "init-db")
        assert pruned.returncode == 0, pruned.stderr
        assert "change feed: pruned 2 changes older than CHANGE_FEED_KEEP_DAYS=7" in pruned.stdout
        assert [(c.seq, c.kind) for c in ChangeFeed(db).since(0)] == [(3, "pruned"), (4, "comment"), (5, "comment")]
        refused = _run({**env, "CHANGE_FEED_KEEP_DAYS": "0"}, "init-db")
        assert refused.returncode != 0 and "CHANGE_FEED_KEEP_DAYS='0' is below 0.1" in refused.stdout + refused.stderr
    finally:
        db.close()
