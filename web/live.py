"""The board's live stream (/events) and its bounds: what one stream may replay, and how many
streams one session may hold and open. web/app.py answers the request; this is the stream.

A stream replays at most EVENTS_REPLAY_MAX changes: further behind, it sends one `reload`
event and ends (the page is read afresh), so a crowd of streams resuming from seq 0 costs a
head() read each, not the whole feed. The counts live in the process's memory.
"""
from __future__ import annotations

import json
import time
from collections import deque
from typing import Any, AsyncIterator

EVENTS_REPLAY_MAX = 100  # changes one /events stream replays; further behind it is told to reload the page
STREAM_OPENS = (20, 30.0)  # /events streams one signed-in session may open per so many seconds
STREAMS_PER_SESSION = 8  # open /events streams per signed-in session (per address without keys)
STREAMS_MAX = 400  # open /events streams per process, all sessions together
OPENERS_KEPT = 10_000  # sessions whose recent openings are remembered; the quietest are forgotten first
TOO_MANY_STREAMS = (f"Too many live updates are open or opened for this session (at most {STREAMS_PER_SESSION} open, "
                    f"{STREAM_OPENS[0]} opened per {STREAM_OPENS[1]:.0f} s); close some board tabs, then reload this one.")


class StreamBudget:
    """Open streams per holder (a session's token, or an address without keys) and the recent
    openings of each signed-in session."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}
        self.opened: dict[str, deque[float]] = {}

    def full(self, holder: str) -> bool:
        return self.open.get(holder, 0) >= STREAMS_PER_SESSION or sum(self.open.values()) >= STREAMS_MAX

    def may_open(self, holder: str) -> bool:
        """At most STREAM_OPENS[0] streams opened per STREAM_OPENS[1] seconds: a client that
        reopens a replaying stream in a loop is refused before it costs a read."""
        count, window = STREAM_OPENS
        now = time.monotonic()
        opened = self.opened.setdefault(holder, deque())
        while opened and opened[0] < now - window:
            opened.popleft()
        if len(opened) >= count:
            return False
        opened.append(now)
        if len(self.opened) > OPENERS_KEPT:
            for key in [k for k, v in self.opened.items() if not v or v[-1] < now - window][: OPENERS_KEPT // 2]:
                del self.opened[key]
        return True

    async def stream(self, hub: Any, holder: str, after: int | None, head: int) -> AsyncIterator[dict[str, str]]:
        """The SSE events of one stream: changes after `after` (None: from now on), or one
        `reload` when that is more than EVENTS_REPLAY_MAX behind `head`."""
        # Counted here, not before the response: a generator that never starts never ends either.
        # Checked again: streams opened at once all passed the request's check before any was counted.
        if self.full(holder):
            yield {"event": "refused", "data": json.dumps({"message": TOO_MANY_STREAMS})}
            return
        self.open[holder] = self.open.get(holder, 0) + 1
        try:
            behind = head - after if after is not None else 0
            if behind > EVENTS_REPLAY_MAX:
                yield {"id": str(head), "event": "reload", "data": json.dumps({"behind": behind, "head": head})}
                return
            async with hub.listen(after=after) as changes:
                async for change in changes:
                    yield {"id": str(change.seq), "event": "change", "data": json.dumps({
                        "seq": change.seq, "task_id": change.task_id, "kind": change.kind, "actor": change.actor,
                        "at": change.at,
                    })}
        finally:
            left = self.open.get(holder, 1) - 1
            if left > 0:
                self.open[holder] = left
            else:
                self.open.pop(holder, None)
