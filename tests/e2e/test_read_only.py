"""Read-only mode (READ_ONLY=true): the write tools are not listed, and the database
session itself refuses a write, so no code path can change a row."""
from __future__ import annotations

import pytest
from mcp import Client

from config import load_config
from domain.errors import Forbidden
from infrastructure.database import Database
from server import build_server
from tests.conftest import server_env, with_config
from tests.support.mcp_stdio import stdio_session

pytestmark = pytest.mark.anyio

READS = {"tasks_list", "tasks_get", "tasks_statistics", "contracts_list", "contracts_validate"}
WRITES = {"tasks_create", "tasks_update", "tasks_status", "tasks_assign", "tasks_result", "tasks_delete", "tasks_comment",
          "tasks_claim", "tasks_execute", "quality_check"}


async def _seed(config) -> int:
    async with Client(build_server(config)) as client:
        created = await client.call_tool("tasks_create", {"title": "Seeded before read-only"})
    return created.structured_content["id"]


async def test_read_only_lists_only_read_tools_and_the_reads_work(config):
    task_id = await _seed(config)
    async with Client(build_server(with_config(config, read_only=True))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert READS <= set(tools) and not (WRITES & set(tools))
        assert all(t.annotations.read_only_hint for t in tools.values())
        refused = await client.call_tool("tasks_create", {"title": "x"})
        assert refused.is_error and refused.content[0].text.startswith("[forbidden] tasks_create is not offered")
        assert refused.meta["mcp-tasks/error"] == {"code": "forbidden", "retryable": False}
        assert (await client.call_tool("tasks_get", {"id": task_id})).structured_content["title"] == "Seeded before read-only"
        assert (await client.call_tool("tasks_list", {})).structured_content["total"] == 1
        assert (await client.read_resource(f"task://{task_id}")).contents
        assert (await client.list_prompts()).prompts == []  # both prompts walk through writes
        assert "read-only" in client.instructions
    async with Client(build_server(config)) as client:
        assert (await client.call_tool("tasks_statistics", {})).structured_content["total"] == 1


async def test_the_read_only_database_session_refuses_a_write_through_sql(config):
    task_id = await _seed(config)
    db = Database(config.database, config.database_source, read_only=True)
    try:
        assert db.read(lambda tx: tx.value("SELECT COUNT(*) AS n FROM tasks")) == 1
        # SQL that bypasses write(): the session itself refuses it.
        with pytest.raises(Forbidden, match="read-only"):
            db.read(lambda tx: tx.execute("UPDATE tasks SET title = %s WHERE id = %s", ["changed", task_id]))
        with pytest.raises(Forbidden, match="read-only"):
            db.read(lambda tx: tx.execute(
                "INSERT INTO task_comments (task_id, author, author_type, comment_type, content) VALUES (%s, 'x', 'ai', 'comment', 'x')",
                [task_id],
            ))
        with pytest.raises(Forbidden, match="READ_ONLY=true"):
            db.write(lambda tx: tx.execute("DELETE FROM tasks"))
    finally:
        db.close()
    writable = Database(config.database, config.database_source)
    try:
        assert writable.read(lambda tx: tx.value("SELECT title FROM tasks WHERE id = %s", [task_id])) == "Seeded before read-only"
        assert writable.read(lambda tx: tx.value("SELECT COUNT(*) AS n FROM task_comments WHERE content = 'x'")) == 0
    finally:
        writable.close()


async def test_read_only_from_the_environment_over_stdio(tmp_path):
    url = f"sqlite://{tmp_path / 'tasks.db'}"
    await _seed(load_config({"DATABASE_URL": url, "HOME": str(tmp_path), "PWD": str(tmp_path), "MCP_TASKS_TOOLS": "all"}))
    async with stdio_session(server_env(url, tmp_path, READ_ONLY="true")) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert READS <= names and not (WRITES & names)
        assert (await session.call_tool("tasks_list", {})).structured_content["total"] == 1


async def test_read_only_with_no_sqlite_file_refuses_each_call_and_creates_nothing(tmp_path):
    data = tmp_path / "data"
    url = f"sqlite://{data / 'tasks.db'}"
    async with stdio_session(server_env(url, tmp_path, READ_ONLY="true")) as session:
        for name, args in (("tasks_list", {}), ("tasks_statistics", {}), ("tasks_get", {"id": 1})):
            refused = await session.call_tool(name, args)
            assert refused.is_error, (name, refused.content)
            text = refused.content[0].text
            assert text.startswith("[forbidden] ") and "READ_ONLY=true" in text, text  # as every read-only refusal
            assert "does not exist" in text and "init-db" in text, text
            assert refused.meta["mcp-tasks/error"] == {"code": "forbidden", "retryable": False}, refused.meta
    assert not data.exists(), list(data.iterdir())  # no file, no -wal, no lock file, not even the directory
