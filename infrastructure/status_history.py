"""What the board's "tasks by status over time" chart is drawn from: the tasks created and
the status moves of a recent window, read from the history every write already leaves
(`task_comments` rows of type status_change carry {"from": ..., "to": ...}).

Bounded at any table size: both reads seek the created_at indexes (idx_tasks_created_at,
idx_comments_created) from the newest row down and stop at a cap, so a busy history shortens
the window instead of making the page slow. The board walks the moves back from today's
counts (web/charts.py); tasks deleted meanwhile are not in the history, so older points may
be a little off, never negative.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from infrastructure.database import Database
from infrastructure.tx import Tx

EVENTS_CAP = 20_000  # rows of each kind read for one chart


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return str(value)


def status_history(db: Database, days: int = 30, cap: int = EVENTS_CAP) -> dict[str, Any]:
    """{"now", "since", "created": [time, ...], "moves": [(time, from, to), ...], "capped"}, newest first."""

    def run(tx: Tx) -> dict[str, Any]:
        if tx.dialect == "mysql":
            since_sql = "NOW(6) - INTERVAL %s DAY"
        else:
            since_sql = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || %s || ' days')"
        clock = tx.row(f"SELECT {tx.now} AS now, {since_sql} AS since", [days])
        created = tx.rows(
            f"SELECT created_at FROM tasks WHERE created_at >= {since_sql} ORDER BY created_at DESC LIMIT %s", [days, cap]
        )
        moves = tx.rows(
            f"SELECT created_at, metadata FROM task_comments WHERE created_at >= {since_sql} "
            "AND comment_type = 'status_change' ORDER BY created_at DESC LIMIT %s",
            [days, cap],
        )
        out_moves = []
        for row in moves:
            try:
                meta = json.loads(row["metadata"]) if row["metadata"] else {}
            except ValueError:
                continue
            if isinstance(meta, dict) and meta.get("from") and meta.get("to"):
                out_moves.append((_iso(row["created_at"]), str(meta["from"]), str(meta["to"])))
        since = _iso(clock["since"])
        capped = len(created) >= cap or len(moves) >= cap
        if capped:
            # Only the stretch both lists cover completely is drawn.
            oldest = [_iso(rows[-1]["created_at"]) for rows in (created, moves) if len(rows) >= cap]
            since = max([since, *oldest])
        return {
            "now": _iso(clock["now"]), "since": since, "capped": capped,
            "created": [t for t in (_iso(r["created_at"]) for r in created) if t >= since],
            "moves": [m for m in out_moves if m[0] >= since],
        }

    return db.read(run)
