"""The board's brake on guessing keys at POST /login: failed sign-ins are counted per client
address and over all addresses, in a sliding window; past the limit the address (or, past
the overall limit, everyone) is refused without the key being looked at, until the oldest
counted failure leaves the window.

In this process's memory only: a restart forgets, and several server instances count apart.
A successful sign-in is not counted. The number of addresses kept is capped (the one that
failed longest ago is dropped first), so a flood of addresses cannot grow it without bound.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Callable

ATTEMPTS = 5  # failed sign-ins from one address within WINDOW; the next is refused
WINDOW = 60.0  # seconds
OVERALL = 100  # failed sign-ins from all addresses within WINDOW; then every address is refused
ADDRESSES = 10_000  # addresses remembered at most


class LoginThrottle:
    """Not locked: the board's handlers call it from the event loop's one thread, with no await
    between a check and the count that follows it."""

    def __init__(self, *, attempts: int = ATTEMPTS, window: float = WINDOW, overall: int = OVERALL,
                 addresses: int = ADDRESSES, clock: Callable[[], float] = time.monotonic):
        self.attempts, self.window, self.overall, self.addresses, self.clock = attempts, window, overall, addresses, clock
        self._by_address: OrderedDict[str, deque[float]] = OrderedDict()  # least recently failed first
        self._all: deque[float] = deque(maxlen=overall)

    def _full(self, times: deque[float], limit: int, now: float) -> float:
        """Seconds until `times` holds fewer than `limit` failures within the window; 0 when it does now."""
        while times and times[0] <= now - self.window:
            times.popleft()
        return times[0] + self.window - now if len(times) >= limit else 0.0

    def retry_after(self, address: str) -> tuple[int, bool]:
        """Whole seconds this address must wait before a key it sends is looked at (0: go ahead),
        and whether that is because of all addresses' failures rather than its own."""
        now = self.clock()
        mine = self._by_address.get(address)
        own = self._full(mine, self.attempts, now) if mine is not None else 0.0
        if mine is not None and not mine:
            del self._by_address[address]  # its failures have all left the window
        everyone = self._full(self._all, self.overall, now)
        return math.ceil(max(own, everyone)), everyone > own

    def failed(self, address: str) -> None:
        now = self.clock()
        mine = self._by_address.pop(address, None)
        if mine is None:
            mine = deque(maxlen=self.attempts)  # more than `attempts` would never change the answer
            while len(self._by_address) >= self.addresses:
                self._by_address.popitem(last=False)
        mine.append(now)
        self._by_address[address] = mine  # to the end: the most recently failed
        self._all.append(now)
