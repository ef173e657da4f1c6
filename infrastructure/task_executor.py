"""tasks_execute: run a task on a local Ollama model and record what it cost.

preflight() asks Ollama for its models before anything is written: an Ollama that is not
running, or a model that is not installed, is a refusal that leaves the task untouched.
start() takes the task in one transaction (assignment, in_progress, a lease held by the
model). run() streams the answer, renews the lease while text arrives, and stores the
result, the assignment's end and the task's new status in one transaction. A process that
dies mid-run stores nothing; its lease runs out and the next claim returns the task to
pending with the attempt counted (task_repository.reap_expired).

What reaches the repository is made storable first (validators.ollama_output): counts
within their INT UNSIGNED columns, text without NUL or lone surrogates and cut to its
column, every message scrubbed of secrets (an OLLAMA_HOST password). The run itself is
bounded by the client (OLLAMA_TIMEOUT, OLLAMA_MAX_SECONDS, OLLAMA_MAX_RESPONSE_BYTES) and in
tokens by Ollama itself: OLLAMA_MAX_TOKENS, or a call's lower max_tokens, is sent as
options.num_predict.

How the answer ended is read from the final record's done_reason. "length" (the token
bound or the context window stopped it) stores the result as partial with the reason in
error_message, the task fails (never auto-completed on half an answer), and the caller is
told to raise the bound or split the task. Any other reason but "stop" is stored in
error_message beside a success, and the task waits for review even with auto_complete.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from domain.errors import ExecutionError, LimitExceeded, TaskSystemError
from domain.models import ActorType, ResultStatus
from domain.secrets import scrub
from infrastructure.ollama_client import DEFAULT_MAX_RESPONSE_BYTES, OllamaClient, installed_phrase, model_installed
from infrastructure.ollama_errors import OllamaError
from infrastructure.task_repository import TaskRepository
from validators import ollama_output as storable
from validators.execution_prompt import build_messages, cost_usd, prompt_text

log = logging.getLogger(__name__)

REQUEST_MAX_BYTES = storable.TEXT_MAX_BYTES  # task_results.request and error_message are TEXT
RESPONSE_MAX_BYTES = DEFAULT_MAX_RESPONSE_BYTES  # stays under MariaDB's default 16 MiB max_allowed_packet
# OLLAMA_MAX_TOKENS' default: about 3,000 English words, a few minutes on a small local model;
# Ollama's own default (no bound) lets one request run until the context is full.
DEFAULT_MAX_TOKENS = 4096


@dataclass
class Run:
    task_id: int
    model: str
    assignment_id: int
    holder: str
    started_at: str
    messages: list[dict]
    task: dict[str, Any]
    num_predict: int = DEFAULT_MAX_TOKENS  # the token bound sent to Ollama


fit_bytes = storable.fit_bytes  # clean (no NUL, no lone surrogate) and cut to a column's bytes


class TaskExecutor:
    def __init__(
        self, repository: TaskRepository, client: OllamaClient, *, system_prompt: str | None,
        prices: dict[str, tuple[float, float]], response_cap: int, max_tokens: int = DEFAULT_MAX_TOKENS,
    ):
        self.repository = repository
        self.client = client
        self.system_prompt = system_prompt
        self.prices = prices
        self.response_cap = response_cap
        self.max_tokens = max_tokens  # OLLAMA_MAX_TOKENS

    def preflight(self, task_id: int, model: str, max_tokens: int | None = None) -> None:
        """Refuse (nothing written) a max_tokens above OLLAMA_MAX_TOKENS (InvalidInput), and
        (ExecutionError) an Ollama that cannot run ``model`` now.

        The task is read first (not written): a missing task or an unreachable database is
        named as such, and a task start() refuses anyway (human_task, final) skips the
        question to Ollama, so its refusal stays the precise one."""
        storable.token_bound(max_tokens, self.max_tokens)
        task = self.repository.get_task(task_id)
        if task["type"] == "human_task" or task["status"] in ("completed", "cancelled"):
            return
        try:
            installed = self.client.list_models()
        except OllamaError as exc:
            raise ExecutionError(scrub(f"{exc} Task {task_id} was not changed.")) from exc
        if not model_installed(model, installed):
            raise ExecutionError(scrub(
                f"Model {model!r} is not installed on Ollama at {self.client.shown_url} "
                f"({installed_phrase(model, installed)}). Run "
                f"`ollama pull {model}` on that host, or choose an installed model (the `model` argument, or the "
                f"setting OLLAMA_MODEL). Task {task_id} was not changed."
            ))

    def start(self, task_id: int, model: str, actor: str, actor_type: ActorType, max_tokens: int | None = None) -> Run:
        num_predict = storable.token_bound(max_tokens, self.max_tokens)  # refused before anything is written
        started = self.repository.start_execution(task_id, model=model, actor=actor, actor_type=actor_type)
        messages = build_messages(started["task"], started["parent_title"], self.system_prompt)
        return Run(
            task_id=task_id, model=model, assignment_id=started["assignment_id"], holder=started["holder"],
            started_at=started["started_at"], messages=messages, task=started["task"], num_predict=num_predict,
        )

    def run(
        self, run: Run, *, auto_complete: bool, on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Stream, store, settle. Returns the summary; raises ExecutionError (after storing) when the run failed."""
        began = time.monotonic()
        renew_every = max(1.0, self.repository.lease_seconds / 3)
        last_renewal = [began]

        def received(piece: str) -> None:
            if on_text is not None:
                on_text(piece)
            now = time.monotonic()
            if now - last_renewal[0] >= renew_every:
                last_renewal[0] = now
                try:
                    self.repository.renew_lease(run.task_id, run.holder)
                except TaskSystemError as exc:  # the run goes on; at worst the lease lapses
                    log.warning("could not renew the lease of task %s: %s", run.task_id, scrub(str(exc)))

        text, error, tokens_in, tokens_out, end = "", None, None, None, "stop"
        try:
            outcome = self.client.chat_stream(
                run.model, run.messages, on_text=received, should_stop=should_stop, options={"num_predict": run.num_predict},
            )
            text, tokens_in, tokens_out = outcome.text, outcome.prompt_eval_count, outcome.eval_count
            status = ResultStatus.SUCCESS if outcome.completed else ResultStatus.PARTIAL
            if outcome.stopped:
                error = f"The client cancelled the call after {len(text)} characters."
            elif outcome.completed:
                end = storable.answer_end(outcome.done_reason)
                if end == "cut":
                    status, error = ResultStatus.PARTIAL, _cut_message(run, outcome.done_reason, tokens_out, len(text))
                elif end == "other":
                    error = (
                        f"Ollama ended the answer with done_reason {outcome.done_reason!r}, not 'stop': it may be "
                        f"incomplete, so the task waits for review."
                    )
        except OllamaError as exc:
            text, error = exc.partial_text, str(exc)
            status = ResultStatus.PARTIAL if text else ResultStatus.ERROR
        except Exception as exc:  # noqa: BLE001 - a bug must still end the run in the database
            log.exception("tasks_execute of task %s failed unexpectedly", run.task_id)
            status, error = ResultStatus.ERROR, f"Internal error while streaming ({type(exc).__name__}); see the server log."
        duration_ms = storable.count(int((time.monotonic() - began) * 1000)) or 0
        # Everything Ollama sent is cleaned here, whatever the client let through.
        text = fit_bytes(text, max(1, min(self.client.max_response_bytes, RESPONSE_MAX_BYTES)))
        tokens_in = storable.count(tokens_in, storable.TOKENS_MAX)
        tokens_out = storable.count(tokens_out, storable.TOKENS_MAX)
        error = scrub(error) if error else None
        cost = storable.cost(cost_usd(run.model, tokens_in, tokens_out, self.prices))
        stored = self.repository.finish_execution(
            run.task_id, assignment_id=run.assignment_id, holder=run.holder, model=run.model, started_at=run.started_at,
            request=fit_bytes(prompt_text(run.messages), REQUEST_MAX_BYTES), response=text,
            status=status, error_message=fit_bytes(error, REQUEST_MAX_BYTES) if error else None,
            tokens_input=tokens_in, tokens_output=tokens_out,
            cost_usd=cost if status == ResultStatus.SUCCESS else None,
            # Only an answer the model ended itself may complete the task.
            duration_ms=duration_ms, auto_complete=auto_complete and end == "stop",
        )
        if end == "cut" and status == ResultStatus.PARTIAL:
            raise LimitExceeded(scrub(
                f"{error} Stored as result #{stored['result_id']} (partial, {len(text)} characters, tasks_get shows "
                f"it); task {run.task_id} is now {stored['task_status']}, not completed."
            ))
        if status != ResultStatus.SUCCESS:
            raise ExecutionError(scrub(
                f"{error} Stored as result #{stored['result_id']} ({status.value}, {len(text)} characters); "
                f"task {run.task_id} is now {stored['task_status']}. Fix the cause and call tasks_execute again to retry."
            ))
        return {
            "state": "finished",
            "task_id": run.task_id,
            "model": run.model,
            "assignment_id": run.assignment_id,
            "result_id": stored["result_id"],
            "result_status": status.value,
            "task_status": stored["task_status"],
            "response": text[: self.response_cap],
            "response_truncated": len(text) > self.response_cap,
            "response_chars": len(text),
            "tokens_input": tokens_in,
            "tokens_output": tokens_out,
            "tokens_total": stored["tokens_total"],
            "duration_ms": duration_ms,
            "cost_usd": cost,
            "note": (error if end == "other" else stored["note"]) or None,
        }

    def run_in_background(self, run: Run, *, auto_complete: bool) -> threading.Thread:
        """wait=false: the generation outlives the tool call; its result lands in the database."""

        def work() -> None:
            try:
                self.run(run, auto_complete=auto_complete)
            except (ExecutionError, LimitExceeded) as exc:  # stored already; a cut answer is LimitExceeded
                log.info("background execution of task %s ended: %s", run.task_id, scrub(str(exc)))
            except Exception:  # noqa: BLE001 - a background thread has nobody else to tell
                log.exception("background execution of task %s failed", run.task_id)

        thread = threading.Thread(target=work, name=f"execute-task-{run.task_id}", daemon=True)
        thread.start()
        return thread


def _cut_message(run: Run, done_reason: str | None, tokens: int | None, chars: int) -> str:
    """Why a cut answer is partial, and what to do: the bound it hit and both remedies."""
    counted = f"{tokens} tokens" if tokens is not None else f"{chars} characters"
    return (
        f"The answer was cut: Ollama stopped it with done_reason {done_reason!r} after {counted} (the token "
        f"bound num_predict={run.num_predict}, or the model's context window, was reached). Raise the bound "
        f"(max_tokens, at most OLLAMA_MAX_TOKENS; or raise OLLAMA_MAX_TOKENS) or split the task into smaller "
        f"subtasks (tasks_create with parent_task_id={run.task_id}), then call tasks_execute again."
    )
