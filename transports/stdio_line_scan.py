"""What a refused stdin line still tells: the request id to answer, and the field at fault.

A line over the size bound is never held whole (transports/stdio_transport.py keeps its first
MAX_LINE_BYTES and streams the rest past), and a line that is not UTF-8 cannot be parsed as
JSON; either way the client is waiting for an answer to its id. Every client we know writes
`"id"` before `"params"` (the Python SDK) or as the last member (the TypeScript SDK builds
`{...request, jsonrpc, id}`), so the id is found by tokenizing the head, else at the end of
the tail. The same walk gives the path of the value the size bound (or the bad byte) falls
in, such as `params.arguments.title`, and, for a string, where it ends, so the refusal can
say how big that one field is.

Tokenizing is regular expressions over bytes, bounded by SCAN_TOKENS (a head of four million
tiny tokens is given up on, not walked for seconds): pure functions, no I/O.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

SCAN_TOKENS = 200_000  # tokens walked at most in one head
TAIL_BYTES = 64 * 1024  # the end of an oversize line kept, to find an id written last

# A string (group 1 set when it is closed), a structural character, or a bare scalar.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(")?|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.DOTALL)
# The top-level id as the last member: `,"id":5}` or `,"id":"a"}` at the very end of the line.
_LAST_ID = re.compile(rb'[,{]\s*"id"\s*:\s*(-?\d+|"[^"\\]*(?:\\.[^"\\]*)*")\s*}\s*\Z', re.DOTALL)
_ESCAPE_OR_QUOTE = re.compile(rb'["\\]')


def _request_id(token: bytes) -> int | str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _key(token: bytes) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token.strip(b'"').decode("utf-8", "replace")


def format_path(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass
class Scan:
    request_id: int | str | None = None
    path: list[str | int] = field(default_factory=list)  # where the scanned bytes end
    string_start: int | None = None  # offset of the string the scanned bytes end inside, if any
    escaped: bool = False  # the scanned bytes end on an escaping backslash inside that string


def scan(data: bytes) -> Scan:
    """The top-level id of the JSON text `data` begins (when it comes before the end of
    `data`), and the path of the value `data` ends in."""
    out = Scan()
    stack: list[list] = []  # [kind, key or index, expecting a key]
    for count, match in enumerate(_TOKEN.finditer(data)):
        if count >= SCAN_TOKENS:
            break  # walked far enough: the id found so far stands, the path is where the walk stopped
        token = match.group()
        first = token[:1]
        top = stack[-1] if stack else None
        if first in (b"{", b"["):
            stack.append([first, None if first == b"{" else 0, first == b"{"])
        elif first in (b"}", b"]"):
            if stack:
                stack.pop()
        elif first == b",":
            if top is not None:
                if top[0] == b"[":
                    top[1] += 1
                else:
                    top[1], top[2] = None, True
        elif first == b":":
            if top is not None:
                top[2] = False
        elif top is not None and top[0] == b"{" and top[2]:
            top[1] = _key(token)
        elif first == b'"' and match.group(1) is None:  # a string still open where data ends
            out.string_start = match.start()
            out.escaped = string_end(data[match.start() + 1:], False)[1]
            break
        elif len(stack) == 1 and top is not None and top[0] == b"{" and top[1] == "id" and out.request_id is None:
            out.request_id = _request_id(token)
    out.path = [entry[1] for entry in stack if entry[1] is not None]
    return out


def string_end(chunk: bytes, escaped: bool) -> tuple[int | None, bool]:
    """Inside a JSON string: the offset just past its closing quote in `chunk` (None when it
    goes on), and whether `chunk` ends on an escaping backslash. `escaped`: the chunk
    before ended on one, so this chunk's first byte is escaped."""
    i = 1 if escaped and chunk else (0 if not escaped else None)
    if i is None:
        return None, True
    while (hit := _ESCAPE_OR_QUOTE.search(chunk, i)) is not None:
        if hit.group() == b'"':
            return hit.end(), False
        if hit.end() >= len(chunk):
            return None, True
        i = hit.end() + 1
    return None, False


def last_id(tail: bytes) -> int | str | None:
    """The id written as the line's last top-level member, if it is."""
    match = _LAST_ID.search(tail)
    return _request_id(match.group(1)) if match else None


class OversizeLine:
    """A line past the bound, seen as it streams by: its head scanned once, the rest only
    counted (and searched for the end of the string the bound fell in); its last TAIL_BYTES kept."""

    def __init__(self, head: bytes, limit: int):
        self.limit = limit
        self.size = len(head)
        self.head = scan(head)
        self.tail = head[-TAIL_BYTES:]
        self.field_end: int | None = None
        if self.head.string_start is not None:
            self._escaped = self.head.escaped
        else:
            self.field_end = -1  # not inside a string: nothing to measure

    def feed(self, chunk: bytes) -> None:
        if self.field_end is None:
            end, self._escaped = string_end(chunk, self._escaped)
            if end is not None:
                self.field_end = self.size + end
        self.size += len(chunk)
        self.tail = (self.tail + chunk)[-TAIL_BYTES:]

    @property
    def request_id(self) -> int | str | None:
        if self.head.request_id is not None:
            return self.head.request_id
        return last_id(self.tail.rstrip(b" \t\r\n"))

    def message(self) -> str:
        size = len(self.tail.rstrip(b" \t\r\n")) + self.size - len(self.tail)  # without the newline
        text = f"Invalid request: the message is {size:,} bytes, {size - self.limit:,} over the limit of {self.limit:,} bytes"
        where = format_path(self.head.path)
        if where and self.head.string_start is not None and self.field_end not in (None, -1):
            text += f"; {where} alone is {self.field_end - self.head.string_start:,} bytes"
        elif where:
            container = list(self.head.path)
            while container and isinstance(container[-1], int):  # a long array: the array, not one of its items
                container.pop()
            where = format_path(container)
            text += f"; the limit is passed inside {where}" if where else ""
        advice = f"shorten {where}, or " if where else ""
        return text + f". Send less per call: {advice}split the work over several calls (a long text as a file path, or in parts)."
