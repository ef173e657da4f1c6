"""The tools beyond the spec's CRUD: tasks_claim takes the next ready task under a lease,
tasks_execute runs a task on a local Ollama model. MCP registration only, as in
tools/task_tools.py, whose parameter types they share.
"""

import threading
import time
from typing import Annotated, Literal, Optional

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from domain.models import ID_MAX, ExecutorType
from tools.common import actor, app, own_name, respond
from tools.task_results import Claimed, Execution, Task
from tools.task_tools import WRITE, ExecutorName, Name, TaskId, TypeName


def register_agent_tools(mcp: MCPServer) -> None:
    """The tools beyond the spec's CRUD: claiming work and running it on a local model."""

    @mcp.tool(title="Claim the next task", annotations=WRITE, structured_output=False)
    def tasks_claim(
        ctx: Context,
        assignee: Annotated[Name, Field(description="Your name.")],
        assignee_type: Annotated[ExecutorName, Field(description="Decides which task types you may take.")],
        model_name: Optional[Name] = None,
        type: Annotated[Optional[TypeName], Field(description="Only this task type.")] = None,
        search: Annotated[Optional[str], Field(max_length=200, description="Only matching tasks.")] = None,
        parent_task_id: Annotated[Optional[int], Field(ge=1, le=ID_MAX, description="Only its subtasks.")] = None,
        lease_minutes: Annotated[Optional[float], Field(gt=0, le=7 * 24 * 60, description="Default: the server's.")] = None,
    ) -> Annotated[CallToolResult, Claimed]:
        """Take the next ready task (blockers completed; urgent first, then due date, age) as in_progress, under a lease your writes renew. Give it back: tasks_status pending."""
        state = app(ctx)
        # Signed in or with a key, the claim is held by the principal (`assignee (via principal)`).
        holder, kind = actor(state, assignee, "human" if assignee_type == "human" else "ai")
        task = state.repository.claim(
            assignee=holder, assignee_type=ExecutorType(assignee_type), model_name=model_name, type=type,
            search=search, parent_task_id=parent_task_id, lease_minutes=lease_minutes, actor_type=kind, session=own_name(state),
        )
        if task is None:
            return respond(Claimed(claimed=False, task=None, assignment_id=None, lease_expires_at=None, message="No ready task matches."))
        assignment_id, expires = task.pop("assignment_id"), task.pop("lease_expires_at")
        return respond(Claimed(
            claimed=True, task=Task(**task), assignment_id=assignment_id, lease_expires_at=expires,
            message=f"Task {task['id']} is yours until {expires}; record work with tasks_result, then tasks_status.",
        ))

    @mcp.tool(
        title="Run a task on Ollama",
        annotations=ToolAnnotations(destructiveHint=False),  # writes; open world (Ollama): the spec's defaults
        structured_output=False,
    )
    async def tasks_execute(
        ctx: Context,
        id: TaskId,
        executor_type: Annotated[
            Literal["ollama"], Field(json_schema_extra={"enum": ["ollama"]})
        ] = "ollama",
        model: Annotated[Optional[Name], Field(description="Default: the server's.")] = None,
        auto_complete: Annotated[bool, Field(description="Complete it if the model succeeds.")] = False,
        wait: Annotated[bool, Field(description="false: return at once; tasks_get shows the result later.")] = True,
        # No schema maximum: the bound is the server's setting, checked (and named) by the executor.
        max_tokens: Annotated[Optional[int], Field(ge=1, description="≤ OLLAMA_MAX_TOKENS.")] = None,
    ) -> Annotated[CallToolResult, Execution]:
        """Run an ai_task or mixed task on a local Ollama model; stores the answer with tokens, cost, duration. Without auto_complete it stays in_progress for review."""
        import anyio

        state = app(ctx)
        executor = state.service("executor", lambda: _build_executor(state))
        model = model or state.config.ollama_model
        who, kind = actor(state, None, None)
        # Ollama and the model first: a run that cannot start leaves the task as it was.
        await anyio.to_thread.run_sync(lambda: executor.preflight(id, model, max_tokens))
        run = await anyio.to_thread.run_sync(lambda: executor.start(id, model, who, kind, max_tokens))
        if not wait:
            executor.run_in_background(run, auto_complete=auto_complete)
            return respond(Execution(
                state="started", task_id=id, model=model, assignment_id=run.assignment_id, task_status=run.task["status"],
                note="Generation runs in the background; tasks_get shows the result when the model is done.",
            ))
        stop = threading.Event()
        received = {"chars": 0, "last": 0.0}

        def on_text(piece: str) -> None:
            received["chars"] += len(piece)
            now = time.monotonic()
            if now - received["last"] >= PROGRESS_INTERVAL and not stop.is_set():
                received["last"] = now
                try:
                    anyio.from_thread.run(ctx.report_progress, received["chars"], None, f"{received['chars']} characters from {model}")
                except Exception:  # noqa: BLE001 - progress is best effort; the answer matters
                    pass

        await ctx.report_progress(0, None, f"{model} started on task {id}")
        try:
            result = await anyio.to_thread.run_sync(
                lambda: executor.run(run, auto_complete=auto_complete, on_text=on_text, should_stop=stop.is_set),
                abandon_on_cancel=True,
            )
        except anyio.get_cancelled_exc_class():
            stop.set()  # the worker stops streaming and stores what it has as a partial result
            raise
        return respond(Execution(**result))


PROGRESS_INTERVAL = 0.25  # seconds between progress notifications: a few per second


def _build_executor(state):
    from infrastructure.ollama_client import OllamaClient
    from infrastructure.task_executor import TaskExecutor
    from validators.execution_prompt import parse_price_table

    config = state.config
    client = state.service("ollama", lambda: OllamaClient(
        config.ollama_host, config.ollama_timeout, max_seconds=config.ollama_max_seconds,
        max_response_bytes=config.ollama_max_response_bytes,
    ))
    return TaskExecutor(
        state.repository, client, system_prompt=config.ollama_system_prompt,
        prices=parse_price_table(config.ollama_prices, setting="OLLAMA_PRICES"), response_cap=config.execute_response_cap,
        max_tokens=config.ollama_max_tokens,
    )
