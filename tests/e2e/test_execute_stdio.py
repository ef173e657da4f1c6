"""tasks_execute and doctor from outside: the server as a subprocess, Ollama as a real
HTTP server on loopback."""
from __future__ import annotations

import subprocess
import sys
import time

import anyio
import pytest

from tests.conftest import server_env
from tests.support.fake_ollama import Drip, FailWithStatus, FakeOllama, Succeed, unused_port
from tests.support.mcp_http import http_server, http_session
from tests.support.mcp_stdio import SERVER, stdio_session

pytestmark = pytest.mark.anyio


async def test_execute_sends_progress_notifications_before_the_result(backend_url, tmp_path):
    with FakeOllama(behaviour=Succeed(chunks=("word ",) * 12, delay=0.1, prompt_eval_count=30, eval_count=12)) as ollama:
        env = server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url)
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        async with stdio_session(env) as s:
            task = (await s.call_tool("tasks_create", {"title": "Write a haiku"})).structured_content
            result = await s.call_tool("tasks_execute", {"id": task["id"], "model": "mistral"}, progress_callback=on_progress)
            assert not result.is_error, result.content
            out = result.structured_content
            stats = (await s.call_tool("tasks_statistics", {})).structured_content
    assert len(progress) >= 2, progress
    assert [v for v, _ in progress] == sorted(v for v, _ in progress)
    assert out["response"] == "word " * 12 and out["tokens_total"] == 42 and out["task_status"] == "in_progress"
    row = next(m for m in stats["models"] if m["model_name"] == "mistral")
    assert row["tokens_total"] == 42 and row["avg_duration_ms"] >= 1000


async def test_execute_without_waiting_returns_at_once_and_the_result_lands_later(backend_url, tmp_path):
    with FakeOllama(behaviour=Succeed(chunks=("a", "b", "c"), delay=0.3)) as ollama:
        async with stdio_session(server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url)) as s:
            task = (await s.call_tool("tasks_create", {"title": "Long job"})).structured_content
            started = time.monotonic()
            out = (await s.call_tool("tasks_execute", {"id": task["id"], "wait": False, "auto_complete": True})).structured_content
            assert out["state"] == "started" and time.monotonic() - started < 0.9
            running = (await s.call_tool("tasks_get", {"id": task["id"]})).structured_content
            assert running["assignments"][0]["status"] == "in_progress" and running["results"] == []
            for _ in range(100):
                done = (await s.call_tool("tasks_get", {"id": task["id"]})).structured_content
                if done["results"]:
                    break
                await anyio.sleep(0.1)
    assert done["status"] == "completed" and done["results"][0]["response"] == "abc"


async def test_execute_refusals_name_the_reason(tmp_path):
    # Ollama is down: the task's own refusals still come first, and name the task.
    env = server_env(f"sqlite://{tmp_path / 't.db'}", tmp_path, OLLAMA_HOST=f"http://127.0.0.1:{unused_port()}")
    async with stdio_session(env) as s:
        human = (await s.call_tool("tasks_create", {"title": "Phone call", "type": "human_task"})).structured_content
        ai = (await s.call_tool("tasks_create", {"title": "Draft"})).structured_content
        refused = await s.call_tool("tasks_execute", {"id": human["id"]})
        assert refused.is_error and "human_task" in refused.content[0].text
        missing = await s.call_tool("tasks_execute", {"id": 999})
        assert missing.is_error and "Task 999 does not exist" in missing.content[0].text
        other = await s.call_tool("tasks_execute", {"id": ai["id"], "executor_type": "claude"})
        assert other.is_error and "executor_type" in other.content[0].text
        tools = {t.name: t for t in (await s.list_tools()).tools}
    offered = tools["tasks_execute"].input_schema["properties"]["executor_type"]
    assert offered.get("enum", [offered.get("const")]) == ["ollama"], offered  # only what runs here


async def _snapshot(s, task_id: int) -> tuple:
    full = (await s.call_tool("tasks_get", {"id": task_id})).structured_content
    return full["status"], full["updated_at"], full["results"], full["assignments"]


@pytest.mark.parametrize("case", ["ollama-down", "model-missing"])
async def test_execute_that_cannot_start_changes_nothing(backend_url, tmp_path, case):
    with FakeOllama(models=["mistral:latest"]) as ollama:
        host = f"http://127.0.0.1:{unused_port()}" if case == "ollama-down" else ollama.url
        model = "gemma" if case == "model-missing" else "mistral"
        async with stdio_session(server_env(backend_url, tmp_path, OLLAMA_HOST=host)) as s:
            pending = (await s.call_tool("tasks_create", {"title": "Draft"})).structured_content
            failed = (await s.call_tool("tasks_create", {"title": "Retry me"})).structured_content
            await s.call_tool("tasks_status", {"id": failed["id"], "status": "in_progress"})
            await s.call_tool("tasks_status", {"id": failed["id"], "status": "failed"})
            for task in (pending, failed):
                before = await _snapshot(s, task["id"])
                refused = await s.call_tool("tasks_execute", {"id": task["id"], "model": model})
                text = refused.content[0].text
                assert refused.is_error, text
                assert ("ollama serve" if case == "ollama-down" else "ollama pull gemma") in text
                assert "was not changed" in text and "Stored as result" not in text
                assert await _snapshot(s, task["id"]) == before
        assert ollama.chat_bodies == []


async def test_a_password_in_ollama_host_is_shown_nowhere(backend_url, tmp_path):
    secret = "s3cr3t-Pa55word"
    errlog = (tmp_path / "stderr.txt").open("w+")
    texts: list[str] = []
    with FakeOllama(behaviour=FailWithStatus(500, "boom")) as ollama:
        for host in (f"http://carol:{secret}@127.0.0.1:{ollama.port}", f"http://carol:{secret}@127.0.0.1:{unused_port()}"):
            env = server_env(backend_url, tmp_path, OLLAMA_HOST=host, LOG_LEVEL="DEBUG")
            async with stdio_session(env, errlog=errlog) as s:
                task = (await s.call_tool("tasks_create", {"title": "Draft"})).structured_content
                for args in ({"id": task["id"]}, {"id": task["id"], "wait": False}):
                    result = await s.call_tool("tasks_execute", args)
                    texts.append(result.content[0].text)
                await anyio.sleep(0.5)  # the background run stores its result
                texts.append(str((await s.call_tool("tasks_get", {"id": task["id"]})).structured_content))
            texts.append(_doctor(env).stdout)
    errlog.seek(0)
    stderr = errlog.read()
    assert all(secret not in text for text in texts), texts
    assert secret not in stderr
    assert "carol:***@" in texts[0] and "HTTP 500" in texts[0] and "carol:***@" in texts[2]
    assert secret not in _database_dump(backend_url)


def _database_dump(url: str) -> str:
    """Every row of every table, as text."""
    from config import parse_database_url
    from infrastructure.database import Database

    db = Database(parse_database_url(url), "DATABASE_URL")
    try:
        tables = ("tasks", "task_assignments", "task_results", "task_comments")
        return repr(db.read(lambda tx: [tx.rows(f"SELECT * FROM {t}") for t in tables]))
    finally:
        db.close()


async def test_other_sessions_are_answered_while_a_run_drips(backend_url, tmp_path):
    with FakeOllama(behaviour=Drip(interval=0.2)) as ollama:
        env = server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url, OLLAMA_MAX_SECONDS="5")
        with http_server(env) as server:
            async with http_session(server.url, None) as runner, http_session(server.url, None) as other:
                task = (await runner.call_tool("tasks_create", {"title": "Endless"})).structured_content
                outcome: dict = {}

                async def execute() -> None:
                    started = time.monotonic()
                    outcome["result"] = await runner.call_tool("tasks_execute", {"id": task["id"]})
                    outcome["seconds"] = time.monotonic() - started

                latencies = []
                async with anyio.create_task_group() as tg:
                    tg.start_soon(execute)
                    await anyio.sleep(1)
                    for _ in range(3):
                        started = time.monotonic()
                        listed = await other.call_tool("tasks_list", {})
                        latencies.append(time.monotonic() - started)
                        assert not listed.is_error and listed.structured_content["total"] == 1
                        await anyio.sleep(0.5)
    assert max(latencies) < 2, latencies
    result = outcome["result"]
    assert result.is_error and "OLLAMA_MAX_SECONDS=5" in result.content[0].text and outcome["seconds"] < 12


async def test_a_cut_answer_is_named_to_the_caller_and_a_bound_above_the_setting_refused(backend_url, tmp_path):
    # Issue 29: Ollama says "length" at the bound; the caller learns why and what to do.
    with FakeOllama(behaviour=Succeed(chunks=("Once ", "upon"), eval_count=8, done_reason="length")) as ollama:
        env = server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url, OLLAMA_MAX_TOKENS="8")
        async with stdio_session(env) as s:
            task = (await s.call_tool("tasks_create", {"title": "Write a 2,000-word story"})).structured_content
            above = await s.call_tool("tasks_execute", {"id": task["id"], "max_tokens": 9})
            untouched = (await s.call_tool("tasks_get", {"id": task["id"]})).structured_content
            cut = await s.call_tool("tasks_execute", {"id": task["id"], "max_tokens": 4, "auto_complete": True})
            stored = (await s.call_tool("tasks_get", {"id": task["id"]})).structured_content
    assert above.is_error and "OLLAMA_MAX_TOKENS=8" in above.content[0].text and "at most 8" in above.content[0].text
    assert untouched["status"] == "pending" and untouched["results"] == []
    text = cut.content[0].text
    assert cut.is_error and text.startswith("[invalid_argument] The answer was cut") and "'length'" in text
    assert "Raise the bound" in text and "split the task" in text and "partial" in text
    assert [body["options"] for body in ollama.chat_bodies] == [{"num_predict": 4}]
    assert stored["status"] == "failed" and stored["results"][0]["status"] == "partial"
    assert stored["results"][0]["response"] == "Once upon" and "'length'" in stored["results"][0]["error_message"]


def _doctor(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), "doctor", *options], env=env, capture_output=True, text=True, timeout=60)


def test_doctor_passes_without_ollama_with_a_warning_and_strict_makes_the_warning_fail(tmp_path):
    db = f"sqlite://{tmp_path / 't.db'}"
    with FakeOllama(models=["mistral:latest"]) as ollama:
        up = _doctor(server_env(db, tmp_path, OLLAMA_HOST=ollama.url))
        up_strict = _doctor(server_env(db, tmp_path, OLLAMA_HOST=ollama.url), "--strict")
        missing = _doctor(server_env(db, tmp_path, OLLAMA_HOST=ollama.url, OLLAMA_MODEL="gemma"))
    assert up.returncode == 0 and up_strict.returncode == 0, up.stdout + up.stderr
    assert "OLLAMA_MAX_TOKENS=4096 tokens per answer" in up.stdout
    assert [line.split()[0] for line in up.stdout.splitlines()] == ["OK"] * 5  # database, schema, ollama, contracts, bounds
    down_env = server_env(db, tmp_path, OLLAMA_HOST=f"http://127.0.0.1:{unused_port()}")
    down, down_strict = _doctor(down_env), _doctor(down_env, "--strict")
    assert down.returncode == 0, down.stdout + down.stderr  # Ollama is optional: a health check still passes
    assert [line.split()[0] for line in down.stdout.splitlines()] == ["OK", "OK", "OK", "OK", "WARN"]
    warning = down.stdout.splitlines()[-1]
    assert "ollama serve" in warning and "optional" in warning
    assert down_strict.returncode == 1 and down_strict.stdout == down.stdout
    assert missing.returncode == 0 and "WARN" in missing.stdout and "ollama pull gemma" in missing.stdout


def test_doctor_names_an_unreachable_database(tmp_path):
    with FakeOllama() as ollama:
        out = _doctor(server_env(f"mysql://root@127.0.0.1:{unused_port()}/x", tmp_path, OLLAMA_HOST=ollama.url))
    assert out.returncode == 1 and "FAIL database" in out.stdout and "DATABASE_URL" in out.stdout
