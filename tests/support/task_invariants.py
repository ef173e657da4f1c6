"""What must hold in the task tables at every moment, read straight from the database
(sqlite3 or pymysql), not through the server under test.

`violations(con)` returns one line per broken rule; an empty list means the tables are
consistent:

- every status is one of the five; completed_at is set if and only if status is completed;
- no orphan rows: every assignment, result, comment and lease belongs to an existing task;
- every task has its creation comment, and its latest status comment names its status;
- every assignment has its history comment (an `assignment` comment, or for a claim the
  `status_change` comment, whose metadata.assignment_id is the assignment's id);
- every result has a `result` comment whose metadata.result_id is the result's id;
- a held lease belongs to an in_progress task;
- (subtasks=True) no subtask is pending, in_progress or failed under a completed parent.
"""
from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

STATUSES = {"pending", "in_progress", "completed", "failed", "cancelled"}
OPEN_CHILD = {"pending", "in_progress", "failed"}


def connect(url: str) -> Any:
    """A DB-API connection to the database a DATABASE_URL names (autocommit, read-only use)."""
    if url.startswith("sqlite:"):
        path = Path(url.split("://", 1)[1])
        con = sqlite3.connect(str(path), timeout=10, isolation_level=None)
        return con
    import pymysql

    from config import parse_database_url

    s = parse_database_url(url)
    return pymysql.connect(
        host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True, connect_timeout=5
    )


def _rows(con: Any, sql: str) -> list[tuple]:
    cur = con.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def _has_table(con: Any, name: str) -> bool:
    if isinstance(con, sqlite3.Connection):
        return bool(_rows(con, f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{name}'"))
    return bool(_rows(con, f"SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{name}'"))


def _meta(raw: Any) -> dict:
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def snapshot(con: Any) -> dict[str, list[tuple]]:
    """Every row that matters, read in one go (one transaction on MariaDB, so they agree)."""
    if not isinstance(con, sqlite3.Connection):
        _rows(con, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
    else:
        con.execute("BEGIN")
    try:
        return {
            "tasks": _rows(con, "SELECT id, status, completed_at, parent_task_id FROM tasks"),
            "comments": _rows(con, "SELECT id, task_id, comment_type, metadata FROM task_comments ORDER BY id"),
            "assignments": _rows(con, "SELECT id, task_id FROM task_assignments"),
            "results": _rows(con, "SELECT id, task_id FROM task_results"),
            "leases": _rows(con, "SELECT task_id, holder, expires_at FROM task_leases") if _has_table(con, "task_leases") else [],
        }
    finally:
        if isinstance(con, sqlite3.Connection):
            con.execute("COMMIT")
        else:
            _rows(con, "COMMIT")


def violations(con: Any, *, subtasks: bool = True) -> list[str]:
    data = snapshot(con)
    found: list[str] = []
    tasks = {int(t[0]): {"status": t[1], "completed_at": t[2], "parent": t[3]} for t in data["tasks"]}
    for task_id, t in tasks.items():
        if t["status"] not in STATUSES:
            found.append(f"task {task_id} has status {t['status']!r}")
        if (t["completed_at"] is not None) != (t["status"] == "completed"):
            found.append(f"task {task_id} is {t['status']} with completed_at={t['completed_at']!r}")

    comments_of: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    for comment_id, task_id, kind, raw in data["comments"]:
        if int(task_id) not in tasks:
            found.append(f"comment {comment_id} belongs to missing task {task_id}")
        comments_of[int(task_id)].append((kind, _meta(raw)))
    for table, rows in (("assignment", data["assignments"]), ("result", data["results"])):
        for row_id, task_id in rows:
            if int(task_id) not in tasks:
                found.append(f"{table} {row_id} belongs to missing task {task_id}")
    for task_id, holder, expires_at in data["leases"]:
        if int(task_id) not in tasks:
            found.append(f"lease of {holder!r} belongs to missing task {task_id}")
        elif holder is not None and expires_at is not None and tasks[int(task_id)]["status"] != "in_progress":
            found.append(f"task {task_id} is {tasks[int(task_id)]['status']} but {holder!r} still holds its lease")

    for task_id, t in tasks.items():
        history = comments_of.get(task_id, [])
        status_comments = [m for kind, m in history if kind == "status_change"]
        created = [m for m in status_comments if m.get("status") == "pending" and "from" not in m]
        if not created:
            found.append(f"task {task_id} has no creation comment")
        if status_comments:
            latest = status_comments[-1]
            said = latest.get("to", latest.get("status"))
            if said != t["status"]:
                found.append(f"task {task_id} is {t['status']} but its latest status comment says {said!r}")

    for assignment_id, task_id in data["assignments"]:
        recorded = {
            m.get("assignment_id") for kind, m in comments_of.get(int(task_id), []) if kind in ("assignment", "status_change")
        }
        if int(assignment_id) not in recorded:
            found.append(f"assignment {assignment_id} of task {task_id} has no history comment")
    for result_id, task_id in data["results"]:
        recorded = {m.get("result_id") for kind, m in comments_of.get(int(task_id), []) if kind == "result"}
        if int(result_id) not in recorded:
            found.append(f"result {result_id} of task {task_id} has no result comment")

    if subtasks:
        for task_id, t in tasks.items():
            parent = tasks.get(int(t["parent"])) if t["parent"] is not None else None
            if parent and parent["status"] == "completed" and t["status"] in OPEN_CHILD:
                found.append(f"subtask {task_id} is {t['status']} under completed parent {t['parent']}")
    return found
