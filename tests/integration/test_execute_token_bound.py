"""tasks_execute's token bound and how an answer ended (issue 29), against the fake Ollama
on both backends: what is sent as options.num_predict, a max_tokens above OLLAMA_MAX_TOKENS
refused before anything is written, an answer Ollama cut ("length") stored as partial and
never auto-completed, any other done_reason but "stop" recorded, and a missing-model
refusal that names a few close models rather than every one."""
from __future__ import annotations

import pytest

from domain.errors import ExecutionError, InvalidInput, LimitExceeded
from domain.models import ActorType
from infrastructure.ollama_client import OllamaClient
from infrastructure.task_executor import DEFAULT_MAX_TOKENS, TaskExecutor
from tests.integration.test_repository import make
from tests.support.fake_ollama import FakeOllama, Succeed

AI = ActorType.AI


@pytest.fixture
def ollama():
    with FakeOllama(models=["mistral:latest"]) as fake:
        yield fake


def executor(repo, url: str, **kw) -> TaskExecutor:
    return TaskExecutor(repo, OllamaClient(url, 5.0), system_prompt=None, prices={}, response_cap=1000, **kw)


def snapshot(repo, task_id):
    full = repo.get_task(task_id)
    return full["status"], full["updated_at"], full["results"], full["assignments"]


def test_the_setting_is_sent_as_num_predict_and_a_call_may_lower_it(repo, ollama):
    ex = executor(repo, ollama.url, max_tokens=64)
    ex.run(ex.start(make(repo)["id"], "mistral", "agent", AI), auto_complete=False)
    ex.run(ex.start(make(repo)["id"], "mistral", "agent", AI, max_tokens=16), auto_complete=False)
    assert [body["options"] for body in ollama.chat_bodies] == [{"num_predict": 64}, {"num_predict": 16}]


def test_without_a_setting_the_documented_default_bounds_every_answer(repo, ollama):
    ex = executor(repo, ollama.url)
    ex.run(ex.start(make(repo)["id"], "mistral", "agent", AI), auto_complete=False)
    assert ollama.chat_bodies[-1]["options"] == {"num_predict": DEFAULT_MAX_TOKENS} == {"num_predict": 4096}


def test_a_max_tokens_above_the_setting_is_refused_before_anything_is_written(repo, ollama):
    task = make(repo)
    before = snapshot(repo, task["id"])
    ex = executor(repo, ollama.url, max_tokens=100)
    with pytest.raises(InvalidInput, match=r"max_tokens=101 is above this server's bound OLLAMA_MAX_TOKENS=100") as err:
        ex.preflight(task["id"], "mistral", 101)
    assert "at most 100" in str(err.value) and err.value.code == "invalid_argument"
    with pytest.raises(InvalidInput, match="OLLAMA_MAX_TOKENS=100"):
        ex.start(task["id"], "mistral", "agent", AI, max_tokens=101)
    assert snapshot(repo, task["id"]) == before and ollama.requests == []


@pytest.mark.parametrize("auto_complete", [False, True])
def test_an_answer_cut_at_the_bound_is_partial_and_never_completes_the_task(repo, ollama, auto_complete):
    task = make(repo)
    ollama.behaviour = Succeed(chunks=("Once ", "upon ", "a "), eval_count=16, done_reason="length")
    ex = executor(repo, ollama.url, max_tokens=16)
    with pytest.raises(LimitExceeded) as err:
        ex.run(ex.start(task["id"], "mistral", "agent", AI), auto_complete=auto_complete)
    message = str(err.value)
    assert "cut" in message and "'length'" in message and "16 tokens" in message and "num_predict=16" in message
    assert "Raise the bound" in message and "split the task" in message and f"parent_task_id={task['id']}" in message
    assert "not completed" in message and "is now failed" in message
    full = repo.get_task(task["id"])
    result = full["results"][0]
    assert (result["status"], full["status"], full["completed_at"]) == ("partial", "failed", None)
    assert result["response"] == "Once upon a " and result["tokens_output"] == 16
    assert "'length'" in result["error_message"] and "Raise the bound" in result["error_message"]
    assert full["assignments"][0]["status"] == "rejected"


@pytest.mark.parametrize("reason", ["limit", "max_tokens", "model_context_window_exceeded", "LENGTH"])
def test_a_context_or_token_limit_named_by_a_proxy_is_a_cut_too(repo, ollama, reason):
    task = make(repo)
    ollama.behaviour = Succeed(done_reason=reason)
    ex = executor(repo, ollama.url)
    with pytest.raises(LimitExceeded, match="The answer was cut"):
        ex.run(ex.start(task["id"], "mistral", "agent", AI), auto_complete=True)
    assert repo.get_task(task["id"])["results"][0]["status"] == "partial"


@pytest.mark.parametrize("reason", ["content_filter", "unload"])
def test_any_other_done_reason_is_recorded_and_the_task_waits_for_review(repo, ollama, reason):
    task = make(repo)
    ollama.behaviour = Succeed(done_reason=reason)
    ex = executor(repo, ollama.url)
    out = ex.run(ex.start(task["id"], "mistral", "agent", AI), auto_complete=True)
    full = repo.get_task(task["id"])
    result = full["results"][0]
    assert (result["status"], full["status"], out["task_status"]) == ("success", "in_progress", "in_progress")
    assert f"done_reason {reason!r}" in result["error_message"] and "waits for review" in out["note"]


def test_a_stop_leaves_no_message_and_auto_complete_still_completes(repo, ollama):
    task = make(repo)
    ex = executor(repo, ollama.url)
    out = ex.run(ex.start(task["id"], "mistral", "agent", AI), auto_complete=True)
    full = repo.get_task(task["id"])
    assert (out["task_status"], full["results"][0]["status"], full["results"][0]["error_message"]) == ("completed", "success", None)


def test_a_missing_model_names_the_closest_few_of_many_installed(repo):
    many = [f"cloud/model-{n:02d}" for n in range(36)] + ["mistral-small:latest", "mistral:7b", "llama3:8b"]
    task = make(repo)
    with FakeOllama(models=many) as fake:
        ex = executor(repo, fake.url)
        with pytest.raises(ExecutionError) as err:
            ex.preflight(task["id"], "mistral")
        checked = OllamaClient(fake.url, 5.0).check("mistral")
    for message in (str(err.value), checked[1]):
        assert "39 models installed; closest: mistral" in message
        listed = message.split("closest: ", 1)[1].split(")", 1)[0].split(", ")
        assert len(listed) == 5 and {"mistral-small:latest", "mistral:7b"} <= set(listed)
        assert "cloud/model-35" not in message


def test_a_cut_answer_in_the_background_is_stored_as_partial_too(repo, ollama, caplog):
    task = make(repo)
    ollama.behaviour = Succeed(done_reason="length")
    ex = executor(repo, ollama.url)
    with caplog.at_level("INFO", logger="infrastructure.task_executor"):
        thread = ex.run_in_background(ex.start(task["id"], "mistral", "agent", AI), auto_complete=True)
        thread.join(timeout=30)
    assert not thread.is_alive()
    full = repo.get_task(task["id"])
    assert (full["status"], full["results"][0]["status"]) == ("failed", "partial")
    assert "The answer was cut" in caplog.text and "Traceback" not in caplog.text
