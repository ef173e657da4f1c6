"""One listener's notifications not sent yet, sent by a task of its own (issue 22).

The relay's one forwarding task used to send each session its `resources/updated`
notifications itself, session after session: a session whose client stopped reading held
that task (2 s a notification), and with it every other session and every listen stream.
Now the forwarding task only drops URIs into each session's Outbox and goes on; the
outbox's own task does the sending, and waits on nobody's client but its own.

Bounded without a loss: the outbox is an ordered set of URIs, so a URI that changes again
before it was sent merges with the one waiting (the notification only says "read it
again"), and an outbox never holds more than the URIs its session subscribed to. A session
that falls behind is therefore told once per URI that changed meanwhile, which is all it
needs to resync, whenever it reads again.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable

log = logging.getLogger("mcp-tasks.subscriptions")


class Outbox:
    def __init__(self, send: Callable[[str], Awaitable[Any]]):
        self._send = send
        self.pending: dict[str, None] = {}  # URIs in the order they first changed; a dict as an ordered set
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.sent = 0

    def offer(self, uris: Iterable[str]) -> None:
        """Queue these URIs (runs on the event loop, never waits)."""
        for uri in uris:
            self.pending[uri] = None
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="subscription-outbox")

    async def _run(self) -> None:
        while True:
            if not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            uri = next(iter(self.pending))
            del self.pending[uri]
            try:
                await self._send(uri)
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - a closed connection: its session's end closes this outbox
                log.debug("a resources/updated for %s was not sent (%s)", uri, exc)

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self.pending.clear()
