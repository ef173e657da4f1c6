"""The two helpers that bound one streamed answer: the text kept so far, under a byte cap,
and a watchdog that ends a blocked read at a deadline or on cancel.

A socket timeout bounds each read, not the whole answer: a server that sends one byte
just before each timeout would hold the thread for ever. The watchdog bounds the whole:
it shuts the socket down (``shutdown`` wakes a read blocked in another thread, ``close``
does not), and the reader then sees the end of the stream and asks ``tripped`` why.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable

_WATCH_INTERVAL = 0.1  # seconds between two looks at the deadline and should_stop


class TextStream:
    """The answer's pieces, at most ``limit`` UTF-8 bytes of them; ``full`` once cut."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.full = False
        self._pieces: list[str] = []

    def add(self, piece: str) -> str:
        """Keep what fits of ``piece``; return the part kept."""
        size = len(piece.encode("utf-8", "surrogatepass"))
        if self.size + size > self.limit:
            room = self.limit - self.size
            piece = piece.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
            size = len(piece.encode("utf-8", "surrogatepass"))
            self.full = True
        self.size += size
        if piece:
            self._pieces.append(piece)
        return piece

    def text(self) -> str:
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""


class Watchdog:
    """Shuts the response's socket down when ``deadline`` passes or ``should_stop()`` says
    so: a blocked read then returns at once, whatever the server does. ``tripped`` says why
    ("deadline" or "stop"), None while it has not."""

    def __init__(self, response: Any, deadline: float, should_stop: Callable[[], bool] | None = None) -> None:
        self.response = response
        self.deadline = deadline
        self.should_stop = should_stop
        self.tripped: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ollama-watchdog", daemon=True)

    def __enter__(self) -> "Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(min(_WATCH_INTERVAL, max(0.0, self.deadline - time.monotonic()))):
            if time.monotonic() >= self.deadline:
                self.tripped = "deadline"
            elif self.should_stop is not None and self.should_stop():
                self.tripped = "stop"
            else:
                continue
            _shut(self.response)
            return


def _shut(response: Any) -> None:
    try:
        sock = response.raw.connection.sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        pass  # already closed: nothing is blocked on it
