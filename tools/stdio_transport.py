"""MCP over stdio with a strict reader: every line on stdin is a message, or gets an answer.

The SDK's reader (mcp/server/stdio.py) decodes stdin with errors="replace", so bytes that
are not UTF-8 were silently changed, and a line it cannot parse (malformed JSON, a lone
surrogate escape like "\\ud800", JSON nested deeper than its parser's limit of 200) went to
the session as an exception that nobody answered or logged: the client waited for its
own timeout. Here each line is read as bytes and checked first; a refused line gets a
JSON-RPC error on stdout (-32700 parse error, or -32600 invalid request; the request's id
when it can be read, else null) and a warning on stderr. Lines that pass go on to the
SDK's transport unchanged, which parses them again (microseconds for a tool call).

The SDK still owns stdout (fd 1 points at stderr while serving, so stray prints miss the
wire); fd 0 is taken over here in the same way, so a child process reads EOF, not the protocol.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from typing import Any, AsyncIterator, BinaryIO, Iterator

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

log = logging.getLogger("mcp-tasks.stdio")

MAX_LINE_BYTES = 4 * 1024 * 1024  # the SDK's default HTTP body limit, for one stdio message
PARSE_ERROR, INVALID_REQUEST = -32700, -32600


class Refusal(Exception):
    def __init__(self, code: int, message: str, request_id: int | str | None = None):
        super().__init__(message)
        self.code, self.message, self.request_id = code, message, request_id


def check_line(raw: bytes) -> str | None:
    """The line as text when it is a JSON-RPC message the SDK will accept; None for a blank
    line; Refusal (raised) saying what is wrong otherwise."""
    raw = raw.strip(b" \t\r\n")
    if not raw:
        return None
    if len(raw) > MAX_LINE_BYTES:
        raise Refusal(INVALID_REQUEST, f"Invalid request: the message is longer than {MAX_LINE_BYTES} bytes; send less per call.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(
            PARSE_ERROR, f"Parse error: the message is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "send UTF-8 encoded JSON.",
        ) from None
    try:
        types.jsonrpc_message_adapter.validate_json(text, by_name=False)
        return text
    except ValidationError as exc:
        raise _diagnose(text, exc) from None


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


class StrictStdin:
    """What the SDK's stdio_server iterates as its stdin: the lines that pass check_line."""

    def __init__(self, binary: BinaryIO):
        self._in = binary
        self._out: Any = None
        self._ready = anyio.Event()

    def attach(self, write_stream: Any) -> None:
        """The stream the refusals are written to (the SDK's, so they never tear a frame)."""
        self._out = write_stream
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        while True:
            raw = await anyio.to_thread.run_sync(self._readline)
            if raw is None:
                return
            try:
                text = check_line(raw)
            except Refusal as refusal:
                await self._refuse(refusal)
                continue
            if text is not None:
                yield text

    def _readline(self) -> bytes | None:
        """One line, None at EOF; an over-long line is skipped to its end, never held whole."""
        line = self._in.readline(MAX_LINE_BYTES + 1)
        if not line:
            return None
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (more := self._in.readline(MAX_LINE_BYTES + 1)) and not more.endswith(b"\n"):
                pass
        return line

    async def _refuse(self, refusal: Refusal) -> None:
        log.warning("refused a message on stdin (JSON-RPC error %d): %s", refusal.code, refusal.message)
        await self._ready.wait()
        error = types.JSONRPCError(
            jsonrpc="2.0", id=refusal.request_id, error=types.ErrorData(code=refusal.code, message=refusal.message)
        )
        await self._out.send(SessionMessage(error))


@contextmanager
def _claimed_stdin() -> Iterator[BinaryIO]:
    """fd 0 as a private binary file, with fd 0 itself pointed at the null device meanwhile."""
    try:
        import fcntl

        private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    except (ImportError, OSError):  # Windows, or no fd 0: read sys.stdin's own buffer
        yield sys.stdin.buffer
        return
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    try:
        yield os.fdopen(private, "rb", closefd=False)
    finally:
        os.dup2(private, 0)
        os.close(private)


async def serve_stdio(server: Any) -> None:
    """Run an MCPServer over stdin/stdout with the strict reader."""
    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async drives; it offers no stdin parameter
    with _claimed_stdin() as binary:
        stdin = StrictStdin(binary)
        async with stdio_server(stdin=stdin) as (read_stream, write_stream):
            stdin.attach(write_stream)
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
