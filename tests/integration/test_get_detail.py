"""tasks_get reads a task in one statement; on MariaDB as one JSON document (detail_json.py).
Whatever the form, the task must come back exactly as the row-by-row read (the UNION ALL of
reads.py, kept as the fallback) gives it: every field, the order of every list and of every
dict's keys, timestamps, DECIMAL cost, metadata, NULLs, unicode and control characters, caps.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from domain.models import ActorType, TaskType
from infrastructure.repository import detail_json
from infrastructure.repository.base import GET_COMMENTS_MAX, GET_RESPONSE_CHARS
from infrastructure.repository.reads import GET_BLOCKS_MAX, _json_parts

# Everything JSON must escape, and what it must not mangle: quotes, backslashes, every C0
# control character, DEL, a lone high code point, emoji (4 UTF-8 bytes), combining marks.
AWKWARD = 'q"uote\' back\\slash \\"both\\" ' + "".join(chr(c) for c in range(1, 32)) + "\x7f é ü 中文 😀 e\u0301 \u2028\u2029 end"


def _old_read(repo, task_id):
    return repo.db.read(lambda tx: repo._task_from_rows(tx, task_id))


def _same(repo, task_id):
    new, old = repo.get_task(task_id), _old_read(repo, task_id)
    assert new == old
    # Same keys in the same order, same types (1 is not 1.0, True is not 1), all the way down.
    assert json.dumps(new, ensure_ascii=False) == json.dumps(old, ensure_ascii=False)
    return new


def _rich_task(repo) -> int:
    ai = ActorType.AI
    blocker_done = repo.create_task(title="Blocker done", description=None, type=TaskType.AI_TASK, parent_task_id=None, due_date=None, metadata=None, created_by="a", created_by_type=ai)
    blocker_open = repo.create_task(title=f"Blocker {AWKWARD[:40]}", description="", type=TaskType.AI_TASK, parent_task_id=None, due_date=None, metadata=None, created_by="a", created_by_type=ai)
    parent = repo.create_task(title="Parent «é»", description="p", type=TaskType.MIXED, parent_task_id=None, due_date=None, metadata=None, created_by="a", created_by_type=ai)
    task = repo.create_task(
        title='Rich "task" \\ é 😀', description=AWKWARD * 300, type=TaskType.AI_TASK, created_by="alice", created_by_type=ai,
        parent_task_id=parent["id"], metadata={"k": AWKWARD, "n": [1, 2.5, None, True], "nested": {"é": "😀"}},
        priority="high", labels=["zeta", "Alpha", "alpha", "émoji", "Zeta"],
        depends_on=[blocker_done["id"], blocker_open["id"]], due_date=datetime(2030, 1, 2, 3, 4, 5),
    )
    tid = task["id"]

    def fill(tx):
        tx.execute(f"UPDATE tasks SET status = 'completed', completed_at = {tx.now} WHERE id = %s", [blocker_done["id"]])
        for n in range(3):
            tx.execute(
                "INSERT INTO tasks (uuid, title, description, type, status, created_by, created_by_type, parent_task_id, created_at, updated_at) "
                "VALUES (%s, %s, NULL, 'ai_task', 'pending', 'a', 'ai', %s, %s, %s)",
                [f"sub-{tid}-{n}", f"Sub {n} {AWKWARD[:20]}", tid, "2026-01-01 00:00:00.000001", "2026-01-01 00:00:00.5"],
            )
        # Assignments with every nullable field both set and NULL.
        assignment_ids = []
        for n in range(5):
            assignment_ids.append(tx.insert(
                "INSERT INTO task_assignments (task_id, assignee, assignee_type, model_name, assigned_by, assigned_by_type, status, "
                "assigned_at, accepted_at, completed_at, notes) VALUES (%s, %s, 'claude', %s, 'bob', 'human', 'accepted', %s, %s, NULL, %s)",
                [tid, f"agent-{n}-é", None if n % 2 else "model-x", "2026-01-02 03:04:05.000007",
                 None if n % 2 else "2026-01-02 03:04:06", None if n == 3 else f"note {n} {AWKWARD}"],
            ))
        # Results: costs with and without decimals, NULLs, a response past the cap (in emoji), one exactly at it.
        responses = ["short", "😀" * (GET_RESPONSE_CHARS + 5), "é" * GET_RESPONSE_CHARS, None, AWKWARD]
        costs = [0.0123, None, 12.5, 0.000001, 9999.999999]
        for n, (response, cost) in enumerate(zip(responses, costs)):
            tx.execute(
                "INSERT INTO task_results (task_id, assignment_id, executor, executor_type, model_name, request, response, "
                "request_timestamp, response_timestamp, duration_ms, tokens_input, tokens_output, tokens_total, cost_usd, status, "
                "error_message, created_at) VALUES (%s, %s, 'claude-x', 'claude', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [tid, None if n % 2 else assignment_ids[n], None if n == 2 else "m", None if n == 1 else AWKWARD * 20, response,
                 "2026-01-02 03:04:05.123456", None if n == 3 else "2026-01-02 03:04:07", None if n == 4 else n * 100,
                 n, None if n == 2 else n * 2, None if n == 2 else n * 3, cost, "error" if n == 3 else "success",
                 "boom \"x\" \\ é" if n == 3 else None, f"2026-01-02 03:04:0{n}.00000{n}"],
            )
        # More comments than tasks_get shows (the newest GET_COMMENTS_MAX), with metadata in every form.
        for n in range(GET_COMMENTS_MAX + 5):
            metadata = [None, json.dumps({"m": AWKWARD, "i": n}, ensure_ascii=False), '{"a": [1, {"b": null}]}', "[]", '"text"', "3.5"][n % 6]
            tx.execute(
                "INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata, created_at) "
                "VALUES (%s, %s, 'ai', 'comment', %s, %s, %s)",
                [tid, f"author {n}", f"{n}: {AWKWARD}" if n % 10 else "x" * 20_000, metadata, f"2026-01-03 00:00:{n % 60:02d}.{n:06d}"],
            )
        # More tasks blocked by this one than tasks_get lists.
        for n in range(GET_BLOCKS_MAX + 1):
            blocked = tx.insert(
                "INSERT INTO tasks (uuid, title, description, type, status, created_by, created_by_type) "
                "VALUES (%s, %s, NULL, 'ai_task', 'pending', 'a', 'ai')",
                [f"blocked-{tid}-{n}", f"Blocked {n}"],
            )
            tx.execute("INSERT INTO task_dependencies (task_id, depends_on_id) VALUES (%s, %s)", [blocked, tid])
        # A lease that has run out, held by a name with quotes.
        tx.execute(
            "INSERT INTO task_leases (task_id, holder, holder_type, lease_seconds, expires_at) VALUES (%s, %s, 'ai', 60, %s)",
            [tid, 'agent "7" é', "2026-01-01 00:00:00.25"],
        )

    repo.db.write(fill)
    return tid


def test_a_rich_task_reads_exactly_as_row_by_row(repo):
    tid = _rich_task(repo)
    task = _same(repo, tid)
    # And what it holds is what was written (a check of the old read too).
    assert task["description"] == AWKWARD * 300
    assert task["metadata"]["k"] == AWKWARD and task["metadata"]["nested"] == {"é": "😀"}
    assert [s["title"] for s in task["subtasks"]] == [f"Sub {n} {AWKWARD[:20]}" for n in range(3)]
    assert [a["notes"] for a in task["assignments"]][2:4] == [f"note 2 {AWKWARD}", None]
    assert [r["cost_usd"] for r in task["results"]] == [0.0123, None, 12.5, 0.000001, 9999.999999]
    assert [r["response_truncated"] for r in task["results"]] == [False, True, False, False, False]
    assert task["results"][1]["response"] == "😀" * GET_RESPONSE_CHARS
    assert task["results"][0]["created_at"] == "2026-01-02T03:04:00.000000"
    assert task["results"][3]["response_timestamp"] is None
    assert task["comments_truncated"] is True and len(task["comments"]) == GET_COMMENTS_MAX
    assert task["comments"][0]["content"].startswith("5: ") and task["comments"][-1]["content"].startswith(f"{GET_COMMENTS_MAX + 4}: ")
    assert [c["metadata"] for c in task["comments"][1:6]] == [None, {"m": AWKWARD, "i": 7}, {"a": [1, {"b": None}]}, [], "text"]
    assert task["labels"] == sorted(["zeta", "Alpha", "alpha", "émoji", "Zeta"])
    assert task["priority"] == "high"
    assert [d["title"] for d in task["depends_on"]] == ["Blocker done", f"Blocker {AWKWARD[:40]}"]
    assert len(task["blocks"]) == GET_BLOCKS_MAX - 1 and task["blocks_truncated"] is True
    assert (task["held_by"], task["lease_expired"]) == ('agent "7" é', True)
    assert task["lease_expires_at"] == "2026-01-01T00:00:00.250000"
    assert task["due_date"] == "2030-01-02T03:04:05.000000"
    assert task["ready"] is False and task["parent"]["title"] == "Parent «é»"


def test_a_bare_task_reads_exactly_as_row_by_row(repo):
    task = repo.create_task(title="Bare", description=None, type=TaskType.HUMAN_TASK, parent_task_id=None, due_date=None,
                            metadata=None, created_by="a", created_by_type=ActorType.HUMAN)
    bare = _same(repo, task["id"])
    assert bare["subtasks"] == bare["results"] == bare["assignments"] == bare["labels"] == bare["blocks"] == []
    assert bare["parent"] is None and bare["held_by"] is None and bare["ready"] is True


@pytest.mark.parametrize("backend_url", ["mariadb"], indirect=True)
def test_mariadb_reads_json_rows_and_zero_dates_as_the_driver_gave_them(repo):
    """On MariaDB the statement is the JSON one, one column a row, and its answer is used as
    it is; dates with a zero part come back as the text PyMySQL gives for them."""
    tid = _rich_task(repo)
    repo.db.write(lambda tx: tx.execute("UPDATE tasks SET due_date = '0000-00-00 00:00:00' WHERE id = %s", [tid]))
    repo.db.write(lambda tx: tx.execute("UPDATE task_assignments SET accepted_at = '2026-00-00 00:00:00' WHERE task_id = %s", [tid]))
    task = _same(repo, tid)
    assert task["due_date"] == "0000-00-00 00:00:00.000000"
    assert task["assignments"][0]["accepted_at"] == "2026-00-00 00:00:00.000000"

    def json_rows(tx):
        sql, ids = detail_json.statement(_json_parts(True, True))
        found = tx.rows(sql, [tid] * ids, prepare=True)
        assert {tuple(row) for row in found} == {("j",)}  # one column
        return detail_json.rows(found)

    found = repo.db.read(json_rows)
    assert found is not None and len(found["comment"]) == GET_COMMENTS_MAX + 1 and len(found["blocks"]) == GET_BLOCKS_MAX
    assert repo.db.read(lambda tx: tx.mariadb) is True  # get_task takes this path


@pytest.mark.parametrize("backend_url", ["mariadb"], indirect=True)
def test_a_row_too_large_for_one_packet_is_still_read_whole(repo):
    """Past max_allowed_packet JSON_OBJECT gives NULL: never a silent gap, the task is read
    the old way instead. JSON_OBJECT writes a tab as \\t, so metadata of half a packet of tabs
    (whitespace between JSON tokens; PyMySQL sends a tab as it is) makes a row of a packet and more."""
    task = repo.create_task(title="Huge", description="d", type=TaskType.AI_TASK, parent_task_id=None, due_date=None,
                            metadata=None, created_by="a", created_by_type=ActorType.AI)
    tid = task["id"]
    packet = int(repo.db.read(lambda tx: tx.value("SELECT @@max_allowed_packet AS p")))
    metadata = "[" + "\t" * (packet // 2 + 1000) + "1]"
    repo.db.write(lambda tx: tx.execute(
        "INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata) VALUES (%s, 'a', 'ai', 'comment', 'big', %s)",
        [tid, metadata],
    ))

    def json_rows(tx):
        sql, ids = detail_json.statement(_json_parts(True, True))
        return detail_json.rows(tx.rows(sql, [tid] * ids, prepare=True))

    assert repo.db.read(json_rows) is None  # the JSON read is refused ...
    got = _same(repo, tid)  # ... and the task read whole all the same
    assert got["comments"][-1]["metadata"] == json.loads(metadata)


def test_a_null_row_refuses_the_json_read():
    assert detail_json.rows([{"j": '["task", {"id": 1}]'}, {"j": '["label", {"label": "a"}]'}]) == {"task": [{"id": 1}], "label": [{"label": "a"}]}
    assert detail_json.rows([{"j": '["task", {"id": 1}]'}, {"j": None}]) is None  # the whole row past the packet
    assert detail_json.rows([{"j": '["task", {"id": 1}]'}, {"j": '["comment", null]'}]) is None  # its object past it
    assert detail_json.rows([]) == {}


def test_the_task_id_goes_in_as_a_parameter_only():
    sql, ids = detail_json.statement(_json_parts(True, True))
    assert ids == 11 and "WHERE id = %s)" in sql and not re.search(r"= \d", sql.replace("= 0,", ""))
