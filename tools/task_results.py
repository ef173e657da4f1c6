"""The task tools' results: the models behind each tool's structuredContent and outputSchema
(tools/output_schemas.json is generated from them, keyed by class name). Built on first use
(ResultModel), so importing them costs a cold start little.
"""

from typing import Any, Literal, Optional

from pydantic import Field

from tools.common import ResultModel

Timestamp = Optional[str]


# A row of tasks_list. detail="compact" (the default) carries the first five fields, a page
# of 50 realistic tasks in 6 KB instead of 23 (issue 26); "summary" all of them. A field a
# row leaves out is absent, not null (respond(..., exclude_unset=True)).
class TaskRow(ResultModel):
    id: int
    title: str
    status: str
    priority: str
    labels: list[str]
    type: Optional[str] = None
    description_preview: Optional[str] = None
    created_by: Optional[str] = None
    parent_task_id: Optional[int] = None
    due_date: Timestamp = None
    created_at: Timestamp = None
    updated_at: Timestamp = None


COMPACT_FIELDS = ("id", "title", "status", "priority", "labels")


class TaskPage(ResultModel):
    tasks: list[TaskRow]
    total: int = Field(description="Matching tasks; a lower bound when total_exact is false.")
    total_exact: bool
    next_offset: Optional[int] = Field(description="offset of the next page; null on the last page.")
    next_cursor: Optional[str] = Field(default=None, description="cursor of the next page (same cost at any depth); null on the last page.")


def page_of(page: dict[str, Any], detail: str) -> "TaskPage":
    """The repository's page as tasks_list answers it at this detail level."""
    rows = page["tasks"] if detail == "summary" else [{k: row[k] for k in COMPACT_FIELDS} for row in page["tasks"]]
    return TaskPage(**{**page, "tasks": [TaskRow(**row) for row in rows]})


class Task(ResultModel):
    id: int
    uuid: str
    title: str
    description: Optional[str]
    type: str
    status: str
    created_by: str
    created_by_type: str
    parent_task_id: Optional[int]
    due_date: Timestamp
    created_at: Timestamp
    updated_at: Timestamp = Field(description="Pass back as expected_updated_at to refuse lost updates.")
    completed_at: Timestamp
    metadata: Optional[dict[str, Any]]
    priority: str = "normal"
    labels: list[str] = []


class TaskRef(ResultModel):
    id: int
    title: str
    status: str


class Assignment(ResultModel):
    id: int
    task_id: int
    assignee: str
    assignee_type: str
    model_name: Optional[str]
    assigned_by: str
    assigned_by_type: str
    status: str
    assigned_at: Timestamp
    accepted_at: Timestamp
    completed_at: Timestamp
    notes: Optional[str]


class Result(ResultModel):
    id: int
    task_id: int
    assignment_id: Optional[int]
    executor: str
    executor_type: str
    model_name: Optional[str]
    request: Optional[str]
    response: Optional[str]
    response_truncated: bool = False
    request_timestamp: Timestamp
    response_timestamp: Timestamp
    duration_ms: Optional[int]
    tokens_input: Optional[int]
    tokens_output: Optional[int]
    tokens_total: Optional[int]
    cost_usd: Optional[float]
    status: str
    error_message: Optional[str]
    created_at: Timestamp


class Comment(ResultModel):
    id: int
    task_id: int
    author: str
    author_type: str
    comment_type: str
    content: str
    metadata: Optional[dict[str, Any]]
    created_at: Timestamp


class TaskDetail(Task):
    parent: Optional[TaskRef]
    subtasks: list[TaskRef] = Field(description="The first 50, by id.")
    subtasks_truncated: bool
    assignments: list[Assignment]
    results: list[Result] = Field(description="The newest 10, oldest first.")
    results_truncated: bool
    comments: list[Comment] = Field(description="History, oldest first (the newest 50).")
    comments_truncated: bool
    depends_on: list[TaskRef] = Field(description="Blockers: must be completed before this task may start.")
    blocks: list[TaskRef] = Field(description="Tasks waiting for this one (the first 100).")
    blocks_truncated: bool
    ready: Optional[bool] = Field(description="Pending with every blocker completed; null unless pending.")
    held_by: Optional[str] = Field(description="Who holds the task's lease (in_progress).")
    lease_expires_at: Timestamp
    lease_expired: Optional[bool] = Field(description="The holder may still finish while nobody else takes it.")
    more: Optional[str] = Field(description="What was left out and the call that reads it; null when nothing was.")


def detail_of(task: dict[str, Any]) -> TaskDetail:
    """tasks_get's answer: the task, and in `more` the calls that read what its bounds cut."""
    tid, left_out = task["id"], []
    if task["comments_truncated"] and task["comments"]:
        left_out.append(f"older comments: tasks_get(id={tid}, comments_before={task['comments'][0]['id']})")
    if task["results_truncated"] and task["results"]:
        left_out.append(f"older results: tasks_get(id={tid}, results_before={task['results'][0]['id']})")
    if task["subtasks_truncated"]:
        left_out.append(f"every subtask: tasks_list(parent_task_id={tid})")
    if task["blocks_truncated"]:
        left_out.append("tasks it blocks past the first 100 (each one's tasks_get names this task in depends_on)")
    return TaskDetail(**task, more=("Left out: " + "; ".join(left_out) + ".") if left_out else None)


class Deleted(ResultModel):
    deleted: TaskRef
    assignments_deleted: int
    results_deleted: int
    comments_deleted: int
    subtasks_now_top_level: list[int]


class ModelUsage(ResultModel):
    model_name: Optional[str]
    executor_type: str
    results: int
    tokens_input: int
    tokens_output: int
    tokens_total: int
    cost_usd: float
    avg_duration_ms: Optional[float]


class Statistics(ResultModel):
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    ready: Optional[int] = Field(description="Pending tasks whose blockers are all completed; null past 5,000 dependencies.")
    blocked: Optional[int] = Field(description="Pending tasks still waiting for a blocker; null past 5,000 dependencies.")
    by_priority: dict[str, int] = Field(description="Pending tasks by priority.")
    results: int
    tokens_input: int
    tokens_output: int
    tokens_total: int
    cost_usd: float
    models: list[ModelUsage]


class Claimed(ResultModel):
    claimed: bool
    task: Optional[Task] = Field(description="The task now in_progress for you; null when none matched.")
    assignment_id: Optional[int]
    lease_expires_at: Timestamp = Field(description="Finish, or write to the task to renew, before this.")
    message: str


class Execution(ResultModel):
    state: Literal["finished", "started"] = Field(description="started: wait=false, the result lands later (tasks_get).")
    task_id: int
    model: str
    assignment_id: int
    task_status: str
    result_id: Optional[int] = None
    result_status: Optional[str] = None
    response: Optional[str] = None
    response_truncated: bool = False
    response_chars: Optional[int] = None
    tokens_input: Optional[int] = None
    tokens_output: Optional[int] = None
    tokens_total: Optional[int] = None
    duration_ms: Optional[int] = None
    cost_usd: Optional[float] = None
    note: Optional[str] = None
