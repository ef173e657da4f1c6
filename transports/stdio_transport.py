"""MCP over stdio with a strict reader: every line on stdin is a message, or gets an answer.

The SDK's reader (mcp/server/stdio.py) decodes stdin with errors="replace", so bytes that
are not UTF-8 were silently changed, and a line it cannot parse (malformed JSON, a lone
surrogate escape like "\\ud800", JSON nested deeper than its parser's limit of 200) went to
the session as an exception that nobody answered or logged: the client waited for its
own timeout. Here each line is read as bytes and checked first; a refused line gets a
JSON-RPC error on stdout (-32700 parse error, or -32600 invalid request; the request's id
when it can be read, else null) and a warning on stderr. Lines that pass go on to the
SDK's transport unchanged, which parses them again (microseconds for a tool call).

Every request is answered (issue 22). A line over MAX_LINE_BYTES is never held whole, and a
line that is not UTF-8 is not JSON, yet the id is found (transports/stdio_line_scan.py) and the
refusal says how big the message is, by how much it is over, and which field is at fault.
At the end of stdin the requests still running are finished and answered before the
session hears of it (_InFlight), since the SDK cancels whatever runs when its input ends.

fd 0 and fd 1 are taken over as the SDK's stdio_server does (fd 0 reads the null device and
fd 1 writes to stderr while serving), so a child process reads EOF, and stray prints miss
the wire.

Why not the SDK's stdio_server (issue 16, bench/RESULTS.md "Cost of a call"): it reads each
line and writes and flushes each answer through `anyio.wrap_file`, three hops to a worker
thread per call, about a quarter of a trivial call's server CPU; and it parses every line
again after this module has. Here a pipe or socket is served by the event loop itself
(asyncio's non-blocking pipe transports, no thread), and each line is parsed once. Anything
else (a regular file, a terminal, another event loop) is read and written on a worker thread
as before; its file flags are never changed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import anyio.to_thread
import mcp_types as types
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from transports.sdk_private import create_context_streams, lowlevel_server
from transports.stdio_line_scan import OversizeLine, format_path, scan

log = logging.getLogger("mcp-tasks.stdio")

MAX_LINE_BYTES = 4 * 1024 * 1024  # the SDK's default HTTP body limit, for one stdio message
DRAIN_SECONDS = 60.0  # how long requests still running at the end of stdin may take to be answered
ENDLESS_METHODS = frozenset({"subscriptions/listen"})  # answered only when the stream ends: not waited for
PARSE_ERROR, INVALID_REQUEST = -32700, -32600


class Refusal(Exception):
    def __init__(self, code: int, message: str, request_id: int | str | None = None):
        super().__init__(message)
        self.code, self.message, self.request_id = code, message, request_id


def check_line(raw: bytes | OversizeLine) -> Any:
    """The line's JSON-RPC message, parsed as the SDK parses it; None for a blank line;
    Refusal (raised) saying what is wrong otherwise, with the request's id when it can be found."""
    if isinstance(raw, OversizeLine):
        raise Refusal(INVALID_REQUEST, raw.message(), raw.request_id)
    raw = raw.strip(b" \t\r\n")
    if not raw:
        return None
    if len(raw) > MAX_LINE_BYTES:  # the reader's bound lets a line of a byte or two more through
        oversize = _oversize(raw)
        raise Refusal(INVALID_REQUEST, oversize.message(), oversize.request_id)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = format_path(scan(raw[: exc.start]).path)
        raise Refusal(
            PARSE_ERROR, f"Parse error: the message is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}"
            f"{', in ' + where if where else ''}); send UTF-8 encoded JSON.", scan(raw).request_id,
        ) from None
    try:
        return types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValidationError as exc:
        raise _diagnose(text, exc) from None


def _oversize(first: bytes) -> OversizeLine:
    """An OversizeLine that has seen `first`, the start of a line longer than MAX_LINE_BYTES."""
    line = OversizeLine(first[:MAX_LINE_BYTES], MAX_LINE_BYTES)
    line.feed(first[MAX_LINE_BYTES:])
    return line


def _diagnose(text: str, exc: ValidationError) -> Refusal:
    """Why the SDK's parser refused a line, and the request id to answer, when there is one."""
    first = (exc.errors(include_input=False) or [{}])[0]
    reason = str(first.get("msg", "not a JSON-RPC message"))
    try:
        value = json.loads(text)
    except RecursionError:
        return Refusal(PARSE_ERROR, "Parse error: the JSON is nested too deeply; keep it under 200 levels.")
    except ValueError as err:
        return Refusal(PARSE_ERROR, f"Parse error: the message is not valid JSON ({err}).")
    request_id = value.get("id") if isinstance(value, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
        request_id = None
    if "recursion limit" in reason:
        return Refusal(PARSE_ERROR, "Parse error: the JSON is nested too deeply; keep it under 200 levels.", request_id)
    if "escape" in reason or "surrogate" in reason:
        return Refusal(
            PARSE_ERROR, "Parse error: the message holds a lone surrogate escape (like \\ud800), which is not Unicode "
            "text; send each character whole (a surrogate pair, or the character itself).", request_id,
        )
    where = ".".join(str(p) for p in first.get("loc", ()) if p)
    return Refusal(
        INVALID_REQUEST, f"Invalid request: not a JSON-RPC 2.0 message ({reason}{' at ' + where if where else ''}).", request_id
    )


def _served_by_loop(fd: int) -> bool:
    """A pipe or socket on asyncio: the event loop can wait on it without a thread."""
    try:
        mode = os.fstat(fd).st_mode
        asyncio.get_running_loop()
    except (OSError, RuntimeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _LineReader:
    """Lines of fd (bytes, newline kept), None at EOF. A line longer than MAX_LINE_BYTES is
    never held whole: its first MAX_LINE_BYTES are scanned, the rest streams past an
    OversizeLine (transports/stdio_line_scan.py), which comes back instead and which check_line
    refuses with the id and the field it found."""

    def __init__(self, fd: int):
        self.fd = fd
        self._stream: asyncio.StreamReader | None = None
        self._transport: Any = None
        self._file: Any = None

    async def open(self) -> None:
        if _served_by_loop(self.fd):
            loop = asyncio.get_running_loop()
            self._stream = asyncio.StreamReader(limit=MAX_LINE_BYTES + 1)
            self._transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self._stream), os.fdopen(self.fd, "rb", 0, closefd=False))
        else:
            self._file = os.fdopen(self.fd, "rb", closefd=False)

    async def readline(self) -> bytes | OversizeLine | None:
        if self._stream is None:
            return await anyio.to_thread.run_sync(self._readline_blocking)
        try:
            return await self._stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as eof:  # the last line had no newline
            return eof.partial or None
        except asyncio.LimitOverrunError as over:
            line = _oversize(await self._stream.readexactly(over.consumed))
            while True:  # stream the rest of the line past
                try:
                    line.feed(await self._stream.readuntil(b"\n"))
                    break
                except asyncio.IncompleteReadError as eof:
                    line.feed(eof.partial)
                    break
                except asyncio.LimitOverrunError as more:
                    line.feed(await self._stream.readexactly(more.consumed))
            return line

    def _readline_blocking(self) -> bytes | OversizeLine | None:
        line = self._file.readline(MAX_LINE_BYTES + 1)
        if not line:
            return None
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            return line
        oversize = _oversize(line)
        while more := self._file.readline(MAX_LINE_BYTES + 1):
            oversize.feed(more)
            if more.endswith(b"\n"):
                break
        return oversize

    def close(self) -> None:
        """Stop watching the pipe; fd itself stays open (closefd=False)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class _WireProtocol(asyncio.streams.FlowControlMixin):
    """Back-pressure for StreamWriter.drain(), and a future that says the pipe is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def _get_close_waiter(self, stream: Any) -> "asyncio.Future[None]":
        return self.closed


class _LineWriter:
    """Writes whole lines to fd: through the event loop's pipe transport (buffered, with
    back-pressure from drain()) or, on anything else, a blocking write on a worker thread."""

    def __init__(self, fd: int):
        self.fd = fd
        self._writer: asyncio.StreamWriter | None = None
        self._file: Any = None

    async def open(self) -> None:
        if _served_by_loop(self.fd):
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.connect_write_pipe(_WireProtocol, os.fdopen(self.fd, "wb", 0, closefd=False))
            self._protocol = protocol
            self._writer = asyncio.StreamWriter(transport, protocol, None, loop)
        else:
            self._file = os.fdopen(self.fd, "wb", closefd=False)

    async def write(self, data: bytes) -> None:
        if self._writer is None:
            await anyio.to_thread.run_sync(self._write_blocking, data)
            return
        self._writer.write(data)
        await self._writer.drain()

    def _write_blocking(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    async def aclose(self) -> None:
        """Send what is still buffered (for up to 5 s: a client that stopped reading does not
        hold the server), then let go of the pipe; fd itself stays open (closefd=False)."""
        if self._writer is None:
            return
        with anyio.move_on_after(5, shield=True):
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:  # the client is gone: nothing to flush to
                pass
        if not self._protocol.closed.done():
            self._writer.transport.abort()


def _blocking_flag(fd: int) -> Any:
    """How to put back fd's O_NONBLOCK flag, which the pipe transports set."""
    try:
        import fcntl

        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except (ImportError, OSError):
        return lambda: None

    def restore() -> None:
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
        except OSError:
            pass

    return restore


@contextmanager
def _claimed(fd: int, diversion: int) -> Iterator[int]:
    """A private duplicate of fd (the wire), with fd itself pointed at `diversion` meanwhile."""
    try:
        import fcntl

        private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except (ImportError, OSError):  # Windows, or no such fd: serve fd in place
        yield fd
        return
    restore = _blocking_flag(private)
    try:
        os.dup2(diversion, fd)
    except OSError:
        os.close(private)
        yield fd
        return
    try:
        yield private
    finally:
        restore()
        os.dup2(private, fd)
        os.close(private)


@contextmanager
def _claimed_stdio() -> Iterator[tuple[int, int]]:
    """(wire in, wire out): fd 0 reads the null device and fd 1 writes to stderr meanwhile."""
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        with _claimed(0, null) as wire_in, _claimed(1, 2) as wire_out:
            os.close(null)
            null = -1
            yield wire_in, wire_out
    finally:
        if null >= 0:
            os.close(null)


async def _refuse(write_stream: Any, refusal: Refusal) -> None:
    log.warning("refused a message on stdin (JSON-RPC error %d): %s", refusal.code, refusal.message)
    error = types.JSONRPCError(
        jsonrpc="2.0", id=refusal.request_id, error=types.ErrorData(code=refusal.code, message=refusal.message)
    )
    await write_stream.send(SessionMessage(error))


class _InFlight:
    """The requests read from stdin whose answer has not been written to stdout yet.

    The SDK cancels every handler still running when its read stream ends, so requests piped
    just before the end of stdin went unanswered (a tasks_create among them, which may have
    written). The end of input is therefore passed on only once these are answered, or
    after DRAIN_SECONDS (a request waiting on the client, which can no longer answer).
    A request the client cancels, and a listen stream, are not waited for.
    """

    def __init__(self) -> None:
        self._ids: set[Any] = set()
        self._empty = anyio.Event()
        self._empty.set()

    def read(self, message: Any) -> None:
        if isinstance(message, types.JSONRPCRequest) and message.method not in ENDLESS_METHODS:
            if not self._ids:
                self._empty = anyio.Event()
            self._ids.add(message.id)
        elif isinstance(message, types.JSONRPCNotification) and message.method == "notifications/cancelled":
            self._done((message.params or {}).get("requestId"))

    def written(self, message: Any) -> None:
        if isinstance(message, (types.JSONRPCResponse, types.JSONRPCError)):
            self._done(message.id)

    def _done(self, request_id: Any) -> None:
        if request_id in self._ids:
            self._ids.discard(request_id)
            if not self._ids:
                self._empty.set()

    async def drained(self) -> None:
        if self._ids:
            log.info("stdin closed; answering %d request(s) still running first", len(self._ids))
        with anyio.move_on_after(DRAIN_SECONDS):
            await self._empty.wait()
        if self._ids:
            log.warning("stdin closed; %d request(s) not answered within %g s are abandoned", len(self._ids), DRAIN_SECONDS)


@asynccontextmanager
async def _stdio_streams(wire_in: int, wire_out: int) -> AsyncIterator[tuple[Any, Any]]:
    """The (read, write) streams the SDK's server runs on, as its stdio_server yields them."""
    reader, writer = _LineReader(wire_in), _LineWriter(wire_out)
    await reader.open()
    await writer.open()
    read_stream_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_stream_reader = create_context_streams[SessionMessage](0)
    in_flight = _InFlight()

    async def stdin_reader() -> None:
        try:
            async with read_stream_writer:
                while (raw := await reader.readline()) is not None:
                    try:
                        message = check_line(raw)
                    except Refusal as refusal:
                        await _refuse(write_stream, refusal)
                        continue
                    if message is not None:
                        in_flight.read(message)
                        await read_stream_writer.send(SessionMessage(message))
                await in_flight.drained()  # before the end of input reaches the session, which cancels what runs
        except anyio.ClosedResourceError:
            await anyio.lowlevel.checkpoint()

    async def stdout_writer() -> None:
        try:
            async with write_stream_reader:
                async for session_message in write_stream_reader:
                    line = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await writer.write(line.encode("utf-8") + b"\n")
                    in_flight.written(session_message.message)
        except anyio.ClosedResourceError:
            await anyio.lowlevel.checkpoint()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stdin_reader)
            tg.start_soon(stdout_writer)
            yield read_stream, write_stream
    finally:
        reader.close()
        await writer.aclose()


async def serve_stdio(server: Any) -> None:
    """Run an MCPServer over stdin/stdout with the strict reader."""
    lowlevel = lowlevel_server(server)  # what MCPServer.run_stdio_async drives; it offers no stdin parameter
    with _claimed_stdio() as (wire_in, wire_out):
        async with _stdio_streams(wire_in, wire_out) as (read_stream, write_stream):
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
