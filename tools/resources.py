"""MCP resources and prompts: registration only.

Resources (read-only views a client can attach to a conversation):
- `task://{id}`: one task exactly as `tasks_get` returns it, as JSON;
- `tasks://statistics`: what `tasks_statistics` returns.

Prompts (a client shows them as slash commands or templates):
- `work_on_task(id)`: walks an agent through claim → work → quality_check → result → complete;
- `triage_pending(limit)`: a pass over the pending tasks: clarify, type, split, assign.

Completion: while a user types a task id for `task://{id}` or a prompt's `id`, the client
gets the newest ids starting with those digits, from the database (infrastructure/task_ids.py).

A static resource (and a completion) gets no request context from the SDK, so they read
the live app state through `current_state`, which server.py's lifespan fills.
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Callable

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, Completion, PromptReference, ResourceTemplateReference
from pydantic import BaseModel, Field

from domain.errors import InvalidInput, NotFound, TaskSystemError
from domain.models import ID_MAX
from domain.secrets import scrub
from tools.common import AppState, app
from tools.task_results import Statistics, detail_of

JSON = "application/json"


def _json(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))


def _task_id(raw: Any) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= ID_MAX:
        raise InvalidInput(f"Task id {str(raw)[:40]!r} is not a positive whole number. Use e.g. task://42 (ids from tasks_list).")
    return value


def register_resources(mcp: MCPServer, current_state: Callable[[], AppState]) -> None:
    @mcp.resource(
        "task://{id}", name="task", title="Task",
        description="One task as tasks_get returns it: fields, assignments, results, history, subtasks, parent.",
        mime_type=JSON,
    )
    def task_resource(id: str, ctx: Context) -> str:
        try:
            return _json(detail_of(app(ctx).repository.get_task(_task_id(id))))
        except (NotFound, InvalidInput) as exc:
            raise ResourceNotFoundError(_text(exc)) from exc
        except TaskSystemError as exc:
            raise ResourceError(_text(exc)) from exc

    @mcp.resource(
        "tasks://statistics", name="statistics", title="Task statistics",
        description="Counts by status and type; tokens and cost over all results; usage per model.",
        mime_type=JSON,
    )
    def statistics_resource() -> str:
        try:
            return _json(Statistics(**current_state().repository.statistics()))
        except TaskSystemError as exc:
            raise ResourceError(_text(exc)) from exc

    @mcp.completion()
    async def complete_task_id(ref: Any, argument: Any, context: Any) -> Completion | None:
        """Task ids for `task://{id}` and the work_on_task prompt's id."""
        wants_id = argument.name == "id" and (
            (isinstance(ref, ResourceTemplateReference) and ref.uri == "task://{id}")
            or (isinstance(ref, PromptReference) and ref.name == "work_on_task")
        )
        if not wants_id:
            return None
        import anyio

        from infrastructure.task_ids import newest_ids_with_prefix

        try:
            ids, more = await anyio.to_thread.run_sync(
                lambda: newest_ids_with_prefix(current_state().repository.db, str(argument.value or "")[:20])
            )
        except TaskSystemError:  # no database now: offer nothing rather than fail the user's typing
            return None
        return Completion(values=[str(i) for i in ids], has_more=more)


def _text(exc: TaskSystemError) -> str:
    """A refusal's text as tools give it: [code] message, secrets scrubbed."""
    return scrub(f"[{exc.code}] {exc}")


def _prompt_error(exc: TaskSystemError) -> MCPError:
    code = INVALID_PARAMS if isinstance(exc, (NotFound, InvalidInput)) else INTERNAL_ERROR
    return MCPError(code=code, message=_text(exc))


def _work_steps(task: dict[str, Any]) -> str:
    tid = task["id"]
    status = task["status"]
    if status in ("completed", "cancelled"):
        return (
            f"Task {tid} is {status}, which is final: do not change it. If more work is needed, create a follow-up "
            f'with tasks_create(title=..., parent_task_id={tid}) and work on that one instead.'
        )
    if status == "pending":
        claim = (
            f'1. Claim it: tasks_status(id={tid}, status="in_progress"). If that is refused, another agent got it '
            "first: stop and say so."
        )
    elif status == "failed":
        claim = (
            f'1. It failed before. Read why (step 2), then retry: tasks_status(id={tid}, status="pending") and '
            f'tasks_status(id={tid}, status="in_progress").'
        )
    else:  # in_progress
        claim = (
            "1. It is already in_progress. Check in its history (step 2) that you hold it; if someone else does, "
            "stop and say so."
        )
    return "\n".join([
        claim,
        f"2. Read it all: tasks_get(id={tid}) shows the description, history, earlier results, subtasks and parent.",
        f"3. Do the work. Note decisions or questions with tasks_comment(id={tid}, content=...).",
        f"4. If you changed code: quality_check(path=<the changed directory>, task_id={tid}). Fix every critical "
        "violation and check again; a task with critical violations cannot be completed.",
        f"5. Record the outcome: tasks_result(id={tid}, response=<what you did or the answer>, executor=<your name>, "
        "executor_type=<claude|anthropic_api|ollama|human>, model_name, tokens_input, tokens_output, cost_usd, duration_ms).",
        f'6. Complete it: tasks_status(id={tid}, status="completed"). If you cannot finish, say why with tasks_comment, '
        f'then tasks_status(id={tid}, status="failed"), or status="pending" to give it back.',
    ])


# The tools each prompt's steps call: a prompt is offered only where all of them are (a read-only
# server, or a profile without them, would walk the agent into refusals).
WORK_TOOLS = {"tasks_status", "tasks_get", "tasks_comment", "quality_check", "tasks_result"}
TRIAGE_TOOLS = {"tasks_get", "tasks_comment", "tasks_update", "tasks_create", "tasks_status", "tasks_assign"}


def register_prompts(mcp: MCPServer, offered: set[str]) -> None:
    if WORK_TOOLS <= offered:
        _register_work_prompt(mcp)
    if TRIAGE_TOOLS <= offered:
        _register_triage_prompt(mcp)


def _register_work_prompt(mcp: MCPServer) -> None:
    @mcp.prompt(title="Work on a task")
    def work_on_task(
        ctx: Context,
        id: Annotated[int, Field(ge=1, le=ID_MAX, description="Task id (from tasks_list).")],
    ) -> str:
        """Walk through one task: claim it, do the work, quality_check, record the result, complete it."""
        try:
            task = app(ctx).repository.get_task(id)
        except TaskSystemError as exc:
            raise _prompt_error(exc) from exc
        description = (task.get("description") or "(no description)").strip()
        return (
            f'Work on task {task["id"]}: "{task["title"]}" ({task["type"]}, now {task["status"]}'
            + (f', due {task["due_date"]}' if task.get("due_date") else "")
            + f").\n\nDescription:\n{description}\n\nSteps:\n{_work_steps(task)}\n\n"
            "Finish with a short summary: what you did, the result id, and the task's final status."
        )


def _register_triage_prompt(mcp: MCPServer) -> None:
    @mcp.prompt(title="Triage pending tasks")
    def triage_pending(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100, description="How many pending tasks, newest first (default 20).")] = 20,
    ) -> str:
        """Review the pending tasks: clarify, fix type and due date, split big ones, cancel duplicates, assign."""
        try:
            page = app(ctx).repository.list_tasks(status="pending", limit=limit)
        except TaskSystemError as exc:
            raise _prompt_error(exc) from exc
        if not page["tasks"]:
            return "There are no pending tasks. Nothing to triage; say so."
        rows = "\n".join(
            f'- {t["id"]} [{t["type"]}] "{t["title"]}"'
            + (f' due {t["due_date"]}' if t.get("due_date") else "")
            + (f' (subtask of {t["parent_task_id"]})' if t.get("parent_task_id") else "")
            + (f': {t["description_preview"]}' if t.get("description_preview") else "")
            for t in page["tasks"]
        )
        more = f"\n(Showing {len(page['tasks'])} of {page['total']} pending tasks.)" if page["total"] > len(page["tasks"]) else ""
        return (
            f"Triage these pending tasks:\n{rows}{more}\n\n"
            "For each one (read details with tasks_get(id) when the preview is not enough):\n"
            "- Unclear? Ask what is missing with tasks_comment(id, content=...).\n"
            "- Wrong type (human_task, ai_task, mixed) or missing due date? Fix it with tasks_update.\n"
            "- Too big for one sitting? Split it: tasks_create(title=..., parent_task_id=id) per part.\n"
            '- Duplicate? tasks_comment naming the original, then tasks_status(id, status="cancelled").\n'
            "- Clear and ready? tasks_assign(id, assignee=..., assignee_type=...) to whoever fits the type.\n"
            "Do not do the tasks themselves. End with a table: id, decision, tool calls made."
        )
