"""Triggers that put other programs' writes on the change feed (MariaDB here; SQLite's in
sql/sqlite/0009.foreign-writes.sql).

Every write of this server adds its own task_changes row (with a precise kind and the actor,
infrastructure/change_feed.py) and keeps the priority queue's copy of a task in step
(task_priorities.queued and due_sort). The web app, a script or a person in the mysql
client writing to the same tables does neither. These triggers do it for them: a task the
web app completes reaches subscribers and the board within a poll, and a priority task it
sets back to pending is claimed in its priority's turn again instead of as a normal task.

Our connections set the session variable @mcp_tasks_writer (Database's pool), so the
triggers stay silent for our own writes: no change is announced twice.

Why not a migration: CREATE TRIGGER needs the TRIGGER privilege (and, with binary logging,
SUPER or log_bin_trust_function_creators=1). Without it the server must still install and
work, only other programs' writes go unannounced; and once an administrator grants it, the
next `init-db` must create them. So init-db ensures them on every run (one look in
information_schema when they exist), and doctor says when they are missing.

SQLite: another program (the sqlite3 shell, a script) may write to the file too. Its triggers
come with a migration (no privileges there), and they stay silent while the table
mcp_tasks_writing holds a row: each of our write transactions inserts one first and deletes
it before COMMIT. SQLite admits one writer at a time, so no other writer ever sees it, and a
transaction that fails rolls it back with the rest.
"""
from __future__ import annotations

import logging
from typing import Any

from infrastructure.command_name import init_db

log = logging.getLogger(__name__)

WRITER_VARIABLE = "@mcp_tasks_writer"
MARK_OUR_SESSION = f"SET {WRITER_VARIABLE} = 1"
SQLITE_MARK_TABLE = "mcp_tasks_writing"
MARK_OUR_SQLITE_WRITE = f"INSERT OR REPLACE INTO {SQLITE_MARK_TABLE} (writer) VALUES (1)"
UNMARK_OUR_SQLITE_WRITE = f"DELETE FROM {SQLITE_MARK_TABLE}"

# Kept in step with infrastructure/repository/work_order.py: queued while pending, DUE_SORT order.
_REQUEUE = (
    "UPDATE task_priorities SET queued = (NEW.status = 'pending'), "
    "due_sort = COALESCE(NEW.due_date, '9999-12-31 23:59:59') WHERE task_id = NEW.id;"
)


# The history row another program's deletion of a blocker leaves on each dependent (SQLite's
# twin is sql/sqlite/0013.foreign-blocker-delete.sql, which must say the same).
FOREIGN_AUTHOR = "another program"
BLOCKER_GONE = " was deleted by another program; the dependency on it is gone"


def _feed(task: str, kind: str, actor: str = "NULL") -> str:
    return f"INSERT INTO task_changes (task_id, kind, actor) VALUES ({task}, {kind}, LEFT({actor}, 100));"


TRIGGERS: dict[str, tuple[str, str]] = {
    "mcp_tasks_feed_task_insert": ("AFTER INSERT ON tasks", _feed("NEW.id", "'created'")),
    "mcp_tasks_feed_task_update": (
        "AFTER UPDATE ON tasks",
        _feed("NEW.id", "IF(NEW.status <=> OLD.status, 'updated', 'status')")
        + f" IF NOT (NEW.status <=> OLD.status AND NEW.due_date <=> OLD.due_date) THEN {_REQUEUE} END IF;",
    ),
    "mcp_tasks_feed_task_delete": ("AFTER DELETE ON tasks", _feed("OLD.id", "'deleted'")),
    # Before the cascade takes the edges: each dependent's history says its blocker went (and
    # so why it may be ready now), as tasks_delete says it for ours. Its comment trigger feeds it.
    "mcp_tasks_feed_blocker_delete": (
        "BEFORE DELETE ON tasks",
        "INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata) "
        f"SELECT task_id, '{FOREIGN_AUTHOR}', 'human', 'update', "
        f"CONCAT('Blocker task ', OLD.id, '{BLOCKER_GONE}'), JSON_OBJECT('deleted_blocker', OLD.id) "
        "FROM task_dependencies WHERE depends_on_id = OLD.id;",
    ),
    "mcp_tasks_feed_comment": ("AFTER INSERT ON task_comments", _feed("NEW.task_id", "'comment'", "NEW.author")),
    "mcp_tasks_feed_assignment": ("AFTER INSERT ON task_assignments", _feed("NEW.task_id", "'assigned'", "NEW.assignee")),
    "mcp_tasks_feed_assignment_update": ("AFTER UPDATE ON task_assignments", _feed("NEW.task_id", "'assigned'", "NEW.assignee")),
    "mcp_tasks_feed_result": ("AFTER INSERT ON task_results", _feed("NEW.task_id", "'result'", "NEW.executor")),
}

MISSING_ADVICE = (
    "writes by other programs (the web app) do not reach subscribers or the board, and a priority task they "
    "set back to pending is claimed as a normal one. Grant the database user TRIGGER (with binary logging also "
    f"set log_bin_trust_function_creators=1), then run `{init_db()}` again."
)


PRESENT_SQL = "SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"


def missing_triggers(present: set[str]) -> list[str]:
    return [name for name in TRIGGERS if name not in present]


def ensure_triggers(cursor: Any) -> list[str]:
    """Create the missing triggers; returns the names created. A refusal (privileges) is
    logged with what is lost and how to get it, and is not an error: see the module doc."""
    cursor.execute(PRESENT_SQL)
    created = []
    for name in missing_triggers({row[0] for row in cursor.fetchall()}):
        event, body = TRIGGERS[name]
        try:
            cursor.execute(f"CREATE TRIGGER {name} {event} FOR EACH ROW BEGIN IF {WRITER_VARIABLE} IS NULL THEN {body} END IF; END")
        except Exception as exc:  # noqa: BLE001 - the server works without them
            log.warning("could not create trigger %s (%s): %s", name, exc, MISSING_ADVICE)
            break
        created.append(name)
    return created
