"""A person's review over an agent's lease: approve (completed) and send back (pending).

The rule (README "Review"): recording a result does not hand a task over. The agent keeps
its lease and may record more results; a task in progress with a result "waits for review".
A review is a person's decision, like a cancel: it overrides the lease, ends it, and the
history row of the move names the reviewer and whose lease ended (its metadata keeps
`review`, `lease_of` and `lease_session`). The former holder's next status move or result on
that task is then refused with the reviewer's name, until it claims the task again (its
claim is a newer status change, which lifts the refusal). Comments stay open to it.

Belongs here: reading and enforcing that decision. The move itself is set_status (writes.py).
"""
from __future__ import annotations

from typing import Any

from domain.errors import Conflict
from infrastructure.tx import Tx
from infrastructure.repository.base import RepositoryBase, _json, _text_time

REVIEWS = {"approved": "approved", "sent_back": "sent back"}
REASON_CHARS = 500  # of a send-back's reason, repeated in the refusal the former holder gets


class ReviewMixin(RepositoryBase):
    def _review_note(self, tx: Tx, task_id: int, review: str, actor: str, reason: str | None) -> tuple[str, dict[str, Any]]:
        """The history note and metadata of a review move: who decided, why, and whose lease it ended."""
        lease = self._lease(tx, task_id)  # type: ignore[attr-defined]  (LeasesMixin)
        holder = lease["holder"] if lease and lease["holder"] else None
        meta = {"review": review, "lease_of": holder, "lease_session": lease["holder_session"] if holder else None,
                "reason": reason.removeprefix("Sent back: ")[:REASON_CHARS] if reason else None}
        ended = f"; the lease of {holder} ended" if holder and holder != actor else ""
        return f" ({REVIEWS[review]} by {actor}{ended})", meta

    def _check_review_ended(self, tx: Tx, task_id: int, actor: str) -> None:
        """Refuse a write by an agent whose lease a reviewer ended, naming the reviewer.

        One read by primary-key order of the task's history, only for a task that is pending or
        completed (the states a review leaves), so the holder's usual writes pay nothing."""
        row = tx.row(
            "SELECT author, author_type, metadata, created_at FROM task_comments WHERE task_id = %s "
            "AND comment_type = 'status_change' ORDER BY id DESC LIMIT 1",
            [task_id],
        )
        meta = _json(row["metadata"]) if row else None
        if not isinstance(meta, dict) or meta.get("review") not in REVIEWS:
            return
        if actor not in {meta.get("lease_of"), meta.get("lease_session")} - {None}:
            return  # the name given decides, or the session's own name when none is (leases.py)
        when = _text_time(row["created_at"])
        if meta["review"] == "approved":
            then = "It is completed; nothing more is needed from you. For new work create a follow-up task with " \
                   f"parent_task_id={task_id}."
        else:
            why = f" The reviewer wrote: {meta['reason']!r}." if meta.get("reason") else ""
            then = f"It is pending again.{why} Claim it again (tasks_claim) to rework it, or take another task."
        raise Conflict(
            f"Task {task_id} was {REVIEWS[meta['review']]} by {row['author']} ({row['author_type']}) at {when}, which "
            f"ended your lease on it; nothing was changed. {then}"
        )
