"""The MCP Tasks extension (io.modelcontextprotocol/tasks) over SQL, by raw JSON-RPC on
2026-07-28 streamable HTTP: the server as a subprocess (one, or two on one MariaDB), a slow
fake Ollama as the model, and kill -9 for a process that dies mid-run.
"""
from __future__ import annotations

import os
import signal
import time

from mcp_types.jsonrpc import HEADER_MISMATCH

from tests.conftest import server_env
from tests.support.fake_ollama import Drip, FakeOllama, Succeed
from tests.support.mcp_http import http_server
from tests.support.raw_http import TASKS, listen, rpc

ALICE = "alice-key-5f1c0e9a7b3d42e8"
BOB = "bob-key-0c9e7a5b3d1f2468"
KEYS = f"alice:{ALICE},bob:{BOB}"
TASK_FIELDS = {"taskId", "status", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"}


def result(answer: dict) -> dict:
    assert "result" in answer, answer
    return answer["result"]


def error(answer: dict) -> dict:
    assert "error" in answer, answer
    return answer["error"]


def call(url: str, name: str, key: str | None = None, tasks: bool = True, **arguments) -> dict:
    return result(rpc(url, "tools/call", {"name": name, "arguments": arguments}, key=key, tasks=tasks))


def wait_for(url: str, task_id: str, key: str | None = None, until=("completed", "failed", "cancelled"), seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        task = result(rpc(url, "tasks/get", {"taskId": task_id}, key=key))
        if task["status"] in until or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


def started(created: dict, task_number: int) -> str:
    """Check a CreateTaskResult; its taskId."""
    assert created["resultType"] == "task" and created["status"] == "working", created
    assert TASK_FIELDS <= created.keys()
    assert isinstance(created["ttlMs"], int) and isinstance(created["pollIntervalMs"], int)
    assert len(created["taskId"]) >= 16 and created["taskId"] != str(task_number)
    assert created["createdAt"].endswith("Z") and created["lastUpdatedAt"].endswith("Z")
    return created["taskId"]


def test_long_tools_become_tasks_that_only_their_principal_reads(backend_url, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "ok.py").write_text("def f():\n    return 1\n")
    with FakeOllama(behaviour=Succeed(chunks=("slow ",) * 8, delay=0.15)) as ollama:
        env = server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url, MCP_API_KEYS=KEYS, QUALITY_ALLOWED_PATHS=str(project))
        with http_server(env) as server:
            url = server.url
            discovered = result(rpc(url, "server/discover", {}, key=ALICE))
            assert TASKS in discovered["capabilities"]["extensions"]

            work = call(url, "tasks_create", key=ALICE, title="Write a haiku")["structuredContent"]
            task_id = started(call(url, "tasks_execute", key=ALICE, id=work["id"]), work["id"])
            # Durable before the answer: the very next tasks/get finds it, still working.
            assert result(rpc(url, "tasks/get", {"taskId": task_id}, key=ALICE))["status"] == "working"
            done = wait_for(url, task_id, ALICE)
            assert done["status"] == "completed" and done["resultType"] == "complete", done
            assert done["result"]["isError"] is False and done["result"]["structuredContent"]["response"] == "slow " * 8

            # Another principal, a client without the extension, an unknown id, a wrong Mcp-Name.
            assert error(rpc(url, "tasks/get", {"taskId": task_id}, key=BOB))["code"] == -32602
            assert error(rpc(url, "tasks/cancel", {"taskId": task_id}, key=BOB))["code"] == -32602
            missing = error(rpc(url, "tasks/get", {"taskId": task_id}, key=ALICE, tasks=False))
            assert missing["code"] == -32021 and TASKS in missing["data"]["requiredCapabilities"]["extensions"]
            assert error(rpc(url, "tasks/get", {"taskId": "x" * 32}, key=ALICE))["code"] == -32602
            assert error(rpc(url, "tasks/get", {"taskId": task_id}, key=ALICE, name="other"))["code"] == HEADER_MISMATCH
            assert result(rpc(url, "tasks/update", {"taskId": task_id, "inputResponses": {}}, key=ALICE)) is not None

            # A refusal is a completed task whose result has isError; quality_check is a task too.
            refused = wait_for(url, started(call(url, "tasks_execute", key=ALICE, id=987654), 987654), ALICE)
            assert refused["status"] == "completed" and refused["result"]["isError"] is True
            assert "987654" in refused["result"]["content"][0]["text"]
            checked = wait_for(url, started(call(url, "quality_check", key=ALICE, path=str(project)), 0), ALICE)
            assert checked["status"] == "completed" and checked["result"]["isError"] is False

            # Without the extension declared: today's answer, a CallToolResult.
            again = call(url, "tasks_create", key=ALICE, title="Another haiku")["structuredContent"]
            plain = call(url, "tasks_execute", key=ALICE, tasks=False, id=again["id"])
            assert plain["resultType"] == "complete" and plain["structuredContent"]["response"] == "slow " * 8


def test_a_record_past_its_ttl_is_gone_and_pruned(backend_url, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "ok.py").write_text("x = 1\n")
    env = server_env(backend_url, tmp_path, QUALITY_ALLOWED_PATHS=str(project), MCP_TASK_TTL_SECONDS="2")
    with http_server(env) as server:
        created = call(server.url, "quality_check", path=str(project))
        assert created["ttlMs"] == 2000
        task_id = started(created, 0)
        assert wait_for(server.url, task_id)["status"] == "completed"
        time.sleep(3)
        assert error(rpc(server.url, "tasks/get", {"taskId": task_id}))["code"] == -32602
    assert _records(backend_url, task_id) == 1  # expired, not yet swept
    with http_server(env) as server:  # a new instance sweeps on its first tasks call
        assert error(rpc(server.url, "tasks/get", {"taskId": task_id}))["code"] == -32602
    assert _records(backend_url, task_id) == 0


def test_two_instances_share_get_and_cancel_and_report_a_killed_run(mariadb_url, tmp_path):
    from tests.conftest import empty_mariadb

    empty_mariadb(mariadb_url)
    with FakeOllama(behaviour=Drip(interval=0.2)) as ollama:
        env = server_env(mariadb_url, tmp_path, OLLAMA_HOST=ollama.url, MCP_API_KEYS=KEYS, LEASE_MINUTES="0.05")
        with http_server(env) as a, http_server(env) as b:
            work = call(a.url, "tasks_create", key=ALICE, title="Endless essay")["structuredContent"]
            task_id = started(call(a.url, "tasks_execute", key=ALICE, id=work["id"]), work["id"])
            time.sleep(1)
            assert result(rpc(b.url, "tasks/get", {"taskId": task_id}, key=ALICE))["status"] == "working"
            assert ollama.bytes_sent > 0
            # Cancelled from the other instance: Ollama's connection closes within 5 s.
            asked = time.monotonic()
            result(rpc(b.url, "tasks/cancel", {"taskId": task_id}, key=ALICE))
            assert _quiet_within(ollama, 5.0, asked), "Ollama still streamed 5 s after tasks/cancel"
            assert wait_for(a.url, task_id, ALICE, seconds=10)["status"] == "cancelled"
            assert result(rpc(b.url, "tasks/get", {"taskId": task_id}, key=ALICE))["status"] == "cancelled"
            deadline = time.monotonic() + 10
            while True:  # the run stores its partial answer, then the history notes the cancel
                after = call(b.url, "tasks_get", key=ALICE, id=work["id"])["structuredContent"]
                noted = [c for c in after["comments"] if "cancelled through tasks/cancel" in c["content"]]
                if noted or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert after["status"] != "in_progress" and noted and noted[0]["author"] == "alice", after["comments"]
            assert any("cancelled" in (r.get("error_message") or "") for r in after["results"]), after["results"]

            # kill -9 of the instance running a task: the other reports it failed once its lease ran out.
            second = call(a.url, "tasks_create", key=ALICE, title="Doomed essay")["structuredContent"]
            doomed = started(call(a.url, "tasks_execute", key=ALICE, id=second["id"]), second["id"])
            time.sleep(1)
            os.kill(a.process.pid, signal.SIGKILL)
            a.process.wait(10)
            report = wait_for(b.url, doomed, ALICE, seconds=30)
            assert report["status"] == "failed" and report["error"]["code"] == -32603, report
            assert "stopped before it finished" in report["error"]["message"]


def test_a_restarted_sqlite_process_reports_the_run_its_predecessor_left(tmp_path):
    database = f"sqlite://{tmp_path / 'tasks.db'}"
    with FakeOllama(behaviour=Drip(interval=0.2)) as ollama:
        env = server_env(database, tmp_path, OLLAMA_HOST=ollama.url, LEASE_MINUTES="0.05")
        with http_server(env) as first:
            work = call(first.url, "tasks_create", title="Left behind")["structuredContent"]
            task_id = started(call(first.url, "tasks_execute", id=work["id"]), work["id"])
            time.sleep(1)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        with http_server(env) as second:
            report = wait_for(second.url, task_id, seconds=30)
    assert report["status"] == "failed" and "stopped before it finished" in report["statusMessage"], report


def _quiet_within(ollama: FakeOllama, seconds: float, since: float) -> bool:
    """True once Ollama has sent nothing for a second (the client left), within `seconds` of `since`."""
    last, changed = ollama.bytes_sent, time.monotonic()
    while time.monotonic() - since < seconds + 1.0:
        time.sleep(0.1)
        now = ollama.bytes_sent
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed >= 1.0:
            return changed - since <= seconds
    return False


def _records(database_url: str, task_id: str) -> int:
    from config import parse_database_url
    from infrastructure.database import Database

    db = Database(parse_database_url(database_url), "DATABASE_URL")
    try:
        return int(db.read(lambda tx: tx.value("SELECT COUNT(*) AS n FROM mcp_task_runs WHERE task_key = %s", [task_id])))
    finally:
        db.close()


def test_a_listen_stream_naming_a_task_hears_it_on_another_instance(backend_url, tmp_path):
    with FakeOllama(behaviour=Succeed(chunks=("slow ",) * 10, delay=0.2)) as ollama:
        env = server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url, MCP_API_KEYS=KEYS)
        with http_server(env) as a, http_server(env) as b:
            work = call(a.url, "tasks_create", key=ALICE, title="Heard elsewhere")["structuredContent"]
            task_id = started(call(a.url, "tasks_execute", key=ALICE, id=work["id"]), work["id"])
            refused = listen(b.url, {"taskIds": [task_id]}, key=ALICE, tasks=False, until=lambda m: True)
            assert refused[0]["error"]["code"] == -32021
            heard = listen(
                b.url, {"taskIds": [task_id, "y" * 32]}, key=ALICE, seconds=60,
                until=lambda m: m.get("method") == "notifications/tasks" and m["params"]["status"] != "working",
            )
            bob = listen(b.url, {"taskIds": [task_id]}, key=BOB, until=lambda m: True, seconds=10)
    ack = heard[0]
    assert ack["method"] == "notifications/subscriptions/acknowledged", heard
    assert ack["params"]["notifications"]["taskIds"] == [task_id]  # the unknown id is left out
    tasks = [m["params"] for m in heard if m.get("method") == "notifications/tasks"]
    assert tasks[0]["taskId"] == task_id and tasks[-1]["status"] == "completed", tasks
    assert tasks[-1]["result"]["structuredContent"]["response"] == "slow " * 10
    assert bob[0]["params"]["notifications"].get("taskIds") == []  # not bob's to follow


def test_a_server_that_stops_reports_its_unfinished_runs_failed_at_once(tmp_path):
    """A graceful stop (SIGTERM) does not leave the run to its lease (30 minutes here)."""
    database = f"sqlite://{tmp_path / 'tasks.db'}"
    with FakeOllama(behaviour=Drip(interval=0.2)) as ollama:
        env = server_env(database, tmp_path, OLLAMA_HOST=ollama.url)
        with http_server(env) as first:
            work = call(first.url, "tasks_create", title="Cut short")["structuredContent"]
            task_id = started(call(first.url, "tasks_execute", id=work["id"]), work["id"])
            time.sleep(1)
        with http_server(env) as second:
            report = result(rpc(second.url, "tasks/get", {"taskId": task_id}))
    assert report["status"] == "failed" and "server stopped" in report["error"]["message"], report
