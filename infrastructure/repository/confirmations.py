"""What an irreversible step would cost, read before a person is asked to confirm it: what a
deletion takes with it, and who else holds a task that a cancel would take away from.

Belongs here: the reads behind a confirmation question (tools/confirmations.py asks it). They
change nothing; the step itself runs later, in its own transaction, with its own checks.
"""
from __future__ import annotations

from typing import Any, Iterable

from infrastructure.tx import Tx
from infrastructure.repository.base import _text_time
from infrastructure.repository.leases import LeasesMixin

OTHERS_NAMED = 3  # a question names at most this many other commenters


class ConfirmationsMixin(LeasesMixin):
    def deletion_losses(self, task_id: int, caller: Iterable[str]) -> dict[str, Any]:
        """What deleting the task loses beyond the task itself: its results, the comments and
        notes others wrote on it (the caller's own are its to throw away), and the subtasks
        that lose their parent. `caller`: the caller's names (its actor and its session)."""
        names = sorted({n for n in caller if n}) or [""]
        marks = ", ".join(["%s"] * len(names))

        def run(tx: Tx) -> dict[str, Any]:
            row = self._task_row(tx, task_id)
            others = tx.rows(
                "SELECT author, COUNT(*) AS n FROM task_comments WHERE task_id = %s "
                f"AND comment_type IN ('comment', 'note') AND author NOT IN ({marks}) GROUP BY author ORDER BY author",
                [task_id, *names],
            )
            return {
                "id": task_id,
                "title": row["title"],
                "results": int(tx.value("SELECT COUNT(*) AS n FROM task_results WHERE task_id = %s", [task_id])),
                "subtasks": int(tx.value("SELECT COUNT(*) AS n FROM tasks WHERE parent_task_id = %s", [task_id])),
                "others_comments": sum(int(r["n"]) for r in others),
                "other_authors": [r["author"] for r in others[:OTHERS_NAMED]],
                "more_authors": max(0, len(others) - OTHERS_NAMED),
            }

        return self.db.read(run)

    def foreign_live_lease(self, task_id: int, caller: Iterable[str]) -> dict[str, Any] | None:
        """The task's title and its holder when somebody other than the caller holds it under a
        lease that has not run out; None otherwise (nobody, the caller, or a lapsed lease)."""
        names = {n for n in caller if n}

        def run(tx: Tx) -> dict[str, Any] | None:
            row = self._task_row(tx, task_id)
            if row["status"] != "in_progress":
                return None
            lease = self._lease(tx, task_id)
            if not lease or not lease["holder"] or int(lease["expired"]) or self._names(lease) & names:
                return None
            return {
                "id": task_id, "title": row["title"], "holder": lease["holder"], "holder_type": lease["holder_type"],
                "until": _text_time(lease["expires_at"]),
            }

        return self.db.read(run)
