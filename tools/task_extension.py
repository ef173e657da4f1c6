"""The MCP Tasks extension (io.modelcontextprotocol/tasks, SEP-2663) over SQL: long tool calls
become durable tasks that any instance on the database answers for.

- Advertised under `capabilities.extensions` (server/discover) through the SDK's `Extension`.
- A 2026-07-28 `tools/call` of tasks_execute or quality_check whose `_meta` client capabilities
  declare the extension becomes a task: the record is committed (infrastructure/task_runs.py)
  before the server answers `CreateTaskResult`, then the call runs in the background on this
  instance. Any other call, and every 2025 session, is answered as before.
- `tasks/get`, `tasks/update` and `tasks/cancel` read and write that record, so they work from
  any instance: a cancel sets a flag that the running instance reads every second, and then
  cancels the call (tasks_execute then closes its connection to Ollama and stores what it has).
- The running instance renews the record's lease (a third of LEASE_MINUTES, at most every 10 s);
  a record whose lease ran out is reported `failed` by whichever instance reads it next: its
  process died. Records are deleted once past their ttl (MCP_TASK_TTL_SECONDS).
- A task is visible only to the principal that created it (`tools.common.principal`);
  to anyone else its id is unknown (-32602), as an id that never existed.
"""
from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Extension, MethodBinding, require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolRequestParams, RequestParams
from mcp_types.jsonrpc import HEADER_MISMATCH, INTERNAL_ERROR, INVALID_PARAMS
from pydantic import BaseModel, Field

from tools.common import AppState, principal

log = logging.getLogger("mcp-tasks")
EXTENSION = "io.modelcontextprotocol/tasks"
TASK_TOOLS = frozenset({"tasks_execute", "quality_check"})  # the calls that can run for minutes
FIRST_VERSION = "2026-07-28"  # the extension's results exist on the stateless protocol only
POLL_INTERVAL_MS = 1000
TICK_SECONDS = 1.0  # how often a run looks for a cancel: tasks/cancel takes effect within ~1 s
MAX_RUNNING = 64  # runs one instance keeps in the background; past it a call is answered as before
SWEEP_EVERY_SECONDS = 60.0  # dead runs and expired records are swept at most this often per instance
RUNNER = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"  # this instance, in a record


class TaskIdParams(RequestParams):
    task_id: str = Field(alias="taskId", min_length=1, max_length=200)


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any] | None = Field(default=None, alias="inputResponses")


class TasksExtension(Extension):
    identifier = EXTENSION

    def __init__(self) -> None:
        self._local: dict[str, threading.Event] = {}  # runs on this instance -> set to cancel at once
        self._swept = 0.0

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get),
            MethodBinding("tasks/update", UpdateTaskParams, self._update),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel),
        ]

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if params.name not in TASK_TOOLS or not declared(ctx) or str(ctx.protocol_version) < FIRST_VERSION:
            return await call_next(ctx)
        if len(self._local) >= MAX_RUNNING:  # the server decides per call; this one waits for its answer
            return await call_next(ctx)
        state: AppState = ctx.lifespan_context
        runs = task_runs(state)
        lease = _lease_seconds(state)
        key = secrets.token_urlsafe(24)  # 32 characters, 192 bits: unguessable, and never a task's number
        owner = principal(state, ctx.session)
        await anyio.to_thread.run_sync(self._sweep_now_and_then, runs)
        record = await anyio.to_thread.run_sync(lambda: runs.create(
            key, principal=owner, tool=params.name, ttl_ms=int(state.config.mcp_task_ttl_seconds * 1000),
            runner=RUNNER, lease_seconds=lease,
        ))
        work = (params.arguments or {}).get("id") if params.name == "tasks_execute" else None
        self._start(key, ctx, call_next, runs, lease, _Cancelled(state, work, owner, key))
        return {"resultType": "task", **_task_fields(record)}

    # ---- the run, on a thread of its own ------------------------------------------------------

    def _start(
        self, key: str, ctx: ServerRequestContext[Any, Any], call_next: CallNext, runs: Any, lease: float, on_cancel: Any
    ) -> None:
        """Run the call after the answer has gone: on a thread with its own event loop, so it
        outlives the request (HTTP ends the request's task scope once it has answered). The
        context variables go along (the API key's name); progress goes nowhere: the spec sends
        none for a task, and the request it would belong to has ended."""
        stop = self._local[key] = threading.Event()
        quiet = dataclasses.replace(ctx, session=_Quiet(ctx.session))
        context = contextvars.copy_context()

        def work() -> None:
            try:
                if context.run(anyio.run, self._run, key, quiet, call_next, runs, lease, stop) == "cancelled":
                    on_cancel()
            except Exception:  # noqa: BLE001 - a background thread has nobody else to tell
                log.exception("MCP task %s failed outside its call", key[:8])
            finally:
                self._local.pop(key, None)

        threading.Thread(target=work, name=f"mcp-task-{key[:8]}", daemon=True).start()

    async def _run(self, key: str, ctx: Any, call_next: CallNext, runs: Any, lease: float, stop: threading.Event) -> str:
        outcome: tuple[str, str | None, dict[str, Any] | None] | None = None  # None: cancelled
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                renewed = time.monotonic()
                renew_every = max(TICK_SECONDS, min(10.0, lease / 3))
                while True:
                    await anyio.sleep(min(TICK_SECONDS, renew_every))
                    try:
                        if time.monotonic() - renewed >= renew_every:
                            asked = await anyio.to_thread.run_sync(runs.renew, key, RUNNER, lease)
                            renewed = time.monotonic()
                        else:
                            asked = await anyio.to_thread.run_sync(runs.cancel_requested, key)
                    except Exception as exc:  # noqa: BLE001 - the database may be back next tick
                        log.warning("MCP task %s: could not reach its record: %s", key[:8], exc)
                        asked = False
                    if asked or stop.is_set():
                        group.cancel_scope.cancel()
                        return

            group.start_soon(watch)
            try:
                result = await call_next(ctx)
                outcome = ("completed", None, {"result": _dump(result)})
            except MCPError as exc:
                error = exc.error.model_dump(by_alias=True, mode="json", exclude_none=True)
                outcome = ("failed", str(error.get("message")), {"error": error})
            except Exception:  # noqa: BLE001 - the record must end, and say why
                log.exception("MCP task %s (%s) raised", key[:8], getattr(ctx, "method", "tools/call"))
                message = "The call failed unexpectedly; the server log has the details."
                outcome = ("failed", message, {"error": {"code": INTERNAL_ERROR, "message": message}})
            group.cancel_scope.cancel()
        status, message, data = outcome or ("cancelled", "Cancelled by tasks/cancel.", None)
        await anyio.to_thread.run_sync(runs.finish, key, status, message, data)
        return status

    # ---- tasks/get, tasks/update, tasks/cancel ------------------------------------------------

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        return detailed(await self._own_record(ctx, params))

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> dict[str, Any]:
        # These tasks never ask for input, so no key is outstanding: responses are ignored (as the spec says).
        await self._own_record(ctx, params)
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        record = await self._own_record(ctx, params)
        if record["status"] == "working":
            runs = task_runs(ctx.lifespan_context)
            await anyio.to_thread.run_sync(runs.request_cancel, record["key"])
            local = self._local.get(record["key"])
            if local is not None:
                local.set()
        return {}

    async def _own_record(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        require_client_extension(ctx, EXTENSION)
        _check_name_header(ctx, params.task_id)
        state: AppState = ctx.lifespan_context
        runs = task_runs(state)
        await anyio.to_thread.run_sync(self._sweep_now_and_then, runs)
        record = await anyio.to_thread.run_sync(runs.get, params.task_id)
        if record is None or record["principal"] != principal(state, ctx.session):
            # Another principal's task is as unknown as one that never existed: its id tells nothing.
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"Failed to retrieve task: no task {params.task_id[:60]!r} (unknown, expired after its ttlMs, "
                "or created by another principal).",
            )
        return record

    def _sweep_now_and_then(self, runs: Any) -> None:
        now = time.monotonic()
        if now - self._swept < SWEEP_EVERY_SECONDS:
            return
        self._swept = now
        try:
            runs.sweep()
        except Exception as exc:  # noqa: BLE001 - a sweep that fails is tried again later
            log.warning("could not sweep MCP task records: %s", exc)


class _Cancelled:
    """After a cancelled tasks_execute run: the task's history says who cancelled it and how
    (the run itself stores its partial answer and moves the task on, as a closed call does)."""

    def __init__(self, state: AppState, work: Any, owner: str, key: str):
        self.state, self.work, self.owner, self.key = state, work, owner, key

    def __call__(self) -> None:
        if not isinstance(self.work, int) or isinstance(self.work, bool):
            return
        try:
            self.state.repository.add_comment(
                self.work, content=f"Run cancelled through tasks/cancel (MCP task {self.key[:8]}\u2026).",
                author=self.owner.split(":", 1)[-1][:100], author_type=self.state.config.actor_type, comment_type="note",
            )
        except Exception as exc:  # noqa: BLE001 - the task may be gone; the record says cancelled anyway
            log.info("could not note the cancel of MCP task %s on task %s: %s", self.key[:8], self.work, exc)


class _Quiet:
    """The request's session, minus progress: a task's call runs after its request ended."""

    def __init__(self, session: Any):
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def report_progress(self, *args: Any, **kwargs: Any) -> None:
        return None


def _check_name_header(ctx: ServerRequestContext[Any, Any], task_id: str) -> None:
    """Over HTTP the spec has the client repeat the taskId in Mcp-Name (for routing)."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return  # stdio: no headers
    named = headers.get("mcp-name")
    if named != task_id:
        raise MCPError(code=HEADER_MISMATCH, message="The Mcp-Name header must equal params.taskId for tasks/* requests.")


def _lease_seconds(state: AppState) -> float:
    return max(1.0, state.config.lease_minutes * 60)


def _task_fields(record: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "taskId": record["key"], "status": record["status"], "createdAt": record["created_at"],
        "lastUpdatedAt": record["updated_at"], "ttlMs": record["ttl_ms"], "pollIntervalMs": POLL_INTERVAL_MS,
    }
    if record["status_message"]:
        fields["statusMessage"] = record["status_message"]
    return fields


def detailed(record: dict[str, Any]) -> dict[str, Any]:
    """The DetailedTask of a record: what tasks/get answers and notifications/tasks carries."""
    detail = _task_fields(record)
    outcome = record["outcome"] or {}
    if record["status"] == "completed" and "result" in outcome:
        detail["result"] = outcome["result"]
    elif record["status"] == "failed":
        detail["error"] = outcome.get("error") or {"code": INTERNAL_ERROR, "message": record["status_message"] or "failed"}
    return detail


def declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request's client capabilities declare the extension."""
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and EXTENSION in capabilities.extensions)


def task_runs(state: AppState) -> Any:
    """The process's one TaskRuns (infrastructure/task_runs.py), built on first use."""
    from infrastructure.task_runs import TaskRuns

    return state.service("task_runs", lambda: TaskRuns(state.repository.db))


def _dump(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result
