"""A real HTTP server on 127.0.0.1 that answers like Ollama, for tests.

It implements ``GET /api/tags`` and streaming ``POST /api/chat`` the way Ollama does:
HTTP/1.1 chunked NDJSON, one ``{"message": {"role", "content"}, "done": false}`` record per
piece, then a ``done: true`` record with the counts and durations. A chat for a model that
is not in ``models`` gets Ollama's 404. What else the chat does is set by ``behaviour``:

    with FakeOllama(models=["mistral:latest"]) as fake:
        fake.behaviour = Succeed(chunks=["Hel", "lo"], delay=0.05)
        fake.behaviour = FailWithStatus(500, "llama runner process has terminated")
        fake.behaviour = DropMidStream(after=2)     # connection cut, no final chunk
        fake.behaviour = EndWithoutDone(after=2)    # clean end of body, no done record
        fake.behaviour = Hang(after=0)              # never answers (after>0: stalls mid-stream)
        fake.behaviour = Malformed(after=1)         # a line that is not JSON
        fake.behaviour = ErrorInStream(after=1)     # Ollama's {"error": ...} mid-stream
        fake.behaviour = Drip(interval=0.5)         # one piece every 0.5 s, never done
        fake.behaviour = Endless(total_bytes=...)   # pieces as fast as the client reads
        fake.behaviour = LongLine()                 # one record that never ends its line
        fake.tags_hang = True                       # GET /api/tags accepts, never answers
        fake.url; fake.requests; fake.chat_bodies; fake.bytes_sent

``Hang`` waits on an event that ``stop()`` sets, so shutting down never waits for it.
``unused_port()`` gives a port on which nothing listens (connection refused).
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence, Union

__all__ = [
    "FakeOllama",
    "RecordedRequest",
    "Succeed",
    "FailWithStatus",
    "DropMidStream",
    "EndWithoutDone",
    "Hang",
    "Malformed",
    "ErrorInStream",
    "Drip",
    "Endless",
    "LongLine",
    "unused_port",
]


@dataclass(frozen=True)
class Succeed:
    chunks: Sequence[str] = ("Hello", ", ", "world", ".")
    delay: float = 0.0  # seconds before each piece, so progress can be observed
    prompt_eval_count: int = 26
    eval_count: int | None = None  # None: one per chunk
    total_duration: int = 1_234_567_890
    done_reason: str = "stop"
    final: Any = None  # a dict merged into the done record: odd counts, odd types


@dataclass(frozen=True)
class FailWithStatus:
    status: int = 500
    error: str = "llama runner process has terminated: signal: killed"


@dataclass(frozen=True)
class DropMidStream:
    after: int = 2
    chunks: Sequence[str] = ("Hello", ", ", "world", ".")


@dataclass(frozen=True)
class EndWithoutDone:
    after: int = 2
    chunks: Sequence[str] = ("Hello", ", ", "world", ".")


@dataclass(frozen=True)
class Hang:
    after: int = 0  # 0: not even the headers; n: n pieces, then silence
    seconds: float = 30.0  # upper bound; stop() ends it at once
    chunks: Sequence[str] = ("Hello", ", ", "world", ".")


@dataclass(frozen=True)
class Malformed:
    after: int = 1
    line: str = '{"model": "mistral", "message": {"role": "assistant", "content": '
    chunks: Sequence[str] = ("Hello", ", ", "world", ".")


@dataclass(frozen=True)
class ErrorInStream:
    after: int = 1
    error: str = "an error was encountered while running the model: unexpected EOF"
    chunks: Sequence[str] = ("Hello", ", ", "world", ".")


@dataclass(frozen=True)
class Drip:
    """One piece every ``interval`` seconds until the client leaves or stop(); never done."""

    interval: float = 0.5
    piece: str = "drip "


@dataclass(frozen=True)
class Endless:
    """Pieces as fast as the client reads; the done record after ``total_bytes`` of text
    (a bound only so that a client without a cap ends, too)."""

    piece_bytes: int = 65_536
    total_bytes: int = 1 << 40


@dataclass(frozen=True)
class LongLine:
    """A record whose line never ends: ``{"message": {"content": "xxxx...`` forever."""

    piece_bytes: int = 65_536
    total_bytes: int = 1 << 40


Behaviour = Union[
    Succeed, FailWithStatus, DropMidStream, EndWithoutDone, Hang, Malformed, ErrorInStream, Drip, Endless, LongLine
]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # parsed JSON, or None


@dataclass
class _State:
    models: list[str]
    behaviour: Behaviour
    tags_status: int = 200
    tags_hang: bool = False
    bytes_sent: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: set = field(default_factory=set)


def unused_port() -> int:
    """A port on 127.0.0.1 on which nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _created_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _model_known(model: str, models: list[str]) -> bool:
    return model in models or (":" not in model and f"{model}:latest" in models)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming, as Ollama (Go net/http) does
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)

    # -- routes ---------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._record(None)
        state = self.server.state
        if self.path == "/api/tags":
            if state.tags_hang:
                state.stopping.wait(30)
                self.close_connection = True
                return
            if state.tags_status != 200:
                self._send_json(state.tags_status, {"error": "failed to list models"})
                return
            models = [
                {"name": name, "model": name, "modified_at": "2025-01-01T00:00:00Z", "size": 4_113_301_824}
                for name in state.models
            ]
            self._send_json(200, {"models": models})
        elif self.path in ("/", "/api/version"):
            self._send_json(200, {"version": "0.0.0-fake"})
        else:
            self._send_plain(404, "404 page not found")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        if self.path != "/api/chat":
            self._send_plain(404, "404 page not found")
            return
        if not isinstance(body, dict) or not body.get("model"):
            self._send_json(400, {"error": "model is required"})
            return
        state = self.server.state
        model = body["model"]
        if not _model_known(model, state.models):
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        try:
            self._chat(model, state.behaviour)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (cancelled, or timed out); nothing left to answer.
            self.close_connection = True

    # -- chat behaviours --------------------------------------------------------------

    def _chat(self, model: str, behaviour: Behaviour) -> None:
        if isinstance(behaviour, FailWithStatus):
            self._send_json(behaviour.status, {"error": behaviour.error})
            return
        if isinstance(behaviour, Hang) and behaviour.after == 0:
            self.server.state.stopping.wait(behaviour.seconds)
            self.close_connection = True
            return

        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        stopping = self.server.state.stopping
        if isinstance(behaviour, Drip):
            while not stopping.wait(behaviour.interval):
                self._write_record(self._piece(model, behaviour.piece))
            self.close_connection = True
            return
        if isinstance(behaviour, Endless):
            record = json.dumps(self._piece(model, "x" * behaviour.piece_bytes)).encode() + b"\n"
            sent = 0
            while sent < behaviour.total_bytes and not stopping.is_set():
                self._write_chunk(record)
                sent += behaviour.piece_bytes
            self._write_record(self._final(model, Succeed(), 1))
            self._end_chunks()
            return
        if isinstance(behaviour, LongLine):
            self._write_chunk(b'{"model": "%s", "message": {"role": "assistant", "content": "' % model.encode())
            block, sent = b"x" * behaviour.piece_bytes, 0
            while sent < behaviour.total_bytes and not stopping.is_set():
                self._write_chunk(block)
                sent += behaviour.piece_bytes
            self._end_chunks()
            return

        if isinstance(behaviour, Succeed):
            for piece in behaviour.chunks:
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                self._write_record(self._piece(model, piece))
            eval_count = behaviour.eval_count if behaviour.eval_count is not None else len(behaviour.chunks)
            self._write_record(self._final(model, behaviour, eval_count))
            self._end_chunks()
            return

        for piece in behaviour.chunks[: behaviour.after]:
            self._write_record(self._piece(model, piece))

        if isinstance(behaviour, DropMidStream):
            # Cut the TCP connection without the terminating zero-length chunk.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif isinstance(behaviour, EndWithoutDone):
            self._end_chunks()
        elif isinstance(behaviour, Hang):
            self.server.state.stopping.wait(behaviour.seconds)
            self.close_connection = True
        elif isinstance(behaviour, Malformed):
            self._write_chunk(behaviour.line.encode() + b"\n")
            self._end_chunks()
        elif isinstance(behaviour, ErrorInStream):
            self._write_record({"error": behaviour.error})
            self._end_chunks()
        else:  # pragma: no cover - a new behaviour without a branch
            raise TypeError(f"unknown behaviour {behaviour!r}")

    # -- wire helpers -----------------------------------------------------------------

    def _record(self, body: Any) -> None:
        with self.server.state.lock:
            self.server.state.requests.append(RecordedRequest(self.command, self.path, body))

    @staticmethod
    def _final(model: str, behaviour: Succeed, eval_count: int) -> dict:
        record = {
            "model": model,
            "created_at": _created_at(),
            "message": {"role": "assistant", "content": ""},
            "done_reason": behaviour.done_reason,
            "done": True,
            "total_duration": behaviour.total_duration,
            "load_duration": 12_345_678,
            "prompt_eval_count": behaviour.prompt_eval_count,
            "prompt_eval_duration": 23_456_789,
            "eval_count": eval_count,
            "eval_duration": 1_000_000_000,
        }
        record.update(behaviour.final or {})
        return record

    @staticmethod
    def _piece(model: str, text: str) -> dict:
        return {
            "model": model,
            "created_at": _created_at(),
            "message": {"role": "assistant", "content": text},
            "done": False,
        }

    def _write_record(self, record: dict) -> None:
        self._write_chunk(json.dumps(record).encode() + b"\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        with self.server.state.lock:
            self.server.state.bytes_sent += len(data)

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_plain(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes or resets its keep-alive connection is normal here
        # (cancelled streams, timeouts, session.close()); anything else is a fake's bug.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeOllama:
    """Start with ``with FakeOllama() as fake:`` (or ``start()``/``stop()``)."""

    def __init__(self, models: Sequence[str] = ("mistral:latest",), behaviour: Behaviour | None = None) -> None:
        self._state = _State(models=list(models), behaviour=behaviour or Succeed())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ------------------------------------------------------------

    @property
    def behaviour(self) -> Behaviour:
        return self._state.behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        self._state.behaviour = value

    @property
    def models(self) -> list[str]:
        return self._state.models

    @models.setter
    def models(self, value: Sequence[str]) -> None:
        self._state.models = list(value)

    @property
    def tags_hang(self) -> bool:
        """Set to True to make ``GET /api/tags`` accept and never answer."""
        return self._state.tags_hang

    @tags_hang.setter
    def tags_hang(self, value: bool) -> None:
        self._state.tags_hang = value

    @property
    def bytes_sent(self) -> int:
        """Bytes of chat body written so far (chunk payloads)."""
        with self._state.lock:
            return self._state.bytes_sent

    @property
    def tags_status(self) -> int:
        """Set to e.g. 500 to make ``GET /api/tags`` fail."""
        return self._state.tags_status

    @tags_status.setter
    def tags_status(self, value: int) -> None:
        self._state.tags_status = value

    # -- what was asked -------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def chat_bodies(self) -> list[dict]:
        return [r.body for r in self.requests if r.method == "POST" and r.path == "/api/chat"]

    # -- lifecycle --------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOllama is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeOllama":
        if self._server is not None:
            return self
        self._state.stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ollama", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._state.stopping.set()  # releases every Hang at once
        server.shutdown()
        server.server_close()
        # Idle keep-alive connections would otherwise keep their handler threads alive.
        with self._state.lock:
            connections = list(self._state.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeOllama":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
