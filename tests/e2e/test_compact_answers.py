"""Compact answers (issue 26): what a read costs an agent's context.

- A page of 50 realistic tasks (a 250-character description, a priority, one label) is at
  most 8,000 bytes of text by default (23.4 KB before); detail="summary" gives the longer rows.
- Text block and structuredContent are the same JSON, valid against the published key list
  and the typed schema (what the TypeScript SDK and code generators check).
- tasks_get is complete but bounded: past its bounds a list is cut, `more` names the call
  that reads the rest, and following it reads every item exactly once.
"""
from __future__ import annotations

import json

import jsonschema
import pytest
from mcp import Client

from infrastructure.repository.base import GET_COMMENTS_MAX, GET_RESULTS_MAX, GET_SUBTASKS_MAX
from tests.e2e.test_tool_contract import typed_schemas
from tests.support.realistic_tasks import realistic_task
from tools.task_results import COMPACT_FIELDS

pytestmark = pytest.mark.anyio

PAGE_TARGET = 8_000  # bytes of text for a default page of 50 (issue 26)


async def _call(client, name, **args):
    result = await client.call_tool(name, args)
    assert not result.is_error, (name, result.content)
    return result


def _check(result, published, typed):
    """What a validating client checks, and that the text is the same data."""
    jsonschema.validate(result.structured_content, published)
    jsonschema.validate(result.structured_content, typed)
    assert len(result.content) == 1 and json.loads(result.content[0].text) == result.structured_content


async def test_a_default_page_of_50_realistic_tasks_fits_in_8000_bytes_and_summary_gives_more(mcp_server):
    typed = typed_schemas(mcp_server)["tasks_list"]
    async with Client(mcp_server) as client:
        published = {t.name: t.output_schema for t in (await client.list_tools()).tools}["tasks_list"]
        for n in range(50):
            await _call(client, "tasks_create", **realistic_task(n))
        compact = await _call(client, "tasks_list", limit=50)
        summary = await _call(client, "tasks_list", limit=50, detail="summary")
    size = len(compact.content[0].text.encode("utf-8"))
    summary_size = len(summary.content[0].text.encode("utf-8"))
    print(f"\npage of 50: compact {size:,} bytes of text, summary {summary_size:,}")
    assert size <= PAGE_TARGET, f"a default page of 50 is {size:,} bytes of text, over {PAGE_TARGET:,}"
    rows = compact.structured_content["tasks"]
    assert len(rows) == 50 and all(tuple(row) == COMPACT_FIELDS for row in rows), rows[0]
    assert rows[0]["labels"] and rows[0]["priority"] in ("low", "normal", "high", "urgent")
    long_rows = summary.structured_content["tasks"]
    assert [r["id"] for r in long_rows] == [r["id"] for r in rows]
    assert all(r["description_preview"].startswith("The current behaviour") and r["type"] == "ai_task" for r in long_rows)
    assert summary_size > 2 * size
    for result in (compact, summary):
        _check(result, published, typed)


async def test_tasks_get_is_bounded_and_more_names_the_calls_that_read_the_rest(mcp_server):
    typed = typed_schemas(mcp_server)["tasks_get"]
    async with Client(mcp_server) as client:
        published = {t.name: t.output_schema for t in (await client.list_tools()).tools}["tasks_get"]
        tid = (await _call(client, "tasks_create", title="A long-lived task")).structured_content["id"]
        small = await _call(client, "tasks_get", id=tid)
        for n in range(GET_SUBTASKS_MAX + 1):
            await _call(client, "tasks_create", title=f"Part {n}", parent_task_id=tid)
        for n in range(GET_RESULTS_MAX + 2):
            await _call(client, "tasks_result", id=tid, response=f"attempt {n}", executor="claude", executor_type="claude")
        for n in range(GET_COMMENTS_MAX):
            await _call(client, "tasks_comment", id=tid, content=f"note {n}")
        first = await _call(client, "tasks_get", id=tid)
        task = first.structured_content
        more = task["more"]
        oldest_comment, oldest_result = task["comments"][0]["id"], task["results"][0]["id"]
        older = await _call(client, "tasks_get", id=tid, comments_before=oldest_comment, results_before=oldest_result)
        rest = older.structured_content
        children = (await _call(client, "tasks_list", parent_task_id=tid, limit=500)).structured_content
    assert small.structured_content["more"] is None and not small.structured_content["comments_truncated"]
    assert len(task["subtasks"]) == GET_SUBTASKS_MAX and task["subtasks_truncated"]
    assert len(task["results"]) == GET_RESULTS_MAX and task["results_truncated"]
    assert len(task["comments"]) == GET_COMMENTS_MAX and task["comments_truncated"]
    assert f"tasks_get(id={tid}, comments_before={oldest_comment})" in more, more
    assert f"tasks_get(id={tid}, results_before={oldest_result})" in more, more
    assert f"tasks_list(parent_task_id={tid})" in more, more
    # The older pages hold the rest, each item once: the results (12) and comments (creation,
    # 101 subtask history rows are the subtasks' own; 12 result rows, 100 notes: 113) in all.
    assert [r["response"] for r in rest["results"] + task["results"]] == [f"attempt {n}" for n in range(GET_RESULTS_MAX + 2)]
    assert not rest["results_truncated"] and not rest["comments_truncated"]
    every = [c["id"] for c in rest["comments"] + task["comments"]]
    assert every == sorted(set(every)) and len(every) == 1 + (GET_RESULTS_MAX + 2) + GET_COMMENTS_MAX
    assert rest["comments"][0]["content"].startswith("Task created")
    assert children["total"] == GET_SUBTASKS_MAX + 1
    for result in (first, older):
        _check(result, published, typed)
