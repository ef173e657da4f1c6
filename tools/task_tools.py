"""The task tools: MCP registration only. Each tool validates, calls one repository
operation and returns a typed result. Names and parameter names follow the spec.
The results are in tools/task_results.py; tasks_claim and tasks_execute in tools/agent_tools.py.
"""

from typing import Annotated, Any, Literal, Optional

from mcp.server.mcpserver import Context, ElicitationResult, MCPServer, Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from domain.errors import InvalidInput
from domain.models import ID_MAX, NAME_MAX, TEXT_MAX, TITLE_MAX, ExecutorType, ResultStatus, TaskStatus, TaskType
from validators import input_rules as rules
from tools.common import actor, app, may_review, own_name, respond
from tools.confirmations import Confirmation, ask_before_cancel, ask_before_delete, check_answer
from tools.lean_schema import DESTROYS, READ_ONLY, WRITES
from tools.task_results import Assignment, Comment, Deleted, Result, Statistics, Task, TaskDetail, TaskPage, detail_of, page_of
from validators import work_order as wo
from validators.arguments import check_cursor, parse_due_date, parse_metadata, require_some_change

StatusName = Literal["pending", "in_progress", "completed", "failed", "cancelled"]
PriorityName = Literal["low", "normal", "high", "urgent"]
TypeName = Literal["human_task", "ai_task", "mixed"]
ActorTypeName = Literal["human", "ai"]
ExecutorName = Literal["human", "ollama", "claude", "anthropic_api"]
AssignmentStatusName = Literal["pending", "accepted", "rejected", "in_progress", "completed"]
DetailName = Literal["compact", "summary"]

TaskId = Annotated[int, Field(ge=1, le=ID_MAX)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]

# Shared by tasks_update and tasks_status.
UpdatedBy = Annotated[Optional[Name], Field(description="Default: you.")]
ActorType = Optional[ActorTypeName]  # the enum says it all
ExpectedUpdatedAt = Annotated[
    Optional[str], Field(max_length=40, description="updated_at you read; refused if it changed.")
]
# Shared by tasks_delete and tasks_status: the person already agreed (tools/confirmations.py).
Confirm = Annotated[Optional[bool], Field(description="true: do not ask.")]
# Shared by tasks_create and tasks_update.
Priority = Annotated[Optional[PriorityName], Field(description="Default normal.")]
Labels = Annotated[
    Optional[list[Annotated[str, Field(max_length=50)]]], Field(max_length=20, description="Replaces the set.")
]
DependsOn = Annotated[
    Optional[list[Annotated[int, Field(ge=1, le=ID_MAX)]]],
    Field(max_length=100, description="Ids that must complete first; replaces the set."),
]

READ = ToolAnnotations(**READ_ONLY)  # the hints the spec's defaults do not already give (tools/lean_schema.py)
WRITE = ToolAnnotations(**WRITES)
DELETE = ToolAnnotations(**DESTROYS)


def register_task_tools(mcp: MCPServer) -> None:
    @mcp.tool(title="List tasks", annotations=READ, structured_output=False)
    def tasks_list(
        ctx: Context,
        # Filters named as the fields they filter need no description: the name and enum say it.
        status: Optional[StatusName] = None,
        type: Optional[TypeName] = None,
        search: Annotated[Optional[str], Field(max_length=200, description="Words all in title or description.")] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0, le=10_000_000, description="Use next_offset.")] = 0,
        parent_task_id: Annotated[Optional[int], Field(ge=1, le=ID_MAX, description="Only its subtasks.")] = None,
        assignee: Annotated[Optional[Name], Field(description="Ever assigned to them.")] = None,
        cursor: Annotated[Optional[str], Field(max_length=200, description="next_cursor of the last page; replaces offset.")] = None,
        priority: Optional[PriorityName] = None,
        label: Annotated[Optional[str], Field(max_length=50)] = None,
        ready: Annotated[Optional[bool], Field(description="true: pending, unblocked; false: blocked.")] = None,
        detail: Annotated[DetailName, Field(description="summary adds type, creator, dates, parent, description start.")] = "compact",
    ) -> Annotated[CallToolResult, TaskPage]:
        """List tasks, newest first. Compact rows; tasks_get has everything."""
        page = app(ctx).repository.list_tasks(
            status=status, type=type, search=search, parent_task_id=parent_task_id,
            assignee=assignee, limit=limit, offset=offset, cursor=check_cursor(cursor), priority=priority, label=label,
            ready=ready,
        )
        return respond(page_of(page, detail), exclude_unset=True)

    @mcp.tool(title="Get a task", annotations=READ, structured_output=False)
    def tasks_get(
        ctx: Context,
        id: TaskId,
        comments_before: Annotated[Optional[int], Field(ge=1, le=ID_MAX)] = None,
        results_before: Annotated[Optional[int], Field(ge=1, le=ID_MAX)] = None,
    ) -> Annotated[CallToolResult, TaskDetail]:
        """One task with assignments, results, history, subtasks, parent, dependencies, lease. Long lists are cut; `more` says how to read the rest."""
        task = app(ctx).repository.get_task(id, comments_before=comments_before, results_before=results_before)
        return respond(detail_of(task))

    @mcp.tool(title="Create a task", annotations=WRITE, structured_output=False)
    def tasks_create(
        ctx: Context,
        title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)],
        description: Annotated[Optional[str], Field(max_length=TEXT_MAX)] = None,
        type: Annotated[TypeName, Field(description="Who may do it.")] = "ai_task",
        parent_task_id: Annotated[Optional[int], Field(ge=1, le=ID_MAX, description="An open task.")] = None,
        due_date: Annotated[Optional[str], Field(max_length=40, description="ISO 8601, e.g. 2026-12-31T17:00:00Z.")] = None,
        metadata: Optional[dict[str, Any]] = None,
        created_by: UpdatedBy = None,
        created_by_type: ActorType = None,
        priority: Priority = None,
        labels: Labels = None,
        depends_on: DependsOn = None,
    ) -> Annotated[CallToolResult, Task]:
        """Create a task (pending)."""
        state = app(ctx)
        who, kind = actor(state, created_by, created_by_type)
        task = state.repository.create_task(
            priority=priority,
            labels=wo.normalise_labels(labels),
            depends_on=wo.normalise_dependencies(None, depends_on),
            title=rules.title(title),
            description=rules.text_bytes("description", description),
            type=TaskType(type),
            parent_task_id=parent_task_id,
            due_date=parse_due_date(due_date),
            metadata=parse_metadata(metadata),
            created_by=who,
            created_by_type=kind,
        )
        return respond(Task(**task))

    @mcp.tool(title="Update a task", annotations=WRITE, structured_output=False)
    def tasks_update(
        ctx: Context,
        id: TaskId,
        title: Annotated[Optional[str], Field(min_length=1, max_length=TITLE_MAX)] = None,
        description: Annotated[Optional[str], Field(max_length=TEXT_MAX)] = None,
        type: Optional[TypeName] = None,
        due_date: Annotated[Optional[str], Field(max_length=40, description="ISO 8601; \"\" clears it.")] = None,
        metadata: Annotated[Optional[dict[str, Any]], Field(description="Replaces it.")] = None,
        parent_task_id: Annotated[Optional[int], Field(ge=0, le=ID_MAX, description="0: top-level.")] = None,
        priority: Priority = None,
        labels: Labels = None,
        depends_on: DependsOn = None,
        updated_by: UpdatedBy = None,
        updated_by_type: ActorType = None,
        expected_updated_at: ExpectedUpdatedAt = None,
    ) -> Annotated[CallToolResult, Task]:
        """Change a task's fields (its status: tasks_status). Give at least one."""
        fields: dict[str, Any] = {}
        if title is not None:
            fields["title"] = rules.title(title)
        if description is not None:
            fields["description"] = rules.text_bytes("description", description)
        if type is not None:
            fields["type"] = TaskType(type)
        if due_date is not None:
            fields["due_date"] = parse_due_date(due_date)
        if metadata is not None:
            fields["metadata"] = parse_metadata(metadata)
        if parent_task_id is not None:
            fields["parent_task_id"] = parent_task_id or None
        if priority is not None:
            fields["priority"] = priority
        if labels is not None:
            fields["labels"] = wo.normalise_labels(labels)
        if depends_on is not None:
            fields["depends_on"] = wo.normalise_dependencies(id, depends_on)
        require_some_change(fields, "title, description, type, due_date, metadata, parent_task_id, priority, labels, depends_on")
        state = app(ctx)
        who, kind = actor(state, updated_by, updated_by_type)
        task = state.repository.update_task(id, fields, actor=who, actor_type=kind, expected_updated_at=expected_updated_at)
        return respond(Task(**task))

    @mcp.tool(title="Change task status", annotations=WRITE, structured_output=False)
    def tasks_status(
        ctx: Context,
        id: TaskId,
        status: StatusName,
        updated_by: UpdatedBy = None,
        updated_by_type: ActorType = None,
        expected_updated_at: ExpectedUpdatedAt = None,
        confirm: Confirm = None,
        answer: Annotated[ElicitationResult[Confirmation], Resolve(ask_before_cancel)] = None,
    ) -> Annotated[CallToolResult, Task]:
        """Move a task: pending→in_progress|cancelled; in_progress→completed|failed|cancelled|pending; failed→pending|cancelled. in_progress needs blockers completed and takes a lease. Refused if another agent moved or holds it."""
        check_answer(answer, f"Task {id} was not cancelled")
        state = app(ctx)
        who, kind = actor(state, updated_by, updated_by_type)
        task = state.repository.set_status(
            id, TaskStatus(status), actor=who, actor_type=kind, expected_updated_at=expected_updated_at, session=own_name(state),
            cancel_held=may_review(),
        )
        return respond(Task(**task))

    @mcp.tool(title="Assign a task", annotations=WRITE, structured_output=False)
    def tasks_assign(
        ctx: Context,
        id: TaskId,
        assignee: Name,
        assignee_type: Annotated[ExecutorName, Field(description="human_task: human; ai_task: ollama, claude, anthropic_api; mixed: any.")],
        model_name: Optional[Name] = None,
        notes: Annotated[Optional[str], Field(max_length=TEXT_MAX)] = None,
        assigned_by: UpdatedBy = None,
    ) -> Annotated[CallToolResult, Assignment]:
        """Assign an open task to a person or AI; the status stays."""
        state = app(ctx)
        who, kind = actor(state, assigned_by, None)
        assignment = state.repository.assign(
            id, assignee=assignee, assignee_type=ExecutorType(assignee_type), model_name=model_name,
            notes=rules.text_bytes("notes", notes), assigned_by=who, assigned_by_type=kind,
        )
        return respond(Assignment(**assignment))

    @mcp.tool(title="Record a result", annotations=WRITE, structured_output=False)
    def tasks_result(
        ctx: Context,
        id: TaskId,
        response: Annotated[str, Field(min_length=1, max_length=1_000_000, description="What you did, or the answer.")],
        executor: Annotated[Name, Field(description="Who did it, e.g. claude.")],
        executor_type: ExecutorName,
        model_name: Optional[Name] = None,
        status: Literal["success", "error", "partial"] = "success",
        tokens_input: Annotated[Optional[int], Field(ge=0, le=4_294_967_295)] = None,
        tokens_output: Annotated[Optional[int], Field(ge=0, le=4_294_967_295)] = None,
        cost_usd: Annotated[Optional[float], Field(ge=0, le=9999.999999)] = None,
        error_message: Annotated[Optional[str], Field(max_length=TEXT_MAX)] = None,
        request: Annotated[Optional[str], Field(max_length=TEXT_MAX)] = None,
        duration_ms: Annotated[Optional[int], Field(ge=0, le=4_294_967_295)] = None,
    ) -> Annotated[CallToolResult, Result]:
        """Record the outcome of work on a task, with tokens and cost. The status stays (tasks_status)."""
        if (tokens_input or 0) + (tokens_output or 0) > 4_294_967_295:
            raise InvalidInput("tokens_input + tokens_output exceeds 4294967295, the largest tokens_total that fits.")
        state = app(ctx)
        # The result's executor authors its history line: with a principal, `executor (via principal)`.
        executor, kind = actor(state, executor, "human" if executor_type == "human" else "ai")
        result = state.repository.add_result(
            id, response=response, executor=executor, executor_type=ExecutorType(executor_type), model_name=model_name,
            status=ResultStatus(status), tokens_input=tokens_input, tokens_output=tokens_output, cost_usd=cost_usd,
            error_message=rules.text_bytes("error_message", error_message), request=rules.text_bytes("request", request),
            duration_ms=duration_ms, actor_type=kind,
        )
        return respond(Result(**result))

    @mcp.tool(title="Delete a task", annotations=DELETE, structured_output=False)
    def tasks_delete(
        ctx: Context,
        id: TaskId,
        deleted_by: UpdatedBy = None,
        confirm: Confirm = None,
        answer: Annotated[ElicitationResult[Confirmation], Resolve(ask_before_delete)] = None,
    ) -> Annotated[CallToolResult, Deleted]:
        """Delete a task with its assignments, results and comments; its subtasks become top-level. Cannot be undone."""
        check_answer(answer, f"Task {id} was not deleted")
        state = app(ctx)
        who, kind = actor(state, deleted_by, None)
        return respond(Deleted(**state.repository.delete_task(id, actor=who, actor_type=kind)))

    @mcp.tool(title="Task statistics", annotations=READ, structured_output=False)
    def tasks_statistics(ctx: Context) -> Annotated[CallToolResult, Statistics]:
        """Counts by status and type; tokens and cost over all results; usage per model."""
        return respond(Statistics(**app(ctx).repository.statistics()))

    @mcp.tool(title="Comment on a task", annotations=WRITE, structured_output=False)
    def tasks_comment(
        ctx: Context,
        id: TaskId,
        content: Annotated[str, Field(min_length=1, max_length=TEXT_MAX)],
        author: UpdatedBy = None,
        author_type: ActorType = None,
        comment_type: Literal["comment", "note"] = "comment",
    ) -> Annotated[CallToolResult, Comment]:
        """Add a comment to a task's history; from the task's holder it also renews the lease."""
        state = app(ctx)
        who, kind = actor(state, author, author_type)
        comment = state.repository.add_comment(
            id, content=rules.text_bytes("content", content), author=who, author_type=kind, comment_type=comment_type,
        )
        return respond(Comment(**comment))
