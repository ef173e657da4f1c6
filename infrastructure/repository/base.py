"""What every part of the task repository shares: constants of the row shapes, row conversion
(database values to the tools' dicts), list cursors, and RepositoryBase, which holds the
repository's state and the Tx helpers that several parts use (read a task row, lock a status,
write a history comment, insert an active assignment or a result).

Belongs here: anything used by two or more of reads, search, statistics, writes, leases and
execution. Code used by one part lives in that part's module.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.errors import InvalidInput, NotFound
from domain.models import ID_MAX, ActorType, CommentType, ExecutorType, ResultStatus
from infrastructure.change_feed import change_kind, record_change
from infrastructure.database import Database
from infrastructure.tx import Tx
from infrastructure.tx import text_time as _text_time
from infrastructure.repository.work_order import WorkOrder

log = logging.getLogger(__name__)
PREVIEW_CHARS = 160
COUNT_CAP = 1_000  # beyond this a list says "1000+" instead of counting every row (0.3 ms vs 2.6 ms at 10,000)
# tasks_get's bounds (issue 26): past them a list is cut and the answer says how to read the rest.
GET_COMMENTS_MAX = 50  # the newest comments
GET_RESULTS_MAX = 10  # the newest results (each up to GET_RESPONSE_CHARS of response)
GET_SUBTASKS_MAX = 50  # the first subtasks, by id
GET_RESPONSE_CHARS = 10_000
TASK_COLUMNS = (
    "id, uuid, title, description, type, status, created_by, created_by_type, parent_task_id, "
    "due_date, created_at, updated_at, completed_at, metadata"
)
LIST_COLUMNS = (
    "id, title, SUBSTR(COALESCE(description, ''), 1, {n}) AS description_preview, "
    "{length}(COALESCE(description, '')) AS description_length, type, status, created_by, "
    "parent_task_id, due_date, created_at, updated_at"
)


def _ref(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(row["id"]), "title": row["title"], "status": row["status"]}


def _db_time(value: Any) -> str:
    """A timestamp read from the database, as text to bind in a later statement: the database's
    own form ('YYYY-MM-DD HH:MM:SS.ffffff'), which SQLite compares as text."""
    return value if isinstance(value, str) else value.isoformat(sep=" ", timespec="microseconds")


def _json(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None  # the web app may have stored something else; show nothing rather than fail


def _task(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "id": int(row["id"]),
        "parent_task_id": int(row["parent_task_id"]) if row["parent_task_id"] is not None else None,
        "due_date": _text_time(row["due_date"]),
        "created_at": _text_time(row["created_at"]),
        "updated_at": _text_time(row["updated_at"]),
        "completed_at": _text_time(row["completed_at"]),
        "metadata": _json(row["metadata"]),
    }


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime) or (key.endswith(("_at", "_timestamp")) and isinstance(value, str)):
            value = _text_time(value)
        elif isinstance(value, Decimal):
            value = float(value)
        out[key] = value
    return out


def encode_cursor(created_at: str, task_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{task_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, task_id = text.rpartition("|")
        datetime.fromisoformat(created_at)
        return created_at, int(task_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"cursor={cursor[:40]!r} is not a cursor from tasks_list. Pass next_cursor unchanged, or leave it out.") from None


def _check_task_id(task_id: int) -> None:
    """An id no row can have is refused as unknown before it reaches the driver: past BIGINT
    SQLite's binding overflows and MariaDB compares it as a float. The tools bound ids in their
    argument models; the board's URLs and other callers reach the repository with any int."""
    if not 1 <= task_id <= ID_MAX:
        raise NotFound(f"Task {str(task_id)[:24]} does not exist. Find ids with tasks_list (e.g. search=...).")


class RepositoryBase:
    """The repository's state and the Tx helpers every part uses."""

    def __init__(self, db: Database, *, quality_gate: bool = True, lease_minutes: float = 30.0, max_attempts: int = 3):
        self.db = db
        self.quality_gate = quality_gate
        self.lease_seconds = max(1, round(lease_minutes * 60))
        self.max_attempts = max_attempts
        self._fulltext: bool | None = None
        self._usage_lock = threading.Lock()
        self._usage_cache: tuple[dict, int, float] | None = None
        self._leases: bool | None = None
        self._changes: bool | None = None  # whether task_changes exists (migration 0008); asked once
        self._skip_locked: bool | None = None
        self._unreapable: dict[int, float] = {}  # task id -> monotonic time until which the reaper skips it
        self.work = WorkOrder()

    @staticmethod
    def _list_columns(tx: Tx) -> str:
        # CHAR_LENGTH counts characters on MariaDB (LENGTH counts bytes); SQLite's LENGTH counts characters.
        return LIST_COLUMNS.format(n=PREVIEW_CHARS + 1, length="CHAR_LENGTH" if tx.dialect == "mysql" else "LENGTH")

    def _task_row(self, tx: Tx, task_id: int, lock: bool = False) -> dict[str, Any]:
        _check_task_id(task_id)
        row = tx.row(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = %s{tx.for_update if lock else ''}", [task_id])
        if row is None:
            raise NotFound(f"Task {task_id} does not exist. Find ids with tasks_list (e.g. search=...).")
        return row

    @staticmethod
    def _locked_status(tx: Tx, task_id: int) -> dict[str, Any] | None:
        """A task's id and status, its row locked until the transaction ends; None if it is gone."""
        return tx.row(f"SELECT id, status FROM tasks WHERE id = %s{tx.for_update}", [task_id])

    @staticmethod
    def _insert_active_assignment(
        tx: Tx, task_id: int, assignee: str, assignee_type: ExecutorType, model_name: str | None,
        assigned_by: str, assigned_by_type: ActorType, notes: str,
    ) -> int:
        """An assignment that is already being worked on (a claim, a model run): in_progress, accepted now."""
        return tx.insert(
            "INSERT INTO task_assignments (task_id, assignee, assignee_type, model_name, assigned_by, assigned_by_type, "
            f"status, assigned_at, accepted_at, notes) VALUES (%s, %s, %s, %s, %s, %s, 'in_progress', {tx.now}, {tx.now}, %s)",
            [task_id, assignee, assignee_type.value, model_name, assigned_by, assigned_by_type.value, notes],
        )

    def _insert_result(
        self, tx: Tx, task_id: int, assignment_id: int | None, executor: str, executor_type: ExecutorType,
        actor_type: ActorType, model_name: str | None, request: str | None, response: str, requested_at: str | None,
        duration_ms: int | None, tokens_input: int | None, tokens_output: int | None, cost_usd: float | None,
        status: ResultStatus, error_message: str | None, *, show_duration: bool = False,
    ) -> tuple[int, int | None]:
        """A task_results row (tokens_total computed) and its history comment; (result id, tokens_total).

        requested_at: when the request went out (database clock, read at the start); None means now.
        """
        total = (tokens_input or 0) + (tokens_output or 0) if tokens_input is not None or tokens_output is not None else None
        requested = "%s" if requested_at is not None else tx.now
        result_id = tx.insert(
            "INSERT INTO task_results (task_id, assignment_id, executor, executor_type, model_name, request, response, "
            "request_timestamp, response_timestamp, duration_ms, tokens_input, tokens_output, tokens_total, cost_usd, "
            f"status, error_message, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, {requested}, {tx.now}, "
            f"%s, %s, %s, %s, %s, %s, %s, {tx.now})",
            [task_id, assignment_id, executor, executor_type.value, model_name, request, response,
             *([requested_at] if requested_at is not None else []), duration_ms, tokens_input, tokens_output, total,
             cost_usd, status.value, error_message],
        )
        tokens = f", {total} tokens" if total is not None else ""
        took = f", {duration_ms} ms" if show_duration else ""
        self._history(
            tx, task_id, executor, actor_type, CommentType.RESULT,
            f"Result ({status.value}) by {executor}{tokens}{took}", {"result_id": result_id, "status": status.value},
        )
        return result_id, total

    def _history(
        self, tx: Tx, task_id: int, author: str, author_type: ActorType, comment_type: CommentType | str,
        content: str, metadata: dict | None = None,
    ) -> int:
        kind = comment_type.value if isinstance(comment_type, CommentType) else comment_type
        if not kind or len(kind) > 50:
            raise InvalidInput(f"comment_type={kind!r} must be 1 to 50 characters.")
        comment_id = tx.insert(
            f"INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata, created_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, {tx.now})",
            [task_id, author, author_type.value, kind, content, json.dumps(metadata, ensure_ascii=False) if metadata is not None else None],
        )
        self._record_change(tx, task_id, change_kind(kind, metadata), author)
        return comment_id

    def _record_change(self, tx: Tx, task_id: int, kind: str, actor: str | None) -> None:
        """The change feed's row for this change, in its transaction (infrastructure/change_feed.py).
        A database the web app made, not yet brought up to date by init-db, has no feed table:
        writes go on, and subscriptions see nothing until init-db runs and the server restarts."""
        if self._changes is None:
            self._changes = tx.has_table("task_changes")
            if not self._changes:
                log.warning("table task_changes is missing: no change feed, subscriptions stay silent; run `python server.py init-db`")
        if self._changes:
            record_change(tx, task_id, kind, actor)
