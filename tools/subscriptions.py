"""Resource subscriptions that deliver: the change feed, fanned out to MCP subscribers.

What a client gets: `notifications/resources/updated` for `task://{id}` when that task
changes (created, edited, status, assignment, comment, result, deletion), and for
`tasks://statistics` on any change, whichever process made it (infrastructure/change_feed.py).
Both protocol eras the SDK speaks:
- handshake era (2025-xx): `resources/subscribe` / `resources/unsubscribe`; the update goes
  out on the connection's own channel (stdio, or the HTTP session's GET stream). Not offered
  by a stateless HTTP server: it has no connection that outlives a request.
- 2026-07-28: `subscriptions/listen` streams, served by the SDK's ListenHandler over this
  relay, which is the server's SubscriptionBus.

listChanged is advertised nowhere and honored on no listen stream: the tool, prompt and
resource lists of a running server never change, so no such notification would ever come.

One relay per server process (HTTP runs the lifespan once per process, not per session):
it listens to the process's one ChangeHub while anybody is subscribed, and not otherwise.
A session that ends takes its subscriptions with it (the connection's exit stack; a listen
stream's own cleanup).

The forwarding task never waits on a client (issue 22): listen streams take events into
buffers of their own (the SDK's ListenHandler), and each handshake-era session gets its
notifications through an Outbox with its own sending task (tools/outbox.py). Listen
streams are capped per API key (without keys: per session), not only per process.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Callable

from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated, ServerEvent
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, EmptyResult, SubscribeRequestParams, SubscriptionsListenRequestParams, UnsubscribeRequestParams

from domain.errors import Forbidden, TaskSystemError
from domain.models import ID_MAX
from infrastructure.change_feed import Change, ChangeHub
from tools.task_listen import listen_with_tasks, requested_task_ids
from transports.http_auth import authenticated_name
from transports.sdk_private import lowlevel_server, session_connection
from tools.outbox import Outbox
from tools.common import require_scope
from validators.roles import READ

log = logging.getLogger("mcp-tasks.subscriptions")

STATISTICS_URI = "tasks://statistics"
_TASK_URI = re.compile(r"task://([1-9][0-9]{0,18})")
MAX_URIS_PER_SESSION = 1_000  # resources/subscribe: a bound on what one session may hold
MAX_LISTEN_STREAMS_PER_KEY = 32  # subscriptions/listen streams one API key (without keys: one session) may hold
MAX_LISTEN_STREAMS = 1_024  # and all of them together, per process (the SDK's default)


class _Stopped(Exception):
    """Forwarding was stopped (nobody was subscribed) before it began to listen."""


def _stopped(started: asyncio.Future | None) -> None:
    if started is not None and not started.done():
        started.set_exception(_Stopped())
        started.exception()  # retrieved: nobody may be waiting, and that is no error worth a log line


def uris_for(change: Change) -> tuple[str, str]:
    return f"task://{change.task_id}", STATISTICS_URI


def _check_uri(uri: str) -> str:
    match = _TASK_URI.fullmatch(uri)
    if uri == STATISTICS_URI or (match and int(match.group(1)) <= ID_MAX):
        return uri
    raise MCPError(
        INVALID_PARAMS,
        f"Cannot subscribe to {uri[:80]!r}: updates are sent for task://{{id}} (e.g. task://42) and {STATISTICS_URI}.",
    )


class SubscriptionRelay:
    """The server's SubscriptionBus, and the registry of handshake-era subscriptions.

    `hub` is set by the server's lifespan. Demand (a listen stream, or a session with a
    subscription) starts one forwarding task that listens to the hub; no demand stops it.
    """

    def __init__(self) -> None:
        self.hub: ChangeHub | None = None
        self._bus = InMemorySubscriptionBus()
        self._streams = 0  # open subscriptions/listen streams
        self._sessions: dict[Any, set[str]] = {}  # Connection -> URIs it subscribed to
        self._outboxes: dict[Any, Outbox] = {}  # Connection -> its notifications not sent yet
        self._task: asyncio.Task | None = None
        self._started: asyncio.Future | None = None  # resolved once _task listens to the hub
        self._waiting = 0  # subscribers inside ready(): forwarding is not stopped under them
        self._listen_slots: dict[tuple[str, Any], int] = {}  # open listen streams per API key (or session)
        self._closing = False  # the server is stopping: ready() starts nothing more

    # ---- SubscriptionBus (the SDK's ListenHandler subscribes each listen stream here) -------

    async def publish(self, event: ServerEvent) -> None:
        await self._bus.publish(event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        unsubscribe = self._bus.subscribe(listener)
        self._streams += 1
        done = False

        def stop() -> None:
            nonlocal done
            if not done:
                done = True
                unsubscribe()
                self._streams -= 1
                self._demand()

        return stop

    # ---- resources/subscribe (handshake era) ------------------------------------------------

    async def on_subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        _require_read("Subscribing")
        uri = _check_uri(str(params.uri))
        await self.ready()
        connection = session_connection(ctx.session)  # the SDK exposes no public handle on the session's connection
        uris = self._sessions.get(connection)
        if uris is None:
            uris = self._sessions[connection] = set()
            connection.exit_stack.callback(self._forget, connection)  # runs when the session ends, however
        if uri not in uris and len(uris) >= MAX_URIS_PER_SESSION:
            raise MCPError(
                INVALID_PARAMS,
                f"This session already holds {MAX_URIS_PER_SESSION} subscriptions; unsubscribe from some first "
                f"(or subscribe to {STATISTICS_URI}, which changes with every task).",
            )
        uris.add(uri)
        return EmptyResult()

    async def on_unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        connection = session_connection(ctx.session)
        uris = self._sessions.get(connection)
        if uris is not None:
            uris.discard(str(params.uri))  # an empty set stays until the session ends: one exit hook per session
        self._demand()
        return EmptyResult()

    def _forget(self, connection: Any) -> None:
        self._sessions.pop(connection, None)
        outbox = self._outboxes.pop(connection, None)
        if outbox is not None:
            outbox.close()
        self._demand()

    # ---- subscriptions/listen: a cap per key ------------------------------------------------

    def hold_listen_slot(self, ctx: Any) -> Callable[[], None]:
        """Count one more listen stream for the caller's API key (without keys: its session), or
        refuse it past MAX_LISTEN_STREAMS_PER_KEY; returns the release. One key cannot take every
        stream of the process (MAX_LISTEN_STREAMS, the SDK's own cap for all of them)."""
        name = authenticated_name()
        owner = ("key", name) if name else ("session", id(session_connection(ctx.session, ctx.session)))
        held = self._listen_slots.get(owner, 0)
        if held >= MAX_LISTEN_STREAMS_PER_KEY:
            who = f"The API key {name!r}" if name else "This session"
            raise MCPError(
                INVALID_REQUEST,
                f"{who} already holds {held} subscriptions/listen streams, the most one may (MAX_LISTEN_STREAMS_PER_KEY). "
                "Close a stream you no longer read, or listen to several URIs on one stream (resource_subscriptions takes a list).",
            )
        self._listen_slots[owner] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                left = self._listen_slots.pop(owner, 1) - 1
                if left:
                    self._listen_slots[owner] = left

        return release

    @property
    def subscribers(self) -> int:
        """Sessions with a subscription plus open listen streams (for tests and logs)."""
        return sum(1 for uris in self._sessions.values() if uris) + self._streams

    # ---- forwarding ----------------------------------------------------------------------

    async def ready(self) -> None:
        """Start forwarding if it is not running, and return once the hub has fixed its position.

        Called before a subscription is registered and acknowledged: a change committed after the
        client has its acknowledgement is then always after the hub's position, so it is delivered.
        (Without this wait, a change made right after subscribing could land before the position.)

        Safe against others unsubscribing meanwhile (issue 22): while anybody waits here, the last
        unsubscribe does not stop forwarding, and a forwarding task stopped before it listened
        is started again rather than reported as a failure (which hung or refused the subscribe).
        The caller registers its subscription right after, with no await in between.
        """
        self._waiting += 1
        try:
            for _ in range(100):  # each turn ends with a listening task, or a refusal; a stop is rare
                if self.hub is None or self._closing:
                    raise MCPError(INTERNAL_ERROR, "The server is starting or stopping; subscribe again in a moment.")
                if self._task is None or self._task.done():
                    loop = asyncio.get_running_loop()
                    self._started = loop.create_future()
                    self._task = loop.create_task(self._forward(self._started), name="subscription-relay")
                task, started = self._task, self._started
                try:
                    await asyncio.shield(started)
                except _Stopped:
                    continue  # stopped before it listened (a server stopping has no hub at the next turn)
                except TaskSystemError as exc:  # the database does not answer: refuse rather than promise updates
                    raise MCPError(INTERNAL_ERROR, f"Cannot subscribe now: {exc}") from exc
                if task is self._task and not task.done():
                    return
            raise MCPError(INTERNAL_ERROR, "Cannot subscribe now: forwarding stopped again and again; try again in a moment.")
        finally:
            self._waiting -= 1

    def _demand(self) -> None:
        """Stop forwarding when nobody is subscribed or subscribing any more (ready() starts it)."""
        if self.subscribers == 0 and self._waiting == 0 and self._task is not None:
            self._task.cancel()  # leaving hub.listen() stops the poll loop when nobody else listens
            self._task = None
            _stopped(self._started)  # a task cancelled before it ran never resolves it itself

    async def _forward(self, started: asyncio.Future) -> None:
        assert self.hub is not None
        try:
            async with self.hub.listen() as changes:
                started.set_result(None)
                async for change in changes:
                    burst = [change, *changes.ready()]  # type: ignore[attr-defined]
                    uris = list(dict.fromkeys(uri for c in burst for uri in uris_for(c)))  # once each, in order
                    for uri in uris:
                        await self._bus.publish(ResourceUpdated(uri))  # listen streams: each has its own buffer
                    self._notify_sessions(uris)
        except asyncio.CancelledError:
            _stopped(started)
            raise
        except Exception as exc:  # noqa: BLE001 - a failure here must not end the server
            if not started.done():
                started.set_exception(exc if isinstance(exc, TaskSystemError) else TaskSystemError(str(exc)))
                return
            log.exception("subscription relay stopped; it starts again with the next subscription")

    def _notify_sessions(self, uris: list[str]) -> None:
        """Hand each subscribed session its URIs; never waits on one (issue 22: a session whose
        client stopped reading held up every other session and every listen stream)."""
        for connection, wanted in self._sessions.items():
            mine = [uri for uri in uris if uri in wanted]
            if mine:
                outbox = self._outboxes.get(connection)
                if outbox is None:
                    outbox = self._outboxes[connection] = Outbox(connection.send_resource_updated)
                outbox.offer(mine)

    async def aclose(self) -> None:
        """Stop forwarding and let go of the hub; the next lifespan sets a new one."""
        self._closing = True
        try:
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - it was told to stop
                    pass
            self._sessions.clear()
            for outbox in self._outboxes.values():
                outbox.close()
            self._outboxes.clear()
            if self.hub is not None:
                await self.hub.aclose()
        finally:
            self.hub, self._closing = None, False


def _require_read(what: str) -> None:
    """Change notifications tell what changed: they need tasks:read, as reading does."""
    try:
        require_scope(READ, what)
    except Forbidden as exc:
        raise MCPError(INVALID_REQUEST, f"[forbidden] {exc}") from exc


def register_subscriptions(mcp: Any, relay: SubscriptionRelay, *, sessions: bool = True) -> None:
    """Wire the relay into the server (built with `subscriptions=relay`).

    sessions: serve resources/subscribe (not on a stateless HTTP server).
    """
    low = lowlevel_server(mcp)
    if sessions:
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, relay.on_subscribe)
        low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, relay.on_unsubscribe)
    listen = ListenHandler(relay, max_subscriptions=MAX_LISTEN_STREAMS)

    async def on_listen(ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        # Only resource updates are delivered; a list-changed request is left out of the ack.
        only = params.notifications.model_copy(
            update={"tools_list_changed": None, "prompts_list_changed": None, "resources_list_changed": None}
        )
        _require_read("Listening for changes")
        for uri in only.resource_subscriptions or ():
            _check_uri(uri)
        task_ids = requested_task_ids(only)
        release = relay.hold_listen_slot(ctx)
        try:
            await relay.ready()
            # No await between ready() and the handler's bus subscription, which it makes before its first await.
            if task_ids is not None:  # the Tasks extension's notifications/tasks (tools/task_listen.py)
                return await listen_with_tasks(ctx, only, task_ids, relay)
            return await listen(ctx, params.model_copy(update={"notifications": only}))
        finally:
            release()
            relay._demand()  # a stream refused before it subscribed leaves no forwarding behind

    low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, on_listen)
    advertised = low.get_capabilities

    def get_capabilities(*args: Any, **kwargs: Any) -> Any:
        """The SDK's capabilities without listChanged, which this server never sends."""
        caps = advertised(*args, **kwargs)
        update = {
            name: part.model_copy(update={"list_changed": None})
            for name in ("tools", "prompts", "resources")
            if (part := getattr(caps, name)) is not None
        }
        return caps.model_copy(update=update)

    low.get_capabilities = get_capabilities
