"""A real database restart under one running server process: the test starts its own
mariadbd (tests/support/throwaway_mariadb.py), stops it with SIGTERM while a stdio server is
connected, and starts it again on the same datadir and port. During the outage every call
is refused with a clear error; afterwards reads and writes succeed on the same server
process, without restarting it.
"""
from __future__ import annotations

import secrets
import subprocess
import sys

import anyio
import pytest

from tests.conftest import server_env
from tests.support.mcp_stdio import SERVER, stdio_session
from tests.support.throwaway_mariadb import throwaway_mariadb, throwaway_mariadb_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
CALL_BOUND = 30  # seconds; a call that hangs during the outage is a failure, not a stall


async def ok(session, name: str, **args):
    result = await session.call_tool(name, args)
    assert not result.is_error, (name, args, result.content)
    return result.structured_content


async def refused(session, name: str, **args) -> str:
    with anyio.fail_after(CALL_BOUND):
        result = await session.call_tool(name, args)
    text = result.content[0].text
    assert result.is_error, (name, text)
    assert text.strip() != f"Error executing tool {name}", f"{name} crashed instead of refusing"
    return text


def fresh_database(server, home) -> str:
    """A new database on the throwaway server, made by `python server.py init-db`."""
    url = server.create_database(f"tasks_{secrets.token_hex(3)}")
    done = subprocess.run(
        [sys.executable, str(SERVER), "init-db"], env=server_env(url, home), cwd=str(SERVER.parent),
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0 and "applied" in done.stdout, (done.stdout, done.stderr)
    return url


def names_the_database(text: str, port: int) -> bool:
    """A clear outage message: where the database is (host:port) and which setting to fix."""
    return f"127.0.0.1:{port}" in text and "DATABASE_URL" in text


def count(server, url: str, sql: str) -> int:
    con = server.connect(url.rsplit("/", 1)[1])
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return int(cur.fetchone()[0])
    finally:
        con.close()


async def test_calls_during_a_database_restart_fail_clearly_and_succeed_after_it_on_the_same_process(
    throwaway_mariadb, tmp_path  # noqa: F811
):
    server = throwaway_mariadb
    url = fresh_database(server, tmp_path)
    errlog = open(tmp_path / "server-stderr.log", "w+")
    async with stdio_session(server_env(url, tmp_path), errlog=errlog) as s:
        before = await ok(s, "tasks_create", title="Written before the restart", type="ai_task")
        await ok(s, "tasks_assign", id=before["id"], assignee="claude-1", assignee_type="claude")
        await ok(s, "tasks_create", title="Waiting to be claimed")
        assert (await ok(s, "tasks_list"))["total"] == 2

        server.stop()
        assert not server.running
        # Reads (and a claim, which reads first) name the database and the setting to fix.
        for name, args in [
            ("tasks_list", {}), ("tasks_get", {"id": before["id"]}), ("tasks_statistics", {}),
            ("tasks_claim", {"assignee": "claude-2", "assignee_type": "claude"}), ("tasks_list", {"status": "pending"}),
        ]:
            text = await refused(s, name, **args)
            assert names_the_database(text, server.port), (name, text)
        # Writes are refused too, naming the database (and the setting: the test below).
        for name, args in [
            ("tasks_create", {"title": "Written during the outage"}),
            ("tasks_status", {"id": before["id"], "status": "in_progress"}),
            ("tasks_comment", {"id": before["id"], "content": "during the outage"}),
        ]:
            text = await refused(s, name, **args)
            assert f"127.0.0.1:{server.port}" in text, (name, text)

        server.start()

        # The same server process, its pool holding connections to the old mariadbd.
        page = await ok(s, "tasks_list")
        assert {t["title"] for t in page["tasks"]} == {"Written before the restart", "Waiting to be claimed"}
        after = await ok(s, "tasks_create", title="Written after the restart")
        moved = await ok(s, "tasks_status", id=before["id"], status="in_progress", updated_by="claude-1", updated_by_type="ai")
        assert moved["status"] == "in_progress"
        claimed = await ok(s, "tasks_claim", assignee="claude-2", assignee_type="claude")
        assert claimed["claimed"] and claimed["task"]["title"] == "Waiting to be claimed"
        await ok(s, "tasks_result", id=before["id"], response="done", executor="claude-1", executor_type="claude")
        detail = await ok(s, "tasks_get", id=before["id"])
        assert [c["comment_type"] for c in detail["comments"]] == ["status_change", "assignment", "status_change", "result"]
        assert (await ok(s, "tasks_get", id=after["id"]))["status"] == "pending"
        stats = await ok(s, "tasks_statistics")
        assert stats["total"] == 3 and stats["results"] == 1

    # Nothing from the outage landed.
    assert count(server, url, "SELECT COUNT(*) FROM tasks WHERE title = 'Written during the outage'") == 0
    assert count(server, url, "SELECT COUNT(*) FROM task_comments WHERE content = 'during the outage'") == 0
    errlog.seek(0)
    assert "Traceback" not in errlog.read()


async def test_writes_during_a_database_outage_name_the_database_and_the_setting_to_fix(
    throwaway_mariadb, tmp_path  # noqa: F811
):
    server = throwaway_mariadb
    url = fresh_database(server, tmp_path)
    async with stdio_session(server_env(url, tmp_path)) as s:
        task = await ok(s, "tasks_create", title="Before the outage")
        server.stop()
        try:
            unclear = []
            for name, args in [
                ("tasks_create", {"title": "During the outage"}),
                ("tasks_update", {"id": task["id"], "title": "renamed"}),
                ("tasks_status", {"id": task["id"], "status": "cancelled"}),
                ("tasks_assign", {"id": task["id"], "assignee": "a", "assignee_type": "claude"}),
                ("tasks_result", {"id": task["id"], "response": "r", "executor": "e", "executor_type": "claude"}),
                ("tasks_comment", {"id": task["id"], "content": "c"}),
                ("tasks_delete", {"id": task["id"]}),
            ]:
                text = await refused(s, name, **args)
                if not names_the_database(text, server.port):
                    unclear.append(text)
            assert not unclear, "outage messages without host:port or DATABASE_URL:\n" + "\n".join(unclear)
        finally:
            server.start()
