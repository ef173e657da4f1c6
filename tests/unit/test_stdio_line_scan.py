"""The scan that finds the id and the field of a stdin line refused unread (issue 22)."""
from __future__ import annotations

import json

from transports.stdio_line_scan import OversizeLine, format_path, last_id, scan, string_end


def _streamed(message: dict, limit: int, chunk: int = 1000) -> OversizeLine:
    raw = json.dumps(message).encode() + b"\n"
    line = OversizeLine(raw[:limit], limit)
    for start in range(limit, len(raw), chunk):
        line.feed(raw[start:start + chunk])
    return line


def test_the_id_before_params_and_the_string_field_the_bound_falls_in_are_named_with_its_size():
    title = "a\\\"b" * 2000  # escapes and quotes inside the string, across chunk edges
    line = _streamed({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"arguments": {"title": title}}}, 100, chunk=7)
    assert line.request_id == 12
    assert format_path(line.head.path) == "params.arguments.title"
    assert f"params.arguments.title alone is {len(json.dumps(title)):,} bytes" in line.message()


def test_an_id_written_last_is_found_at_the_end_of_the_line():
    line = _streamed({"method": "m", "params": {"items": ["x" * 50, "y" * 5000]}, "jsonrpc": "2.0", "id": "last"}, 120)
    assert line.request_id == "last"
    assert "params.items[1] alone is 5,002 bytes" in line.message()


def test_no_id_and_ids_that_are_not_ids_give_none():
    assert _streamed({"method": "m", "params": {"blob": "z" * 500}}, 50).request_id is None
    assert scan(b'{"params": {"id": 5}, "x": "').request_id is None  # nested: not the request's id
    assert scan(b'{"id": true, "x": "').request_id is None
    assert scan(b'{"id": 1.5, "x": "').request_id is None
    assert last_id(b'"x": "a\\"id\\":5}"') is None  # inside a string


def test_the_bound_in_a_long_array_names_the_array():
    line = _streamed({"id": 3, "params": {"n": list(range(1000))}}, 60)
    assert line.request_id == 3 and "the limit is passed inside params.n." in line.message()


def test_string_end_follows_escapes_across_chunks():
    assert string_end(b'abc"rest', False) == (4, False)
    assert string_end(b'ab\\', False) == (None, True)
    assert string_end(b'"x"', True) == (3, False)  # the first quote was escaped by the chunk before
    assert string_end(b'\\\\"', False) == (3, False)
