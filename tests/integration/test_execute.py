"""tasks_execute against a real HTTP server that speaks Ollama's API, on both backends.
For every outcome: the stored result row, the assignment and the task's status."""
from __future__ import annotations

import time

import pytest

from domain.errors import ExecutionError, WorkflowError
from domain.models import ActorType, TaskType
from infrastructure.ollama_client import OllamaClient
from infrastructure.task_executor import TaskExecutor
from tests.integration.test_repository import make, move
from tests.support.fake_ollama import (
    Drip, DropMidStream, Endless, FailWithStatus, FakeOllama, Hang, Malformed, Succeed, unused_port,
)
from validators.ollama_output import TOKENS_MAX

AI = ActorType.AI


@pytest.fixture
def ollama():
    with FakeOllama(models=["mistral:latest", "llama3:8b"]) as fake:
        yield fake


def executor_for(repo, url: str, timeout: float = 5.0, cap: int = 20_000) -> TaskExecutor:
    return TaskExecutor(repo, OllamaClient(url, timeout), system_prompt="Be brief.", prices={"llama3:8b": (1.0, 2.0)}, response_cap=cap)


def execute(repo, url, task_id, model="mistral", auto_complete=False, **kw):
    ex = executor_for(repo, url, **kw)
    return ex.run(ex.start(task_id, model, "agent", AI), auto_complete=auto_complete)


def test_success_stores_the_answer_tokens_and_timing_and_keeps_the_task_for_review(repo, ollama):
    parent = make(repo, "Quarterly report")
    task = make(repo, "Summarise sales", description="Use the CRM export", parent_task_id=parent["id"], metadata={"region": "EU"})
    ollama.behaviour = Succeed(chunks=("Sales ", "grew."), prompt_eval_count=40, eval_count=7)
    out = execute(repo, ollama.url, task["id"])
    assert (out["response"], out["tokens_input"], out["tokens_output"], out["tokens_total"]) == ("Sales grew.", 40, 7, 47)
    assert out["task_status"] == "in_progress" and out["result_status"] == "success"
    full = repo.get_task(task["id"])
    result = full["results"][0]
    assert (result["status"], result["executor_type"], result["model_name"], result["tokens_total"]) == ("success", "ollama", "mistral", 47)
    assert result["response"] == "Sales grew." and result["duration_ms"] >= 0 and result["cost_usd"] == 0
    assert result["request_timestamp"] <= result["response_timestamp"]
    assert "Summarise sales" in result["request"] and "Quarterly report" in result["request"] and "EU" in result["request"]
    assert full["assignments"][0]["status"] == "completed" and full["assignments"][0]["assignee_type"] == "ollama"
    sent = ollama.chat_bodies[-1]
    assert sent["model"] == "mistral" and sent["stream"] is True and sent["messages"][0] == {"role": "system", "content": "Be brief."}


def test_auto_complete_completes_the_task_and_prices_apply(repo, ollama):
    task = make(repo)
    out = execute(repo, ollama.url, task["id"], model="llama3:8b", auto_complete=True)
    assert out["task_status"] == "completed"
    assert repo.get_task(task["id"])["completed_at"] is not None
    assert out["cost_usd"] == pytest.approx((26 * 1.0 + 4 * 2.0) / 1_000_000)


def test_auto_complete_respects_open_subtasks(repo, ollama):
    task = make(repo)
    make(repo, "child", parent_task_id=task["id"])
    out = execute(repo, ollama.url, task["id"], auto_complete=True)
    assert out["task_status"] == "in_progress" and "subtasks are open" in out["note"]


@pytest.mark.parametrize(
    "behaviour, result_status, fragment",
    [
        (FailWithStatus(500, "llama runner crashed"), "error", "HTTP 500"),
        (DropMidStream(after=2), "partial", "characters"),
        (Malformed(after=1), "partial", "not"),
    ],
)
def test_failures_store_the_result_fail_the_task_and_end_the_assignment(repo, ollama, behaviour, result_status, fragment):
    task = make(repo)
    ollama.behaviour = behaviour
    with pytest.raises(ExecutionError, match="is now failed") as err:
        execute(repo, ollama.url, task["id"])
    assert fragment in str(err.value)
    full = repo.get_task(task["id"])
    assert full["status"] == "failed"
    result = full["results"][0]
    assert result["status"] == result_status and result["error_message"]
    if result_status == "partial":
        assert result["response"] == "Hello" or result["response"].startswith("Hello")
    assert full["assignments"][0]["status"] == "rejected" and "tasks_execute" in full["assignments"][0]["notes"]


def test_unknown_model_lists_the_installed_ones(repo, ollama):
    task = make(repo)
    with pytest.raises(ExecutionError, match="ollama pull gemma") as err:
        execute(repo, ollama.url, task["id"], model="gemma")
    assert "llama3:8b" in str(err.value)
    full = repo.get_task(task["id"])
    assert (full["status"], full["results"][0]["status"]) == ("failed", "error")


def test_connection_refused_names_the_url_and_ollama_serve(repo):
    task = make(repo)
    url = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(ExecutionError, match="ollama serve") as err:
        execute(repo, url, task["id"])
    assert url in str(err.value)
    assert repo.get_task(task["id"])["status"] == "failed"


def test_a_server_that_never_answers_times_out_naming_the_setting(repo, ollama):
    task = make(repo)
    ollama.behaviour = Hang()
    started = time.monotonic()
    with pytest.raises(ExecutionError, match="OLLAMA_TIMEOUT"):
        execute(repo, ollama.url, task["id"], timeout=0.5)
    assert time.monotonic() - started < 10
    full = repo.get_task(task["id"])
    assert (full["status"], full["results"][0]["status"], full["assignments"][0]["status"]) == ("failed", "error", "rejected")


def test_a_failed_task_can_be_executed_again_as_its_retry(repo, ollama):
    task = make(repo)
    ollama.behaviour = FailWithStatus(500, "boom")
    with pytest.raises(ExecutionError):
        execute(repo, ollama.url, task["id"])
    ollama.behaviour = Succeed()
    assert execute(repo, ollama.url, task["id"])["task_status"] == "in_progress"
    changes = [c["content"] for c in repo.get_task(task["id"])["comments"] if c["comment_type"] == "status_change"]
    assert "Status: failed → pending (retry by tasks_execute)" in changes


def test_human_tasks_and_final_tasks_are_refused_before_anything_runs(repo, ollama):
    human = make(repo, type=TaskType.HUMAN_TASK)
    with pytest.raises(WorkflowError, match="human_task"):
        execute(repo, ollama.url, human["id"])
    done = make(repo)
    move(repo, done["id"], "in_progress", "completed")
    with pytest.raises(WorkflowError, match="final"):
        execute(repo, ollama.url, done["id"])
    assert ollama.chat_bodies == []
    assert repo.get_task(human["id"])["assignments"] == []


def test_the_response_returned_is_capped_but_the_stored_one_is_whole(repo, ollama):
    task = make(repo)
    ollama.behaviour = Succeed(chunks=("x" * 300,) * 10)
    out = execute(repo, ollama.url, task["id"], cap=500)
    assert len(out["response"]) == 500 and out["response_truncated"] and out["response_chars"] == 3000
    assert len(repo.get_task(task["id"])["results"][0]["response"]) == 3000


def test_statistics_show_the_run_under_its_model(repo, ollama):
    task = make(repo)
    ollama.behaviour = Succeed(prompt_eval_count=10, eval_count=5)
    execute(repo, ollama.url, task["id"])
    row = next(m for m in repo.statistics()["models"] if m["model_name"] == "mistral")
    assert (row["executor_type"], row["results"], row["tokens_total"]) == ("ollama", 1, 15)
    assert row["avg_duration_ms"] is not None


def test_a_background_run_writes_its_result_when_done(repo, ollama):
    task = make(repo)
    ollama.behaviour = Succeed(delay=0.05)
    ex = executor_for(repo, ollama.url)
    thread = ex.run_in_background(ex.start(task["id"], "mistral", "agent", AI), auto_complete=True)
    assert repo.get_task(task["id"])["assignments"][0]["status"] == "in_progress"
    thread.join(10)
    full = repo.get_task(task["id"])
    assert (full["status"], full["results"][0]["status"]) == ("completed", "success")


# -- bounds, storable values, refusals before the start, secrets (issues 11 and 13) -----------


def bounded_executor(repo, url: str, **client_kw) -> TaskExecutor:
    return TaskExecutor(repo, OllamaClient(url, client_kw.pop("timeout", 5.0), **client_kw), system_prompt=None, prices={}, response_cap=1000)


def run_bounded(repo, url, task_id, model="mistral", **client_kw):
    ex = bounded_executor(repo, url, **client_kw)
    return ex.run(ex.start(task_id, model, "agent", AI), auto_complete=False)


@pytest.mark.parametrize(
    "final, chunks, tokens",
    [
        ({"prompt_eval_count": -5, "eval_count": 10**20}, ("ok",), (None, TOKENS_MAX)),
        ({"prompt_eval_count": 2**40, "eval_count": 2**33}, ("ok",), (TOKENS_MAX, TOKENS_MAX)),
        ({"prompt_eval_count": "12", "eval_count": True, "total_duration": -1}, ("ok",), (None, None)),
        ({}, ("a\ud800b", "\x00", "\ud83d", "\ude00"), (26, 4)),
    ],
    ids=["negative-and-huge", "over-int-unsigned", "not-numbers", "surrogates-and-nul"],
)
def test_odd_ollama_output_is_stored_as_values_the_columns_hold(repo, ollama, final, chunks, tokens):
    task = make(repo)
    ollama.behaviour = Succeed(chunks=chunks, final=final)
    out = run_bounded(repo, ollama.url, task["id"])
    full = repo.get_task(task["id"])
    result = full["results"][0]
    assert (result["status"], full["status"], full["assignments"][0]["status"]) == ("success", "in_progress", "completed")
    assert (result["tokens_input"], result["tokens_output"]) == tokens == (out["tokens_input"], out["tokens_output"])
    assert result["tokens_total"] == sum(t or 0 for t in tokens) if any(t is not None for t in tokens) else result["tokens_total"] is None
    expected = "ok" if chunks == ("ok",) else "a\ufffdb\ufffd\U0001F600"
    assert result["response"] == expected == out["response"]


def test_an_endless_answer_is_cut_at_the_cap_and_stored_as_partial(repo, ollama):
    task = make(repo)
    ollama.behaviour = Endless(total_bytes=400 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(ExecutionError, match="OLLAMA_MAX_RESPONSE_BYTES=100000") as err:
        run_bounded(repo, ollama.url, task["id"], max_response_bytes=100_000)
    assert time.monotonic() - started < 10 and "is now failed" in str(err.value)
    full = repo.get_task(task["id"])
    result = full["results"][0]
    stored = repo.db.read(lambda tx: tx.value("SELECT LENGTH(response) AS n FROM task_results WHERE id = %s", [result["id"]]))
    assert (result["status"], int(stored), full["status"]) == ("partial", 100_000, "failed")
    assert "OLLAMA_MAX_RESPONSE_BYTES" in result["error_message"]


def test_a_dripping_answer_stops_at_the_deadline_and_the_task_fails_naming_the_setting(repo, ollama):
    task = make(repo)
    ollama.behaviour = Drip(interval=0.1)
    started = time.monotonic()
    with pytest.raises(ExecutionError, match="OLLAMA_MAX_SECONDS=1.5"):
        run_bounded(repo, ollama.url, task["id"], max_seconds=1.5)
    assert time.monotonic() - started < 5
    full = repo.get_task(task["id"])
    result = full["results"][0]
    assert (result["status"], full["status"], full["assignments"][0]["status"]) == ("partial", "failed", "rejected")
    assert result["response"].startswith("drip") and "OLLAMA_MAX_SECONDS" in result["error_message"]


def test_a_hanging_ollama_is_bounded_by_the_deadline(repo, ollama):
    task = make(repo)
    ollama.behaviour = Hang()
    started = time.monotonic()
    with pytest.raises(ExecutionError, match="OLLAMA_MAX_SECONDS"):
        run_bounded(repo, ollama.url, task["id"], timeout=60, max_seconds=1)
    assert time.monotonic() - started < 5
    assert repo.get_task(task["id"])["status"] == "failed"


def snapshot(repo, task_id):
    full = repo.get_task(task_id)
    return full["status"], full["updated_at"], full["results"], full["assignments"]


@pytest.mark.parametrize("case", ["down", "model-missing", "tags-hang"])
def test_preflight_refuses_without_touching_the_task(repo, ollama, case):
    task = make(repo)
    url = f"http://127.0.0.1:{unused_port()}" if case == "down" else ollama.url
    ollama.tags_hang = case == "tags-hang"
    before = snapshot(repo, task["id"])
    ex = bounded_executor(repo, url, timeout=1)
    started = time.monotonic()
    with pytest.raises(ExecutionError) as err:
        ex.preflight(task["id"], "gemma" if case == "model-missing" else "mistral")
    assert time.monotonic() - started < 5
    assert err.value.code == "unavailable" and f"Task {task['id']} was not changed" in str(err.value)
    fix = {"down": "ollama serve", "model-missing": "ollama pull gemma", "tags-hang": "did not answer within 1 s"}[case]
    assert fix in str(err.value)
    assert snapshot(repo, task["id"]) == before and ollama.chat_bodies == []


def test_a_password_in_ollama_host_is_stored_and_raised_masked(repo, ollama):
    secret = "s3cr3t-Pa55word"
    task = make(repo)
    ollama.behaviour = FailWithStatus(500, "boom")
    with pytest.raises(ExecutionError) as err:
        run_bounded(repo, f"http://bob:{secret}@127.0.0.1:{ollama.port}", task["id"])
    assert secret not in str(err.value) and "bob:***@" in str(err.value)
    full = repo.get_task(task["id"])
    assert secret not in repr(full) and "bob:***@" in full["results"][0]["error_message"]
