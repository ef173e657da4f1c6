"""The server as a subprocess, driven over stdio by the SDK's real client."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import parse_database_url
from tests.conftest import server_env
from tests.support.mcp_stdio import SERVER, stdio_session
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio


async def call(session, name: str, **args):
    result = await session.call_tool(name, args)
    assert not result.is_error, (name, args, result.content)
    return result.structured_content


async def test_spec_example_workflow_runs_end_to_end(backend_url, tmp_path):
    async with stdio_session(server_env(backend_url, tmp_path), client_name="spec-client") as s:
        target = await call(s, "tasks_create", title="Summarise the meeting", description="Notes attached", type="ai_task")
        await call(s, "tasks_create", title="Call the customer", type="human_task")
        # 1. list pending ai_tasks
        page = await call(s, "tasks_list", status="pending", type="ai_task")
        assert [t["id"] for t in page["tasks"]] == [target["id"]]
        # 2. read it
        task = await call(s, "tasks_get", id=target["id"])
        assert task["description"] == "Notes attached"
        # 3. take it
        await call(s, "tasks_status", id=task["id"], status="in_progress", updated_by="claude", updated_by_type="ai")
        # 5. record the result
        await call(
            s, "tasks_result", id=task["id"], response="Summary: ...", executor="claude", executor_type="anthropic_api",
            model_name="claude-opus", tokens_input=1200, tokens_output=300, cost_usd=0.0123,
        )
        # 6. complete
        done = await call(s, "tasks_status", id=task["id"], status="completed", updated_by="claude", updated_by_type="ai")
        assert done["status"] == "completed" and done["completed_at"]
        final = await call(s, "tasks_get", id=task["id"])
    result = final["results"][0]
    assert (result["response"], result["tokens_total"], result["cost_usd"]) == ("Summary: ...", 1500, 0.0123)
    history = [(c["author"], c["comment_type"], c["content"]) for c in final["comments"]]
    session_actor = final["created_by"]  # nobody named: the client's own name and this session's suffix
    assert re.fullmatch(r"spec-client#[0-9a-f]{4}", session_actor), session_actor
    assert history == [
        (session_actor, "status_change", "Task created (pending)"),
        ("claude", "status_change", "Status: pending → in_progress"),
        ("claude", "result", "Result (success) by claude, 1500 tokens"),
        ("claude", "status_change", "Status: in_progress → completed"),
    ]


async def test_with_nothing_configured_the_sqlite_file_appears_in_the_user_data_directory(tmp_path):
    home, workdir = tmp_path / "home", tmp_path / "work"
    workdir.mkdir()
    env = server_env(None, home)
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env, cwd=str(workdir))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            assert init.server_info.name == "mcp-tasks"
            assert len((await s.list_tools()).tools) >= 10
            await call(s, "tasks_create", title="first")
    assert (home / ".local" / "share" / "mcp-tasks" / "tasks.db").is_file()
    assert list(workdir.iterdir()) == []


async def test_two_sessions_of_the_same_client_are_two_actors(backend_url, tmp_path):
    """Two Claude Code windows on one task list: each session's writes carry its own name."""
    env = server_env(backend_url, tmp_path)
    created = []
    for title in ("from the first window", "from the second window"):
        async with stdio_session(env, client_name="claude-code") as s:
            created.append(await call(s, "tasks_create", title=title))
            again = await call(s, "tasks_comment", id=created[-1]["id"], content="same session, same name")
            assert again["author"] == created[-1]["created_by"]
    first, second = (task["created_by"] for task in created)
    assert first.startswith("claude-code#") and second.startswith("claude-code#")
    assert first != second
    # A configured actor still wins over the session's name.
    async with stdio_session({**env, "MCP_TASKS_ACTOR": "night-shift"}, client_name="claude-code") as s:
        assert (await call(s, "tasks_create", title="configured"))["created_by"] == "night-shift"


def test_stdout_carries_only_json_rpc_messages(tmp_path):
    """Raw pipe: initialize, tools/list, a good call, a refused call, a bad tool name."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": "x"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "tasks_get", "arguments": {"id": 999}}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "tasks_list", "arguments": {"limit": "x"}}},
    ]
    stdin = "".join(json.dumps(m) + "\n" for m in messages)
    env = {**server_env(f"sqlite://{tmp_path / 't.db'}", tmp_path), "LOG_LEVEL": "DEBUG"}
    proc = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out_lines: list[str] = []
    try:
        proc.stdin.write(stdin)
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while len(out_lines) < 6 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out_lines.append(line)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        stderr = proc.stderr.read()
    assert len(out_lines) == 6, (out_lines, stderr)
    for line in out_lines:
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
    replies = {m["id"]: m for m in map(json.loads, out_lines)}
    assert replies[4]["result"]["isError"] and "999" in replies[4]["result"]["content"][0]["text"]
    # The wire form of a refusal: [code] first, the same code for programs in _meta, no structuredContent.
    for reply, code in ((replies[4], "not_found"), (replies[5], "invalid_argument"), (replies[6], "invalid_argument")):
        result = reply["result"]
        assert result["content"][0]["text"].startswith(f"[{code}] "), result
        assert result["_meta"]["mcp-tasks/error"] == {"code": code, "retryable": False}, result
        assert "structuredContent" not in result
    assert "stdio" in stderr  # the log went to stderr


@pytest.fixture
def vanishing_mariadb(mariadb_url):
    """The test database, reached through a proxy the test can stop and start."""
    s = parse_database_url(mariadb_url)
    proxy = TcpProxy(s.host, s.port)
    url = mariadb_url.replace(f"@{s.host}:{s.port}/", f"@127.0.0.1:{proxy.port}/")
    yield proxy, url
    proxy.stop()


async def test_unreachable_database_gives_clear_errors_and_recovers_without_restart(vanishing_mariadb, tmp_path):
    proxy, url = vanishing_mariadb
    secret = "s3cr3t-pw"
    s = parse_database_url(url)
    url_with_password = url.replace(f"{s.user}@", f"{s.user}:{secret}@") if not s.password else url
    # MariaDB's root has no password here; a wrong password would refuse the login, so the
    # password goes only where the server would print it if it leaked: the unreachable case.
    env = server_env(url_with_password, tmp_path)
    valid = {
        "tasks_list": {}, "tasks_get": {"id": 1}, "tasks_create": {"title": "x"}, "tasks_update": {"id": 1, "title": "x"},
        "tasks_status": {"id": 1, "status": "cancelled"}, "tasks_assign": {"id": 1, "assignee": "a", "assignee_type": "claude"},
        "tasks_result": {"id": 1, "response": "r", "executor": "e", "executor_type": "claude"}, "tasks_delete": {"id": 1},
        "tasks_statistics": {}, "tasks_comment": {"id": 1, "content": "c"},
        "tasks_claim": {"assignee": "a", "assignee_type": "claude"}, "tasks_execute": {"id": 1},
    }
    errlog = open(tmp_path / "stderr.log", "w+")
    started = time.monotonic()
    async with stdio_session(env, errlog=errlog) as session:
        tools = [t.name for t in (await session.list_tools()).tools if t.name.startswith("tasks_")]
        assert time.monotonic() - started < 15
        assert set(valid) <= set(tools)
        for name in tools:
            result = await session.call_tool(name, valid.get(name, {"id": 1}))
            text = result.content[0].text
            assert result.is_error, (name, text)
            assert f"127.0.0.1:{proxy.port}" in text and "DATABASE_URL" in text, text
            assert secret not in text
    errlog.seek(0)
    logged = errlog.read()
    assert "cannot be reached" in logged and secret not in logged
    # Recovery: one server process sees the database come, go and come back.
    if not s.password:
        env = server_env(url, tmp_path)
    async with stdio_session(env) as session:
        failed = await session.call_tool("tasks_list", {})
        assert failed.is_error
        proxy.start()
        page = await session.call_tool("tasks_list", {})
        assert not page.is_error, page.content
        proxy.stop()
        outage = await session.call_tool("tasks_list", {})
        assert outage.is_error and "cannot be reached" in outage.content[0].text
        proxy.start()
        back = await session.call_tool("tasks_create", {"title": "after the outage"})
        assert not back.is_error, back.content


def test_every_unreadable_line_on_stdin_gets_a_json_rpc_error_and_a_log_line(tmp_path):
    """Malformed JSON, a lone surrogate escape, JSON nested 300 deep, bytes that are not UTF-8
    and a JSON value that is no JSON-RPC message: each is answered (the SDK's reader dropped
    them silently and the client waited for its own timeout), on its id when one can be
    found, and the server keeps serving."""
    from tests.support.raw_stdio import RawServer

    errlog = tmp_path / "stderr.log"
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    with RawServer(env, errlog) as server:
        server.initialize()
        surrogate = b'{"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": "\\ud800"}}}\n'
        server.write_raw(surrogate)
        reply = server.wait(41, timeout=15)
        assert reply["error"]["code"] == -32700 and "surrogate" in reply["error"]["message"]
        lines = [b'{"jsonrpc": "2.0", "id": 42, "method": \n', b"[" * 300 + b"]" * 300 + b"\n",
                 b'{"jsonrpc": "2.0", "id": 43, "method": "ping", "params": {"x": "caf\xe9"}}\n', b"[1, 2]\n"]
        for line in lines:
            server.write_raw(line)
        errors = server.wait_for_anonymous_errors(3, timeout=15)
        messages = [e["error"]["message"] for e in errors]
        assert [e["error"]["code"] for e in errors] == [-32700, -32700, -32600], messages
        assert "not valid JSON" in messages[0] and "nested too deeply" in messages[1]
        undecodable = server.wait(43, timeout=15)["error"]  # its id is found (issue 22), so it is answered on it
        assert undecodable["code"] == -32700 and "not UTF-8" in undecodable["message"]
        assert "0xe9" in undecodable["message"] and "params.x" in undecodable["message"]  # refused, not replaced with U+FFFD
        assert "result" not in server.responses[43]
        assert server.tool("tasks_create", title="still serving")["title"] == "still serving"
        assert server.tool("tasks_list")["total"] == 1  # none of the refused lines wrote anything
    log = errlog.read_text()
    assert log.count("refused a message on stdin") == 5, log


def test_over_pipes_an_idle_server_waits_on_its_event_loop_not_in_a_read(tmp_path):
    """Issue 16: the SDK's stdio transport reads each line, and writes and flushes each
    answer, on a worker thread (a thread sat in read(2) on stdin between messages; three
    thread hops a call, a quarter of a trivial call's CPU). Over pipes the event loop now
    waits on them itself: after initialize, tools/list and a tool call, no thread of the
    server sleeps in a pipe read; the one thread waits in epoll."""
    from tests.support.raw_stdio import RawServer

    with RawServer(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)) as server:
        server.initialize()
        server.wait(server.send("tools/list"))
        assert server.tool("tasks_create", title="one")["title"] == "one"
        time.sleep(0.5)
        tasks = Path(f"/proc/{server.pid}/task")
        waits = {t.name: (t / "wchan").read_text().strip() for t in tasks.iterdir()}
    assert any(w not in ("", "0") for w in waits.values()), f"no wait channels to read: {waits}"
    assert not [w for w in waits.values() if "pipe" in w], waits
    assert "epoll" in " ".join(waits.values()), waits


def test_stdin_and_stdout_may_be_regular_files(tmp_path):
    """A regular file is nothing the event loop can wait on; it is read and written on a
    worker thread instead. Requests from a file: every one answered (issue 22: calls still
    running at the end of input are finished first), and the server ends at its end.
    Answers into a file, requests over a pipe: every call answered."""
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "file", "version": "0"}}}
    calls = [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": "from a pipe"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "tasks_list", "arguments": {}}},
    ]
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    requests, answers = tmp_path / "requests.jsonl", tmp_path / "answers.jsonl"
    requests.write_text("".join(json.dumps(m) + "\n" for m in [initialize, *calls]))
    with open(requests, "rb") as stdin, open(answers, "wb") as stdout:
        done = subprocess.run([sys.executable, str(SERVER)], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env,
                              cwd=str(SERVER.parent), timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    from_file = {m["id"]: m for m in map(json.loads, answers.read_text().splitlines())}
    assert sorted(from_file) == [1, 2, 3] and from_file[1]["result"]["serverInfo"]["name"], from_file
    assert from_file[2]["result"]["structuredContent"]["title"] == "from a pipe"

    with open(answers, "wb") as stdout:
        proc = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.DEVNULL,
                                env=env, cwd=str(SERVER.parent))
        try:
            for messages, lines in (([initialize, *calls[:2]], 2), ([calls[2]], 3)):  # the list after the create's answer
                proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
                proc.stdin.flush()
                deadline = time.monotonic() + 30
                while answers.read_text().count("\n") < lines and time.monotonic() < deadline:
                    time.sleep(0.05)
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
    replies = {m["id"]: m for m in map(json.loads, answers.read_text().splitlines())}
    assert sorted(replies) == [1, 2, 3]
    assert replies[2]["result"]["structuredContent"]["title"] == "from a pipe"
    assert replies[3]["result"]["structuredContent"]["total"] == 2  # this one and the one read from the file
