"""tasks_execute and doctor from outside: the server as a subprocess, Ollama as a real
HTTP server on loopback."""
from __future__ import annotations

import subprocess
import sys
import time

import anyio
import pytest

from tests.conftest import server_env
from tests.support.fake_ollama import FakeOllama, Succeed, unused_port
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
    env = server_env(f"sqlite://{tmp_path / 't.db'}", tmp_path, OLLAMA_HOST=f"http://127.0.0.1:{unused_port()}")
    async with stdio_session(env) as s:
        human = (await s.call_tool("tasks_create", {"title": "Phone call", "type": "human_task"})).structured_content
        ai = (await s.call_tool("tasks_create", {"title": "Draft"})).structured_content
        refused = await s.call_tool("tasks_execute", {"id": human["id"]})
        assert refused.is_error and "human_task" in refused.content[0].text
        other = await s.call_tool("tasks_execute", {"id": ai["id"], "executor_type": "claude"})
        assert other.is_error and "supported: ollama" in other.content[0].text
        down = await s.call_tool("tasks_execute", {"id": ai["id"]})
        assert down.is_error and "ollama serve" in down.content[0].text and "is now failed" in down.content[0].text


def _doctor(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), "doctor"], env=env, capture_output=True, text=True, timeout=60)


def test_doctor_with_ollama_up_passes_and_with_ollama_down_fails_with_the_fix(tmp_path):
    db = f"sqlite://{tmp_path / 't.db'}"
    with FakeOllama(models=["mistral:latest"]) as ollama:
        up = _doctor(server_env(db, tmp_path, OLLAMA_HOST=ollama.url))
        missing = _doctor(server_env(db, tmp_path, OLLAMA_HOST=ollama.url, OLLAMA_MODEL="gemma"))
    assert up.returncode == 0, up.stdout + up.stderr
    assert [line.split()[0] for line in up.stdout.splitlines()] == ["OK"] * 5  # database, schema, ollama, contracts, bounds
    down = _doctor(server_env(db, tmp_path, OLLAMA_HOST=f"http://127.0.0.1:{unused_port()}"))
    assert down.returncode == 1
    failing = [line for line in down.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and "ollama serve" in failing[0]
    assert missing.returncode == 1 and "ollama pull gemma" in missing.stdout


def test_doctor_names_an_unreachable_database(tmp_path):
    with FakeOllama() as ollama:
        out = _doctor(server_env(f"mysql://root@127.0.0.1:{unused_port()}/x", tmp_path, OLLAMA_HOST=ollama.url))
    assert out.returncode == 1 and "FAIL database" in out.stdout and "DATABASE_URL" in out.stdout
