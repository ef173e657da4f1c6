"""The task tools: MCP registration only. Each tool validates, calls one repository
operation and returns a typed result. Names and parameter names follow the spec.
The results are in tools/task_results.py; tasks_claim and tasks_execute in tools/agent_tools.py.
"""

from typing import Annotated, Any, Literal, Optional

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from domain.errors import InvalidInput
from domain.models import ID_MAX, NAME_MAX, TEXT_MAX, TITLE_MAX, ExecutorType, ResultStatus, TaskStatus, TaskType
from tools import input_rules as rules
from tools.common import actor, app, own_name, respond
from tools.lean_schema import DESTROYS, READ_ONLY, WRITES
from tools.task_results import Assignment, Comment, Deleted, Result, Statistics, Task, TaskDetail, TaskPage
from validators import work_order as wo
from validators.arguments import check_cursor, parse_due_date, parse_metadata, require_some_change

StatusName = Literal["pending", "in_progress", "completed", "failed", "cancelled"]
PriorityName = Literal["low", "normal", "high", "urgent"]
TypeName = Literal["human_task", "ai_task", "mixed"]
ActorTypeName = Literal["human", "ai"]
ExecutorName = Literal["human", "ollama", "claude", "anthropic_api"]
AssignmentStatusName = Literal["pending", "accepted", "rejected", "in_progress", "completed"]

TaskId = Annotated[int, Field(ge=1, le=ID_MAX, description="Task id.")]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]

# Shared by tasks_update and tasks_status.
UpdatedBy = Annotated[Optional[Name], Field(description="Default: you (this session).")]
UpdatedByType = Annotated[Optional[ActorTypeName], Field(description="human or ai.")]
ExpectedUpdatedAt = Annotated[
    Optional[str], Field(max_length=40, description="updated_at you read; refused if changed.")
]
# Shared by tasks_create and tasks_update.
Priority = Annotated[Optional[PriorityName], Field(description="Default normal.")]
Labels = Annotated[
    Optional[list[Annotated[str, Field(max_length=50)]]], Field(max_length=20, description="Tags; replaces the set.")
]
DependsOn = Annotated[
    Optional[list[Annotated[int, Field(ge=1, le=ID_MAX)]]],
    Field(max_length=100, description="Ids to complete before this starts; replaces the set."),
]

READ = ToolAnnotations(**READ_ONLY)  # the hints the spec's defaults do not already give (tools/lean_schema.py)
WRITE = ToolAnnotations(**WRITES)
DELETE = ToolAnnotations(**DESTROYS)


def register_task_tools(mcp: MCPServer) -> None:
    @mcp.tool(title="List tasks", annotations=READ, structured_output=False)
    def tasks_list(
        ctx: Context,
        status: Annotated[Optional[StatusName], Field(description="Only tasks in this status.")] = None,
        type: Annotated[Optional[TypeName], Field(description="Only tasks of this type.")] = None,
        search: Annotated[
            Optional[str],
            Field(max_length=200, description="Words all in title or description, literally."),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Page size.")] = 50,
        offset: Annotated[int, Field(ge=0, le=10_000_000, description="Rows to skip (use next_offset).")] = 0,
        parent_task_id: Annotated[Optional[int], Field(ge=1, le=ID_MAX, description="Only subtasks of this task.")] = None,
        assignee: Annotated[Optional[Name], Field(description="Only tasks ever assigned to them.")] = None,
        cursor: Annotated[Optional[str], Field(max_length=200, description="next_cursor of the previous page; replaces offset.")] = None,
        priority: Annotated[Optional[PriorityName], Field(description="Only this priority.")] = None,
        label: Annotated[Optional[str], Field(max_length=50, description="Only with this label.")] = None,
        ready: Annotated[Optional[bool], Field(description="true: pending, unblocked; false: blocked.")] = None,
    ) -> Annotated[CallToolResult, TaskPage]:
        """List tasks, newest first, with filters and search. Compact rows; tasks_get has the details."""
        page = app(ctx).repository.list_tasks(
            status=status, type=type, search=search, parent_task_id=parent_task_id,
            assignee=assignee, limit=limit, offset=offset, cursor=check_cursor(cursor), priority=priority, label=label,
            ready=ready,
        )
        return respond(TaskPage(**page))

    @mcp.tool(title="Get a task", annotations=READ, structured_output=False)
    def tasks_get(ctx: Context, id: TaskId) -> Annotated[CallToolResult, TaskDetail]:
        """One task with assignments, results, history, subtasks, parent, dependencies and lease holder."""
        return respond(TaskDetail(**app(ctx).repository.get_task(id)))

    @mcp.tool(title="Create a task", annotations=WRITE, structured_output=False)
    def tasks_create(
        ctx: Context,
        title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX, description="Short task title.")],
        description: Annotated[Optional[str], Field(max_length=TEXT_MAX, description="Full description.")] = None,
        type: Annotated[TypeName, Field(description="Who may do it: human_task, ai_task or mixed.")] = "ai_task",
        parent_task_id: Annotated[Optional[int], Field(ge=1, le=ID_MAX, description="Parent (an open task).")] = None,
        due_date: Annotated[Optional[str], Field(max_length=40, description="ISO 8601, e.g. 2026-12-31T17:00:00Z.")] = None,
        metadata: Annotated[Optional[dict[str, Any]], Field(description="JSON object of extra data.")] = None,
        created_by: Annotated[Optional[Name], Field(description="Default: you.")] = None,
        created_by_type: Annotated[Optional[ActorTypeName], Field(description="human or ai.")] = None,
        priority: Priority = None,
        labels: Labels = None,
        depends_on: DependsOn = None,
    ) -> Annotated[CallToolResult, Task]:
        """Create a task (status pending). Returns it with its id and uuid."""
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
        title: Annotated[Optional[str], Field(min_length=1, max_length=TITLE_MAX, description="New title.")] = None,
        description: Annotated[Optional[str], Field(max_length=TEXT_MAX, description="New description.")] = None,
        type: Annotated[Optional[TypeName], Field(description="New type.")] = None,
        due_date: Annotated[Optional[str], Field(max_length=40, description="New ISO 8601 due date; \"\" clears it.")] = None,
        metadata: Annotated[Optional[dict[str, Any]], Field(description="Replaces the metadata object.")] = None,
        parent_task_id: Annotated[Optional[int], Field(ge=0, le=ID_MAX, description="New parent; 0 makes it top-level.")] = None,
        priority: Priority = None,
        labels: Labels = None,
        depends_on: DependsOn = None,
        updated_by: UpdatedBy = None,
        updated_by_type: UpdatedByType = None,
        expected_updated_at: ExpectedUpdatedAt = None,
    ) -> Annotated[CallToolResult, Task]:
        """Change a task's fields (not its status: use tasks_status). Give at least one field."""
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
        status: Annotated[StatusName, Field(description="New status.")],
        updated_by: UpdatedBy = None,
        updated_by_type: UpdatedByType = None,
        expected_updated_at: ExpectedUpdatedAt = None,
    ) -> Annotated[CallToolResult, Task]:
        """Move a task: pending→in_progress|cancelled; in_progress→completed|failed|cancelled|pending; failed→pending|cancelled. in_progress needs completed blockers; takes a lease. Refused if another agent moved or holds it."""
        state = app(ctx)
        who, kind = actor(state, updated_by, updated_by_type)
        task = state.repository.set_status(
            id, TaskStatus(status), actor=who, actor_type=kind, expected_updated_at=expected_updated_at, session=own_name(state)
        )
        return respond(Task(**task))

    @mcp.tool(title="Assign a task", annotations=WRITE, structured_output=False)
    def tasks_assign(
        ctx: Context,
        id: TaskId,
        assignee: Annotated[Name, Field(description="Person or AI that takes the task.")],
        assignee_type: Annotated[ExecutorName, Field(description="human_task: human; ai_task: ollama, claude, anthropic_api; mixed: any.")],
        model_name: Annotated[Optional[Name], Field(description="Model, if an AI.")] = None,
        notes: Annotated[Optional[str], Field(max_length=TEXT_MAX, description="Notes for the assignee.")] = None,
        assigned_by: Annotated[Optional[Name], Field(description="Default: you.")] = None,
    ) -> Annotated[CallToolResult, Assignment]:
        """Assign an open task (pending, in_progress) to a person or AI. Does not change the status."""
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
        response: Annotated[str, Field(min_length=1, max_length=1_000_000, description="The answer or work product.")],
        executor: Annotated[Name, Field(description="Who produced it, e.g. claude.")],
        executor_type: Annotated[ExecutorName, Field(description="Kind of executor.")],
        model_name: Annotated[Optional[Name], Field(description="Model used.")] = None,
        status: Annotated[Literal["success", "error", "partial"], Field(description="Outcome.")] = "success",
        tokens_input: Annotated[Optional[int], Field(ge=0, le=4_294_967_295, description="Input tokens.")] = None,
        tokens_output: Annotated[Optional[int], Field(ge=0, le=4_294_967_295, description="Output tokens.")] = None,
        cost_usd: Annotated[Optional[float], Field(ge=0, le=9999.999999, description="Cost in USD.")] = None,
        error_message: Annotated[Optional[str], Field(max_length=TEXT_MAX, description="What went wrong, if status is error.")] = None,
        request: Annotated[Optional[str], Field(max_length=TEXT_MAX, description="The prompt or request.")] = None,
        duration_ms: Annotated[Optional[int], Field(ge=0, le=4_294_967_295, description="How long it took.")] = None,
    ) -> Annotated[CallToolResult, Result]:
        """Record a result (tokens_total computed). Does not change the status."""
        if (tokens_input or 0) + (tokens_output or 0) > 4_294_967_295:
            raise InvalidInput("tokens_input + tokens_output exceeds 4294967295, the largest tokens_total that fits.")
        state = app(ctx)
        result = state.repository.add_result(
            id, response=response, executor=executor, executor_type=ExecutorType(executor_type), model_name=model_name,
            status=ResultStatus(status), tokens_input=tokens_input, tokens_output=tokens_output, cost_usd=cost_usd,
            error_message=rules.text_bytes("error_message", error_message), request=rules.text_bytes("request", request),
            duration_ms=duration_ms, actor_type=actor(state, None, "human" if executor_type == "human" else "ai")[1],
        )
        return respond(Result(**result))

    @mcp.tool(title="Delete a task", annotations=DELETE, structured_output=False)
    def tasks_delete(
        ctx: Context,
        id: TaskId,
        deleted_by: Annotated[Optional[Name], Field(description="Default: you.")] = None,
    ) -> Annotated[CallToolResult, Deleted]:
        """Delete a task with its assignments, results and comments; its subtasks become top-level. Cannot be undone."""
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
        content: Annotated[str, Field(min_length=1, max_length=TEXT_MAX, description="The comment text.")],
        author: Annotated[Optional[Name], Field(description="Default: you.")] = None,
        author_type: Annotated[Optional[ActorTypeName], Field(description="human or ai.")] = None,
        comment_type: Annotated[Literal["comment", "note"], Field(description="comment or note.")] = "comment",
    ) -> Annotated[CallToolResult, Comment]:
        """Add a comment to a task's history. From its holder it renews the lease: the cheapest "still working"."""
        state = app(ctx)
        who, kind = actor(state, author, author_type)
        comment = state.repository.add_comment(
            id, content=rules.text_bytes("content", content), author=who, author_type=kind, comment_type=comment_type,
        )
        return respond(Comment(**comment))
