"""Fixtures shared by every test: the two real backends and the server's environment.

MariaDB: each test run gets its own database on the server named by
MCP_TASKS_TEST_MARIADB (default mysql://root@127.0.0.1:3306/test, whose credentials are
used to create `mcp_tasks_t<pid>_<random>`), dropped at the end, so parallel runs and
other programs' data are left alone. When MariaDB cannot be reached the MariaDB tests
skip, unless MCP_TASKS_REQUIRE_MARIADB=1 (CI sets it): then they fail.
"""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import Config, load_config, parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402
from infrastructure.task_repository import TaskRepository  # noqa: E402

MARIADB_URL = os.environ.get("MCP_TASKS_TEST_MARIADB", "mysql://root@127.0.0.1:3306/test")
REQUIRE_MARIADB = os.environ.get("MCP_TASKS_REQUIRE_MARIADB") == "1"
TABLES_CHILD_FIRST = ("task_comments", "task_results", "task_assignments", "tasks")


def _admin_connection():
    import pymysql

    s = parse_database_url(MARIADB_URL)
    return pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, connect_timeout=3, autocommit=True)


@pytest.fixture(scope="session")
def mariadb_url():
    """A fresh, migrated database for this test run; its URL."""
    import pymysql

    try:
        admin = _admin_connection()
    except pymysql.err.MySQLError as exc:
        message = f"MariaDB at {MARIADB_URL} cannot be reached ({exc}); set MCP_TASKS_TEST_MARIADB or start it"
        if REQUIRE_MARIADB:
            pytest.fail(message)
        pytest.skip(message)
    name = f"mcp_tasks_t{os.getpid()}_{secrets.token_hex(3)}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    base = MARIADB_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    db = Database(parse_database_url(url), "DATABASE_URL")
    db.migrate()
    db.close()
    try:
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def empty_mariadb(url: str) -> None:
    import pymysql

    s = parse_database_url(url)
    con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True)
    with con.cursor() as cur:
        for table in TABLES_CHILD_FIRST:
            cur.execute(f"DELETE FROM {table}")
    con.close()


@pytest.fixture(params=["sqlite", "mariadb"])
def backend_url(request, tmp_path) -> str:
    """A DATABASE_URL for an empty task database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'tasks.db'}"
    url = request.getfixturevalue("mariadb_url")
    empty_mariadb(url)
    return url


@pytest.fixture
def config(backend_url, tmp_path) -> Config:
    # Every tool: these tests are about what the tools do; test_tool_profiles.py covers the default profile.
    return load_config({"DATABASE_URL": backend_url, "HOME": str(tmp_path), "PWD": str(tmp_path), "MCP_TASKS_TOOLS": "all"})


@pytest.fixture
def database(config):
    db = Database(config.database, config.database_source)
    yield db
    db.close()


@pytest.fixture
def repo(database, config) -> TaskRepository:
    return TaskRepository(database, quality_gate=config.quality_gate, lease_minutes=config.lease_minutes, max_attempts=config.max_attempts)


def server_env(database_url: str | None, home: Path, **extra: str) -> dict[str, str]:
    """The environment a client gives the server subprocess: only what it needs."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1", "MCP_TASKS_TOOLS": "all"}
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def with_config(config: Config, **changes) -> Config:
    return replace(config, **changes)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def mcp_server(config):
    """The MCP server in-process (the SDK's memory transport), on this test's backend."""
    from server import build_server

    return build_server(config)
