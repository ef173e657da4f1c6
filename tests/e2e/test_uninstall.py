"""The README's uninstall statements, exactly as written there, remove every table the
server made (the spec's tables, ours, the search index, yoyo's migration records) on both
backends, and nothing else."""
from __future__ import annotations

import re
import secrets
import sqlite3

import pymysql

from config import parse_database_url
from infrastructure.database import Database
from tests.conftest import ROOT


def readme_statements() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- uninstall-sql:start.*?```sql\n(.*?)```.*?<!-- uninstall-sql:end -->", text, re.S)
    assert block, "README lost its uninstall block"
    statements = [s.strip() for s in block.group(1).split(";") if s.strip()]
    assert len(statements) >= 8
    return statements


def test_the_readme_uninstall_leaves_nothing_of_ours_in_sqlite(tmp_path):
    path = tmp_path / "tasks.db"
    db = Database(parse_database_url(f"sqlite:///{path}"), "DATABASE_URL")
    db.migrate()
    db.close()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE someone_elses (x INTEGER)")
    for statement in readme_statements():
        con.execute(statement)
    con.commit()
    left = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger', 'index')")}
    con.close()
    # sqlite_sequence is SQLite's own (emptied, it cannot be dropped); indexes and triggers went with their tables.
    assert left - {"sqlite_sequence"} == {"someone_elses"}, left


def test_the_readme_uninstall_leaves_nothing_of_ours_in_mariadb(mariadb_url):
    s = parse_database_url(mariadb_url)
    name = f"mcp_tasks_un_{secrets.token_hex(3)}"
    admin = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        url = f"{mariadb_url.rsplit('/', 1)[0]}/{name}"
        db = Database(parse_database_url(url), "DATABASE_URL")
        db.migrate()
        db.close()
        con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=name, autocommit=True)
        with con.cursor() as cur:
            cur.execute("CREATE TABLE someone_elses (x INT)")
            for statement in readme_statements():
                cur.execute(statement)  # a foreign key would refuse a parent dropped before its child
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [name])
            left = {row[0] for row in cur.fetchall()}
            cur.execute("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s", [name])
            triggers = cur.fetchone()[0]
        con.close()
        assert left == {"someone_elses"} and triggers == 0, left
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
