"""Issue 22, item 1: every request on stdio gets its answer, the server as a subprocess.

A line over the 4 MB bound or not UTF-8 used to be refused with `"id": null` (or, oversize,
without a word on which field), so the client waited for its own timeout on its id; and
requests still running when stdin closed were cancelled unanswered (a tasks_create among
them, which may have written)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import server_env
from tests.support.mcp_stdio import SERVER
from tests.support.raw_stdio import RawServer

MB = 1024 * 1024


def _line(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def test_an_oversize_or_undecodable_line_is_answered_with_its_id_the_field_and_by_how_much(tmp_path):
    errlog = tmp_path / "stderr.log"
    with RawServer(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path), errlog) as server:
        server.initialize()
        # The Python SDK's order: id before params.
        server.write_raw(_line({"jsonrpc": "2.0", "id": 101, "method": "tools/call",
                                "params": {"name": "tasks_create", "arguments": {"title": "t" * (10 * MB)}}}))
        # The TypeScript SDK's order ({...request, jsonrpc, id}): the id comes last, after 5 MB of result.
        server.write_raw(_line({"method": "tools/call", "params": {"name": "tasks_result", "arguments": {
            "id": 1, "result": "r\\\"" * (5 * MB // 3), "status": "success"}}, "jsonrpc": "2.0", "id": "ts-7"}))
        # A string id, first, and the bound falling in an array of numbers rather than a string.
        server.write_raw(_line({"jsonrpc": "2.0", "id": "nums", "method": "tools/call",
                                "params": {"name": "tasks_create", "arguments": {"title": "n", "metadata": {"n": [1] * (2 * MB)}}}}))
        # Not UTF-8, with its id: answered on that id, naming the field the bad byte sits in.
        server.write_raw(b'{"jsonrpc":"2.0","id":103,"method":"tools/call","params":{"name":"tasks_create",'
                         b'"arguments":{"title":"caf\xe9"}}}\n')
        # No id anywhere: the one case answered with id null.
        server.write_raw(_line({"jsonrpc": "2.0", "method": "notifications/x", "params": {"blob": "b" * (5 * MB)}}))

        first = server.wait(101, timeout=60)["error"]
        assert first["code"] == -32600, first
        assert "10,485,8" in first["message"] and "over the limit of 4,194,304 bytes" in first["message"], first
        assert "params.arguments.title alone is 10,485,762 bytes" in first["message"], first
        ts = server.wait("ts-7", timeout=60)["error"]
        assert "params.arguments.result alone is" in ts["message"] and "over the limit" in ts["message"], ts
        nums = server.wait("nums", timeout=60)["error"]
        assert "over the limit" in nums["message"] and "params.arguments.metadata.n" in nums["message"], nums
        bad = server.wait(103, timeout=30)["error"]
        assert bad["code"] == -32700 and "not UTF-8" in bad["message"] and "0xe9" in bad["message"], bad
        assert "in params.arguments.title" in bad["message"], bad
        anonymous = server.wait_for_anonymous_errors(1, timeout=60)
        assert len(anonymous) == 1 and "over the limit" in anonymous[0]["error"]["message"], anonymous

        assert server.tool("tasks_list")["total"] == 0  # nothing refused was written
        assert server.tool("tasks_create", title="still serving")["title"] == "still serving"
    assert errlog.read_text().count("refused a message on stdin") == 5


def _piped(env: dict[str, str], messages: list[dict]) -> dict:
    """Every message written at once, stdin closed: the answers by id, and the exit status."""
    done = subprocess.run([sys.executable, str(SERVER)], input=b"".join(map(_line, messages)), capture_output=True,
                          env=env, cwd=str(SERVER.parent), timeout=120)
    answers = {m["id"]: m for m in map(json.loads, done.stdout.decode().splitlines()) if "id" in m}
    return {"answers": answers, "returncode": done.returncode, "stderr": done.stderr.decode()[-2000:]}


def test_requests_still_running_when_stdin_closes_are_answered_before_exit(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "pipe", "version": "0"}}}
    for round_number in range(3):
        title = f"piped {round_number}"
        run = _piped(env, [
            initialize,
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": title}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "tasks_list", "arguments": {}}},
        ])
        assert run["returncode"] == 0, run["stderr"]
        answers = run["answers"]
        assert sorted(answers) == [1, 2, 3, 4], (round_number, answers.keys(), run["stderr"])
        assert answers[3]["result"]["structuredContent"]["title"] == title, answers[3]
        assert "total" in answers[4]["result"]["structuredContent"], answers[4]
    check = _piped(env, [initialize, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                         {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "tasks_list", "arguments": {}}}])
    assert check["answers"][9]["result"]["structuredContent"]["total"] == 3  # each create wrote once, and said so


def test_from_a_regular_file_an_oversize_line_is_answered_on_its_id_too(tmp_path):
    """A file is read on a worker thread, by another reader than a pipe's: the same answers."""
    requests = tmp_path / "requests.jsonl"
    with open(requests, "wb") as out:
        out.write(_line({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "file", "version": "0"}}}))
        out.write(_line({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        out.write(_line({"method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": "f" * (9 * MB)}},
                         "jsonrpc": "2.0", "id": 2}))
        out.write(_line({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "tasks_list", "arguments": {}}}))
    with open(requests, "rb") as stdin:
        done = subprocess.run([sys.executable, str(SERVER)], stdin=stdin, capture_output=True,
                              env=server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path), cwd=str(SERVER.parent), timeout=120)
    answers = {m["id"]: m for m in map(json.loads, done.stdout.decode().splitlines())}
    assert sorted(answers) == [1, 2, 3], done.stderr.decode()[-2000:]
    assert "params.arguments.title alone is 9,437,186 bytes" in answers[2]["error"]["message"], answers[2]
    assert answers[3]["result"]["structuredContent"]["total"] == 0
