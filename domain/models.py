"""The values of the task system: the enums of the shared tables and the row shapes.

The enum members mirror the ENUM columns of the MariaDB schema exactly; other programs
(the web app, the CLI) write the same values.
"""
from __future__ import annotations

from enum import Enum


class TaskStatus(str, Enum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskType(str, Enum):
    HUMAN_TASK = "human_task"
    AI_TASK = "ai_task"
    MIXED = "mixed"


class ActorType(str, Enum):
    """Who created or changed something: ``created_by_type``, ``assigned_by_type``, ..."""

    HUMAN = "human"
    AI = "ai"


class ExecutorType(str, Enum):
    """``assignee_type`` of an assignment and ``executor_type`` of a result."""

    HUMAN = "human"
    OLLAMA = "ollama"
    CLAUDE = "claude"
    ANTHROPIC_API = "anthropic_api"


class AssignmentStatus(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class ResultStatus(str, Enum):
    SUCCESS = "success"
    ERROR = "error"
    PARTIAL = "partial"


class CommentType(str, Enum):
    COMMENT = "comment"
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    ASSIGNMENT = "assignment"
    RESULT = "result"
    UPDATE = "update"
    QUALITY_CHECK = "quality_check"


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED})
OPEN_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS})

# Column lengths of the shared schema; inputs are checked against them before any SQL runs.
ID_MAX = 2**63 - 1  # the largest id both backends store (SQLite INTEGER, BIGINT)
TITLE_MAX = 255
NAME_MAX = 100  # created_by, assignee, assigned_by, executor, model_name, comment author
TEXT_MAX = 65_535  # TEXT columns (description, notes, request, error_message, comment content)
LONGTEXT_MAX = 16 * 1024 * 1024  # what we accept for a response; LONGTEXT itself allows 4 GiB
