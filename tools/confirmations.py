"""Ask the person before an irreversible step: deleting a task that takes others' work with it,
and cancelling a task another agent holds under a live lease.

The question is the SDK's `Resolve`/`Elicit`: a resolver runs before the tool body, reads what
the step would cost, and either lets the call through (nothing to lose, or `confirm: true`) or
returns an `Elicit` form. The SDK sends it as an `InputRequiredResult` on 2026-07-28 (the client
retries with the answer, on any instance) and as `elicitation/create` on 2025 sessions. The
question's text names the task and what is lost; the SDK pins the answer to that exact text, so if
the task changes between the question and the retry (another result lands), the person is asked
again about what is now at stake rather than the answer being reused.

A client that cannot ask (no form elicitation declared, or a 2025 connection that cannot send a
request, such as stateless HTTP) is refused `[conflict]` and told to pass `confirm: true`: the
agent asks its person itself, then calls again.
"""
from __future__ import annotations

from typing import Any, Optional

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit
from pydantic import BaseModel, Field

from domain.errors import Conflict
from tools.common import actor, app, may_review, own_name

FIRST_ROUND_TRIP_VERSION = "2026-07-28"  # from here on questions travel in InputRequiredResult


class Confirmation(BaseModel):
    """The form the person fills in: one yes/no."""

    confirm: bool = Field(title="Confirm", description="Yes: do it. No: change nothing.")


def ask_before_delete(ctx: Context, id: int, confirm: Optional[bool], deleted_by: Optional[str]) -> Optional[Elicit]:
    """Resolver of tasks_delete: the question, or None when there is nothing to ask."""
    if confirm:
        return None
    state = app(ctx)
    who = actor(state, deleted_by, None)[0]
    loss = state.repository.deletion_losses(id, (who, own_name(state)))
    lost = _deletion_lost(loss)
    if not lost:
        return None
    message = f"Delete task {id} \u201c{_short(loss['title'])}\u201d? {lost} This cannot be undone."
    return _ask(ctx, message, f"Task {id} was not deleted")


async def ask_before_cancel(
    ctx: Context, id: int, status: str, confirm: Optional[bool], updated_by: Optional[str]
) -> Optional[Elicit]:
    """Resolver of tasks_status: a question only for a cancel of a task someone else holds.
    Async, so that every other status move passes without a hop to a worker thread."""
    if confirm or status != "cancelled" or not may_review():
        return None  # a caller without tasks:review is refused by the tool itself: nothing to ask
    import anyio

    state = app(ctx)
    who = actor(state, updated_by, None)[0]
    # The holder is told apart by the name the call gives; the session only when none is (leases.py).
    held = await anyio.to_thread.run_sync(state.repository.foreign_live_lease, id, (who,))
    if held is None:
        return None
    message = (
        f"Cancel task {id} \u201c{_short(held['title'])}\u201d? {held['holder']} ({held['holder_type']}) is working "
        f"on it under a lease until {held['until']}; their work on it stops and cancelled is final."
    )
    return _ask(ctx, message, f"Task {id} was not cancelled")


def check_answer(answer: Any, refused: str) -> None:
    """In the tool body: go on only if nothing was asked or the person said yes."""
    if isinstance(answer, AcceptedElicitation) and (answer.data is None or answer.data.confirm):
        return
    raise Conflict(f"{refused}: the person did not confirm it. Nothing was changed.")


def _ask(ctx: Context, message: str, refused: str) -> Elicit:
    if not can_ask(ctx):
        raise Conflict(
            f"{refused}: it needs a person's confirmation, and this client cannot ask one (it declared no form "
            f"elicitation). The question: {message} Ask your person; if they agree, call again with confirm: true."
        )
    return Elicit(message, Confirmation)


def can_ask(ctx: Context) -> bool:
    """Whether the client declared form elicitation (a bare `elicitation: {}` is form, as the
    spec says) and this connection can carry the question."""
    try:
        capabilities = ctx.client_capabilities
        session = ctx.request_context.session
    except ValueError:  # an in-process call without a request: nobody to ask
        return False
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version or ""
    return version >= FIRST_ROUND_TRIP_VERSION or bool(session.can_send_request)


def _deletion_lost(loss: dict[str, Any]) -> str:
    """What the question lists, in words; "" when nothing but the task itself would go."""
    lost = []
    if loss["results"]:
        lost.append(_count(loss["results"], "result"))
    if loss["others_comments"]:
        authors = ", ".join(loss["other_authors"]) + (f" and {loss['more_authors']} more" if loss["more_authors"] else "")
        lost.append(f"{_count(loss['others_comments'], 'comment')} by others ({authors})")
    text = f"Lost for good: {' and '.join(lost)}." if lost else ""
    if loss["subtasks"]:
        n = loss["subtasks"]
        text += f" Its {_count(n, 'subtask')} {'loses its' if n == 1 else 'lose their'} parent and {'becomes' if n == 1 else 'become'} top-level."
    return text.strip()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short(title: str, limit: int = 120) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "\u2026"
