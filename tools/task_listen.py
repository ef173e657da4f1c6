"""`notifications/tasks` on a `subscriptions/listen` stream that names `taskIds` (the Tasks
extension, tools/task_extension.py). The SDK's ListenHandler drops `taskIds` from its
acknowledgement and knows no task events, so a listen request that names tasks is served
here: the same acknowledgement-first stream, with the resource updates the relay fans out
(as ListenHandler delivers them) and, for each named task, a `notifications/tasks` carrying
its DetailedTask (what tasks/get answers): once at once, then on every change, until it ends.

Task records are read from the database every second (POLL_SECONDS), so a task that another
instance runs is followed too. Only the caller's own tasks are honored: another principal's
id, an unknown or an expired one, is left out of the acknowledgement as if it never existed.
"""
from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY, event_matches, event_to_notification
from mcp_types import (
    INVALID_PARAMS,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    SubscriptionFilter,
    SubscriptionsAcknowledgedNotification,
    SubscriptionsAcknowledgedNotificationParams,
    SubscriptionsListenResult,
)
from pydantic import BaseModel

from tools.common import principal
from tools.task_extension import EXTENSION, declared, detailed, task_runs

log = logging.getLogger("mcp-tasks.subscriptions")
POLL_SECONDS = 1.0
MAX_TASK_IDS = 100  # task ids one stream follows
BUFFER = 1024  # frames a stream holds for a slow reader before it is ended, as ListenHandler does
FINAL = ("completed", "failed", "cancelled")


class _TaskNotification(BaseModel):
    """`notifications/tasks`: the session sends any model with `method` and `params`."""

    method: str = "notifications/tasks"
    params: dict[str, Any]


def requested_task_ids(notifications: SubscriptionFilter) -> list[str] | None:
    """The `taskIds` a listen request names (an extension field the SDK keeps as extra), or None."""
    ids = (notifications.model_extra or {}).get("taskIds")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_TASK_IDS:
        raise MCPError(INVALID_PARAMS, f"notifications.taskIds must be a list of at most {MAX_TASK_IDS} task ids (strings).")
    return ids


async def listen_with_tasks(
    ctx: ServerRequestContext[Any, Any], only: SubscriptionFilter, task_ids: list[str], bus: Any
) -> SubscriptionsListenResult:
    """Serve one listen stream that follows `task_ids` (and whatever else `only` asks for)."""
    if not declared(ctx):
        raise MCPError(
            MISSING_REQUIRED_CLIENT_CAPABILITY, f"Client did not declare required extension {EXTENSION!r}",
            data={"requiredCapabilities": {"extensions": {EXTENSION: {}}}},
        )
    subscription_id = ctx.request_id
    state = ctx.lifespan_context
    runs = task_runs(state)
    owner = principal(state, ctx.session)

    def own(ids: list[str]) -> dict[str, dict[str, Any]]:
        records = {key: runs.get(key) for key in dict.fromkeys(ids)}
        return {key: r for key, r in records.items() if r is not None and r["principal"] == owner}

    honored = SubscriptionFilter(  # what ListenHandler honors of `only` (falsy flags left out of the ack)
        resource_subscriptions=list(only.resource_subscriptions) if only.resource_subscriptions else None,
        tools_list_changed=True if only.tools_list_changed else None,
        prompts_list_changed=True if only.prompts_list_changed else None,
        resources_list_changed=True if only.resources_list_changed else None,
    )
    uris = frozenset(honored.resource_subscriptions or ())
    meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription_id}
    send, recv = anyio.create_memory_object_stream[Any](BUFFER)

    def deliver(event: Any) -> None:
        if event_matches(honored, uris, event):
            try:
                send.send_nowait(event_to_notification(event, meta))
            except (anyio.ClosedResourceError, anyio.WouldBlock):
                send.close()  # a reader that stopped reading: end the stream (it re-listens)

    def notification(record: dict[str, Any]) -> _TaskNotification:
        return _TaskNotification(params={**detailed(record), "_meta": meta})

    async def follow(current: dict[str, dict[str, Any]]) -> None:
        seen: dict[str, tuple[str, str]] = {}
        while current:
            for key, record in current.items():
                mark = (record["status"], record["updated_at"])
                if seen.get(key) != mark:
                    seen[key] = mark
                    try:
                        send.send_nowait(notification(record))
                    except (anyio.ClosedResourceError, anyio.WouldBlock):
                        send.close()
                        return
            open_ids = [key for key, record in current.items() if record["status"] not in FINAL]
            if not open_ids:
                return
            await anyio.sleep(POLL_SECONDS)
            try:
                current = await anyio.to_thread.run_sync(own, open_ids)
            except Exception as exc:  # noqa: BLE001 - the database may answer next time
                log.warning("listen stream %r: could not read its tasks: %s", subscription_id, exc)
                current = {key: current[key] for key in open_ids}

    # Subscribed before the first await, as ListenHandler does: the relay keeps forwarding only
    # while it has a subscriber, and an update published during the acknowledgement is kept.
    unsubscribe = bus.subscribe(deliver)
    try:
        followed = await anyio.to_thread.run_sync(own, task_ids)
        acknowledged = SubscriptionFilter.model_validate(
            {**honored.model_dump(by_alias=True, exclude_none=True), "taskIds": list(followed)}
        )
        await ctx.session.send_notification(
            SubscriptionsAcknowledgedNotification(
                params=SubscriptionsAcknowledgedNotificationParams(notifications=acknowledged, _meta=meta)
            ),
            related_request_id=subscription_id,
        )
        async with anyio.create_task_group() as group:
            group.start_soon(follow, followed)
            async for frame in recv:
                await ctx.session.send_notification(frame, related_request_id=subscription_id)
            group.cancel_scope.cancel()
    finally:
        unsubscribe()
        send.close()
        recv.close()
    return SubscriptionsListenResult(_meta=meta)
