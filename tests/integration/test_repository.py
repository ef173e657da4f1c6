"""The repository against real databases: every test runs on SQLite and on MariaDB."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest

from domain.errors import Conflict, InvalidInput, NotFound, WorkflowError
from domain.models import ActorType, ExecutorType, ResultStatus, TaskStatus, TaskType
from infrastructure.database import Database
from infrastructure.task_repository import TaskRepository

AI = ActorType.AI


def make(repo: TaskRepository, title: str = "Write the report", **kw):
    args = dict(
        title=title, description=kw.pop("description", "Some details"), type=kw.pop("type", TaskType.AI_TASK),
        parent_task_id=kw.pop("parent_task_id", None), due_date=kw.pop("due_date", None),
        metadata=kw.pop("metadata", None), created_by=kw.pop("created_by", "alice"), created_by_type=AI,
    )
    for key in ("priority", "labels", "depends_on"):  # the order of work
        if key in kw:
            args[key] = kw.pop(key)
    assert not kw
    return repo.create_task(**args)


def move(repo, task_id, *statuses, actor="agent-1"):
    task = None
    for status in statuses:
        task = repo.set_status(task_id, TaskStatus(status), actor=actor, actor_type=AI)
    return task


def table_counts(db: Database) -> dict[str, int]:
    return db.read(
        lambda tx: {t: int(tx.value(f"SELECT COUNT(*) AS n FROM {t}")) for t in ("tasks", "task_assignments", "task_results", "task_comments")}
    )


def at_once(n: int, call) -> list:
    """call(i) on n threads released together: each result, or the exception it raised, in order of i."""
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = call(i)
        except Exception as exc:  # noqa: BLE001 - the caller asserts on every outcome
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_created_task_is_pending_with_uuid_metadata_and_history(repo):
    task = make(repo, metadata={"priority": "high", "tags": ["a"]}, due_date=datetime(2026, 12, 31, 17, 0))
    assert task["status"] == "pending" and len(task["uuid"]) == 36
    assert task["metadata"] == {"priority": "high", "tags": ["a"]}
    assert task["due_date"] == "2026-12-31T17:00:00.000000"
    full = repo.get_task(task["id"])
    assert [c["comment_type"] for c in full["comments"]] == ["status_change"]
    assert full["comments"][0]["author"] == "alice"


def test_timestamps_come_from_the_database_and_updated_at_moves(repo):
    task = make(repo)
    later = move(repo, task["id"], "in_progress")
    assert later["updated_at"] >= task["updated_at"]
    assert later["created_at"] == task["created_at"]


def test_list_is_newest_first_with_compact_rows_total_and_next_offset(repo):
    ids = [make(repo, f"Task {i}", description="x" * 500)["id"] for i in range(5)]
    page = repo.list_tasks(limit=2)
    assert [t["id"] for t in page["tasks"]] == ids[::-1][:2]
    assert page["total"] == 5 and page["total_exact"] and page["next_offset"] == 2
    assert len(page["tasks"][0]["description_preview"]) == 161 and page["tasks"][0]["description_preview"].endswith("…")
    last = repo.list_tasks(limit=2, offset=4)
    assert [t["id"] for t in last["tasks"]] == [ids[0]] and last["next_offset"] is None


def test_list_filters_by_status_type_parent_and_assignee(repo):
    parent = make(repo, "Parent")
    child = make(repo, "Child", parent_task_id=parent["id"], type=TaskType.HUMAN_TASK)
    other = make(repo, "Other")
    move(repo, other["id"], "in_progress")
    repo.assign(child["id"], assignee="bob", assignee_type=ExecutorType.HUMAN, model_name=None, notes=None, assigned_by="alice", assigned_by_type=AI)
    assert [t["id"] for t in repo.list_tasks(status="in_progress")["tasks"]] == [other["id"]]
    assert [t["id"] for t in repo.list_tasks(type="human_task")["tasks"]] == [child["id"]]
    assert [t["id"] for t in repo.list_tasks(parent_task_id=parent["id"])["tasks"]] == [child["id"]]
    assert [t["id"] for t in repo.list_tasks(assignee="bob")["tasks"]] == [child["id"]]
    assert repo.list_tasks(assignee="nobody")["total"] == 0


def test_search_matches_all_words_in_title_or_description(repo):
    a = make(repo, "Login page broken", description="Users cannot sign in after the upgrade")
    make(repo, "Logout button", description="Works fine")
    assert [t["id"] for t in repo.list_tasks(search="login upgrade")["tasks"]] == [a["id"]]
    assert [t["id"] for t in repo.list_tasks(search="LOGIN")["tasks"]] == [a["id"]]
    assert repo.list_tasks(search="login logout")["total"] == 0


@pytest.mark.parametrize("term", ["50%", "a_b", "it's", '"quoted"', "'; DROP TABLE tasks; --", "100!%"])
def test_search_metacharacters_match_literally(repo, term):
    hit = make(repo, f"Has {term} inside")
    make(repo, "Has 50 percent and ab and its and quoted and DROP TABLE tasks and 100")
    page = repo.list_tasks(search=term)
    assert [t["id"] for t in page["tasks"]] == [hit["id"]]
    assert repo.list_tasks()["total"] == 2  # the tasks table is still there


def test_get_shows_assignments_results_comments_subtasks_and_parent(repo):
    parent = make(repo, "Parent")
    task = make(repo, "Child", parent_task_id=parent["id"])
    grandchild = make(repo, "Grandchild", parent_task_id=task["id"])
    repo.assign(task["id"], assignee="claude", assignee_type=ExecutorType.CLAUDE, model_name="opus", notes="go", assigned_by="alice", assigned_by_type=AI)
    move(repo, task["id"], "in_progress")
    repo.add_result(
        task["id"], response="done", executor="claude", executor_type=ExecutorType.CLAUDE, model_name="opus",
        status=ResultStatus.SUCCESS, tokens_input=10, tokens_output=5, cost_usd=0.25, error_message=None,
        request="do it", duration_ms=1200, actor_type=AI,
    )
    full = repo.get_task(task["id"])
    assert full["parent"] == {"id": parent["id"], "title": "Parent", "status": "pending"}
    assert full["subtasks"] == [{"id": grandchild["id"], "title": "Grandchild", "status": "pending"}]
    assert full["assignments"][0]["assignee"] == "claude" and full["assignments"][0]["model_name"] == "opus"
    result = full["results"][0]
    assert (result["tokens_total"], result["cost_usd"], result["assignment_id"]) == (15, 0.25, full["assignments"][0]["id"])
    assert [c["comment_type"] for c in full["comments"]] == ["status_change", "assignment", "status_change", "result"]


def test_get_bounds_comments_and_response_and_keeps_each_list_in_id_order(repo):
    from infrastructure.task_repository import GET_COMMENTS_MAX, GET_RESPONSE_CHARS

    task = make(repo, "Busy", metadata={"k": [1, 2]}, due_date=datetime(2026, 12, 31, 17, 0))
    subtasks = [make(repo, f"Sub {i}", parent_task_id=task["id"])["id"] for i in range(3)]
    move(repo, subtasks[1], "in_progress")
    for i in range(GET_COMMENTS_MAX + 5):
        repo.add_comment(task["id"], content=f"note {i}", author="bob", author_type="human", metadata={"i": i})
    for text in ("x" * (GET_RESPONSE_CHARS + 7), "short", "y" * GET_RESPONSE_CHARS):
        repo.add_result(
            task["id"], response=text, executor="llama", executor_type=ExecutorType.OLLAMA, model_name="llama3",
            status=ResultStatus.SUCCESS, tokens_input=3, tokens_output=4, cost_usd=0.000125, error_message=None,
            request="r", duration_ms=9, actor_type=AI,
        )
    full = repo.get_task(task["id"])
    assert (full["title"], full["metadata"], full["due_date"]) == ("Busy", {"k": [1, 2]}, "2026-12-31T17:00:00.000000")
    assert full["parent"] is None
    assert full["subtasks"] == [
        {"id": subtasks[0], "title": "Sub 0", "status": "pending"},
        {"id": subtasks[1], "title": "Sub 1", "status": "in_progress"},
        {"id": subtasks[2], "title": "Sub 2", "status": "pending"},
    ]
    # The newest GET_COMMENTS_MAX, oldest first; the 3 result history rows are the newest.
    assert full["comments_truncated"] and len(full["comments"]) == GET_COMMENTS_MAX
    ids = [c["id"] for c in full["comments"]]
    assert ids == sorted(ids)
    assert [c["content"] for c in full["comments"][:2]] == ["note 8", "note 9"]
    assert full["comments"][0]["metadata"] == {"i": 8}
    assert [c["comment_type"] for c in full["comments"][-3:]] == ["result"] * 3
    responses = [(len(r["response"]), r["response_truncated"]) for r in full["results"]]
    assert responses == [(GET_RESPONSE_CHARS, True), (5, False), (GET_RESPONSE_CHARS, False)]
    first = full["results"][0]
    assert (first["tokens_total"], first["cost_usd"], first["duration_ms"]) == (7, 0.000125, 9)
    assert isinstance(first["cost_usd"], float) and isinstance(first["tokens_input"], int)
    assert datetime.fromisoformat(first["created_at"]) and len(first["request_timestamp"]) == 26
    assert full["created_at"] == repo.list_tasks(search="Busy")["tasks"][0]["created_at"]
    with pytest.raises(NotFound, match="Task 999999 does not exist"):
        repo.get_task(999_999)


def test_update_changes_fields_clears_due_date_and_records_history(repo):
    task = make(repo, due_date=datetime(2026, 1, 1))
    updated = repo.update_task(
        task["id"], {"title": "New title", "due_date": None, "type": TaskType.MIXED, "metadata": {"k": 1}},
        actor="bob", actor_type=ActorType.HUMAN,
    )
    assert (updated["title"], updated["due_date"], updated["type"], updated["metadata"]) == ("New title", None, "mixed", {"k": 1})
    last = repo.get_task(task["id"])["comments"][-1]
    assert (last["comment_type"], last["author"], last["author_type"]) == ("update", "bob", "human")
    assert last["metadata"] == {"fields": ["due_date", "metadata", "title", "type"]}


def test_update_refuses_a_stale_expected_updated_at_naming_who_changed_it(repo):
    task = make(repo)
    repo.update_task(task["id"], {"title": "Changed by bob"}, actor="bob", actor_type=ActorType.HUMAN)
    with pytest.raises(Conflict, match="bob") as err:
        repo.update_task(task["id"], {"title": "Mine"}, actor="carol", actor_type=AI, expected_updated_at=task["updated_at"])
    assert "Changed by bob" in str(err.value)
    assert repo.get_task(task["id"])["title"] == "Changed by bob"


def test_update_with_the_current_updated_at_succeeds(repo):
    task = make(repo)
    assert repo.update_task(task["id"], {"title": "ok"}, actor="a", actor_type=AI, expected_updated_at=task["updated_at"])["title"] == "ok"


def test_workflow_happy_path_sets_and_clears_completed_at(repo):
    task = make(repo)
    assert move(repo, task["id"], "in_progress")["completed_at"] is None
    done = move(repo, task["id"], "completed")
    assert done["status"] == "completed" and done["completed_at"] is not None
    retry = make(repo)
    failed = move(repo, retry["id"], "in_progress", "failed", "pending")
    assert failed["status"] == "pending" and failed["completed_at"] is None


def test_completed_is_final_and_the_refusal_says_what_to_do(repo):
    task = make(repo)
    move(repo, task["id"], "in_progress", "completed")
    with pytest.raises(WorkflowError, match=f"parent_task_id={task['id']}"):
        move(repo, task["id"], "pending")


def test_same_status_is_refused_with_the_holder(repo):
    task = make(repo)
    move(repo, task["id"], "in_progress", actor="agent-7")
    with pytest.raises(Conflict, match="already in_progress.*agent-7"):
        move(repo, task["id"], "in_progress", actor="agent-8")


def test_parent_cannot_complete_while_a_child_is_open(repo):
    parent = make(repo, "Parent")
    child = make(repo, "Child", parent_task_id=parent["id"])
    move(repo, parent["id"], "in_progress")
    with pytest.raises(WorkflowError, match=f"{child['id']} \\(pending\\)"):
        move(repo, parent["id"], "completed")
    move(repo, child["id"], "cancelled")
    assert move(repo, parent["id"], "completed")["status"] == "completed"


def test_subtask_rules_unknown_final_self_and_cycle(repo):
    with pytest.raises(InvalidInput, match="names no task"):
        make(repo, parent_task_id=999999)
    done = make(repo, "Done")
    move(repo, done["id"], "in_progress", "completed")
    with pytest.raises(WorkflowError, match="final"):
        make(repo, parent_task_id=done["id"])
    a = make(repo, "A")
    b = make(repo, "B", parent_task_id=a["id"])
    with pytest.raises(InvalidInput, match="itself"):
        repo.update_task(a["id"], {"parent_task_id": a["id"]}, actor="x", actor_type=AI)
    with pytest.raises(InvalidInput, match="cycle"):
        repo.update_task(a["id"], {"parent_task_id": b["id"]}, actor="x", actor_type=AI)


def test_assignment_rules_follow_the_task_type_and_status(repo):
    human = make(repo, type=TaskType.HUMAN_TASK)
    with pytest.raises(InvalidInput, match="Allowed for a human_task: human"):
        repo.assign(human["id"], assignee="m", assignee_type=ExecutorType.OLLAMA, model_name=None, notes=None, assigned_by="a", assigned_by_type=AI)
    ai = make(repo)
    with pytest.raises(InvalidInput, match="anthropic_api, claude, ollama"):
        repo.assign(ai["id"], assignee="bob", assignee_type=ExecutorType.HUMAN, model_name=None, notes=None, assigned_by="a", assigned_by_type=AI)
    move(repo, ai["id"], "cancelled")
    with pytest.raises(WorkflowError, match="only pending or in_progress"):
        repo.assign(ai["id"], assignee="c", assignee_type=ExecutorType.CLAUDE, model_name=None, notes=None, assigned_by="a", assigned_by_type=AI)


def test_completion_completes_open_assignments_and_release_ends_them(repo):
    task = make(repo)
    repo.assign(task["id"], assignee="c", assignee_type=ExecutorType.CLAUDE, model_name=None, notes=None, assigned_by="a", assigned_by_type=AI)
    move(repo, task["id"], "in_progress", "pending")
    assert repo.get_task(task["id"])["assignments"][0]["status"] == "rejected"
    repo.assign(task["id"], assignee="d", assignee_type=ExecutorType.CLAUDE, model_name=None, notes=None, assigned_by="a", assigned_by_type=AI)
    move(repo, task["id"], "in_progress", "completed")
    statuses = [a["status"] for a in repo.get_task(task["id"])["assignments"]]
    assert statuses == ["rejected", "completed"]


def test_results_are_refused_on_final_tasks(repo):
    task = make(repo)
    move(repo, task["id"], "cancelled")
    with pytest.raises(WorkflowError, match="final"):
        repo.add_result(
            task["id"], response="x", executor="c", executor_type=ExecutorType.CLAUDE, model_name=None, status=ResultStatus.SUCCESS,
            tokens_input=None, tokens_output=None, cost_usd=None, error_message=None, request=None, duration_ms=None, actor_type=AI,
        )


def test_delete_reports_what_went_and_frees_the_subtasks(repo, database):
    parent = make(repo, "Parent")
    child = make(repo, "Child", parent_task_id=parent["id"])
    repo.assign(parent["id"], assignee="c", assignee_type=ExecutorType.CLAUDE, model_name=None, notes=None, assigned_by="a", assigned_by_type=AI)
    repo.add_comment(parent["id"], content="note", author="a", author_type=AI)
    report = repo.delete_task(parent["id"], actor="admin", actor_type=ActorType.HUMAN)
    assert report["deleted"]["id"] == parent["id"]
    assert (report["assignments_deleted"], report["results_deleted"], report["comments_deleted"]) == (1, 0, 3)
    assert report["subtasks_now_top_level"] == [child["id"]]
    assert repo.get_task(child["id"])["parent_task_id"] is None
    with pytest.raises(NotFound, match=str(parent["id"])):
        repo.get_task(parent["id"])
    assert table_counts(database)["task_assignments"] == 0


def test_statistics_count_statuses_types_tokens_and_models(repo):
    a = make(repo)
    make(repo, type=TaskType.MIXED)
    move(repo, a["id"], "in_progress")
    for tokens, duration in ((100, 1000), (50, 3000)):
        repo.add_result(
            a["id"], response="r", executor="ollama", executor_type=ExecutorType.OLLAMA, model_name="mistral", status=ResultStatus.SUCCESS,
            tokens_input=tokens, tokens_output=tokens, cost_usd=0.5, error_message=None, request=None, duration_ms=duration, actor_type=AI,
        )
    stats = repo.statistics()
    assert stats["total"] == 2 and stats["by_status"]["in_progress"] == 1 and stats["by_status"]["pending"] == 1
    assert stats["by_type"] == {"human_task": 0, "ai_task": 1, "mixed": 1}
    assert (stats["tokens_input"], stats["tokens_total"], stats["cost_usd"]) == (150, 300, 1.0)
    assert stats["models"] == [
        {"model_name": "mistral", "executor_type": "ollama", "results": 2, "tokens_input": 150, "tokens_output": 150,
         "tokens_total": 300, "cost_usd": 1.0, "avg_duration_ms": 2000.0}
    ]


def test_a_failing_write_leaves_nothing_behind(repo, database):
    task = make(repo)
    before = table_counts(database)
    with pytest.raises(InvalidInput):
        repo.add_comment(task["id"], content="x", author="a", author_type=AI, comment_type="x" * 51)
    assert table_counts(database) == before


def test_unknown_ids_are_not_found_everywhere(repo):
    for call in (
        lambda: repo.get_task(424242),
        lambda: repo.update_task(424242, {"title": "x"}, actor="a", actor_type=AI),
        lambda: move(repo, 424242, "in_progress"),
        lambda: repo.delete_task(424242, actor="a", actor_type=AI),
        lambda: repo.add_comment(424242, content="x", author="a", author_type=AI),
    ):
        with pytest.raises(NotFound, match="424242"):
            call()


def test_two_threads_racing_for_a_task_one_wins_one_learns_who(repo, database):
    """Threads of one process share the pool; each call gets its own connection."""
    for _ in range(5):
        task = make(repo)
        outcomes = at_once(2, lambda i: move(repo, task["id"], "in_progress", actor=("agent-a", "agent-b")[i]))
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1
        loser = next(o for o in outcomes if isinstance(o, Exception))
        assert isinstance(loser, Conflict), loser
        assert "already in_progress" in str(loser) and "agent-" in str(loser)


def test_cursor_pages_through_every_task_once_in_list_order(repo):
    ids = [make(repo, f"Task {i}")["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        page = repo.list_tasks(limit=3, cursor=cursor)
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert [t["id"] for t in repo.list_tasks(limit=7)["tasks"]] == seen


def test_a_cursor_that_is_not_one_is_refused(repo):
    with pytest.raises(InvalidInput, match="cursor"):
        repo.list_tasks(cursor="not-a-cursor!")


def test_offset_pages_and_cursor_pages_agree_with_filters(repo):
    for i in range(6):
        make(repo, f"Task {i}", type=TaskType.MIXED if i % 2 else TaskType.AI_TASK)
    by_offset = repo.list_tasks(type="mixed", limit=2, offset=2)["tasks"]
    first = repo.list_tasks(type="mixed", limit=2)
    by_cursor = repo.list_tasks(type="mixed", limit=2, cursor=first["next_cursor"])["tasks"]
    assert [t["id"] for t in by_offset] == [t["id"] for t in by_cursor]


def test_a_common_word_search_returns_the_newest_matches(repo):
    ids = [make(repo, f"alpha job {i}")["id"] for i in range(60)]
    make(repo, "beta job")
    page = repo.list_tasks(search="alpha", limit=50)
    assert [t["id"] for t in page["tasks"]] == ids[::-1][:50]
    assert page["total"] >= 60 or not page["total_exact"]
    rest = repo.list_tasks(search="alpha", limit=50, cursor=page["next_cursor"])
    assert [t["id"] for t in rest["tasks"]] == ids[::-1][50:]


def test_statistics_follow_new_and_deleted_results(repo):
    task = make(repo)
    assert repo.statistics()["results"] == 0
    for _ in range(2):
        repo.add_result(
            task["id"], response="r", executor="c", executor_type=ExecutorType.CLAUDE, model_name="m", status=ResultStatus.SUCCESS,
            tokens_input=1, tokens_output=1, cost_usd=None, error_message=None, request=None, duration_ms=None, actor_type=AI,
        )
        assert repo.statistics()["tokens_total"] == 2 * (_ + 1)
    repo.delete_task(task["id"], actor="a", actor_type=AI)
    stats = repo.statistics()
    assert (stats["results"], stats["tokens_total"], stats["models"]) == (0, 0, [])


def test_sqlite_connections_stay_few_however_many_threads_call(tmp_path):
    """The SDK runs each call on a worker thread, and its idle threads end after 10 s:
    connections must outlive threads in a bounded pool, not pile up one per thread."""
    import os

    from config import load_config
    from infrastructure.database import SQLITE_IDLE_MAX

    path = tmp_path / "tasks.db"
    config = load_config({"DATABASE_URL": f"sqlite:///{path}"})
    db = Database(config.database, config.database_source)
    repo = TaskRepository(db)
    task = make(repo)

    def open_files() -> int:  # each open connection holds the write-ahead log open once
        wal = f"{path}-wal"
        return sum(1 for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == wal)

    seen = []
    for _ in range(30):  # one short-lived thread per call, as after each idle pause
        worker = threading.Thread(target=lambda: seen.append(repo.get_task(task["id"])["title"]))
        worker.start()
        worker.join()
    seen += at_once(8, lambda i: repo.get_task(task["id"])["title"])  # more at once than the pool keeps
    assert seen == ["Write the report"] * 38
    assert 1 <= open_files() <= SQLITE_IDLE_MAX
    db.close()
    assert open_files() == 0


def test_mariadb_connections_that_died_right_after_use_are_replaced_for_reads_and_writes(mariadb_url):
    """The pool pings only connections idle for a second; a server restart within that second
    must still cost no call: the first statement fails, and the retry gets a live connection."""
    from urllib.parse import quote

    from config import parse_database_url
    from tests.conftest import empty_mariadb
    from tests.support.tcp_proxy import TcpProxy

    empty_mariadb(mariadb_url)
    s = parse_database_url(mariadb_url)
    proxy = TcpProxy(s.host, s.port).start()
    settings = parse_database_url(f"mysql://{quote(s.user)}:{quote(s.password)}@127.0.0.1:{proxy.port}/{s.name}")
    db = Database(settings, "DATABASE_URL")
    repo = TaskRepository(db)
    try:
        task = make(repo, "Survives a blip")
        titles = at_once(5, lambda i: repo.get_task(task["id"])["title"])  # five pooled connections, all just used
        assert titles == ["Survives a blip"] * 5
        for step in ("read", "write", "claim", "read"):
            proxy.stop()  # every pooled connection dies, well within the second
            proxy.start()
            if step == "read":
                assert repo.get_task(task["id"])["title"] == "Survives a blip"
            elif step == "write":
                assert repo.add_comment(task["id"], content="after the blip", author="bob", author_type="human")
            else:
                claimed = repo.claim(
                    assignee="agent-9", assignee_type=ExecutorType.CLAUDE, model_name=None, type=None, search=None,
                    parent_task_id=None, lease_minutes=None, actor_type=AI,
                )
                assert claimed is not None and claimed["id"] == task["id"]
        assert repo.get_task(task["id"])["status"] == "in_progress"
    finally:
        db.close()
        proxy.stop()


def test_parallel_first_calls_on_a_new_sqlite_file_all_succeed(tmp_path):
    """A client may send its first calls at once: one sets the new file up (WAL, schema),
    the others wait. (Two connections switching a new file to WAL together get "database
    is locked" at once, whatever the busy timeout: seen once from a fresh clone.)"""
    from config import load_config

    for attempt in range(10):
        config = load_config({"DATABASE_URL": f"sqlite:///{tmp_path / str(attempt) / 'tasks.db'}"})
        db = Database(config.database, config.database_source)
        repo = TaskRepository(db)
        outcomes = at_once(8, lambda i: make(repo, f"Task {i}")["id"] if i % 2 else repo.statistics()["total"])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert repo.list_tasks()["total"] == 4
        db.close()


def test_a_take_and_a_send_back_are_one_change_or_none(repo, database):
    """The board's take (in_progress + assignment) and send back (pending + the reason) are
    one transaction each: a refusal of any part leaves nothing behind."""
    HUMAN = ActorType.HUMAN
    ai_only = make(repo, "for an agent", type=TaskType.AI_TASK)
    before = table_counts(database)
    with pytest.raises(InvalidInput, match="cannot take task"):  # a person cannot take an ai_task
        repo.set_status(ai_only["id"], TaskStatus.IN_PROGRESS, actor="dana", actor_type=HUMAN, take_as=ExecutorType.HUMAN)
    assert repo.get_task(ai_only["id"])["status"] == "pending" and table_counts(database) == before

    task = make(repo, "for a person", type=TaskType.HUMAN_TASK)
    taken = repo.set_status(task["id"], TaskStatus.IN_PROGRESS, actor="dana", actor_type=HUMAN, take_as=ExecutorType.HUMAN)
    got = repo.get_task(task["id"])
    assert taken["status"] == "in_progress" and [(a["assignee"], a["assignee_type"]) for a in got["assignments"]] == [("dana", "human")]
    assert got["held_by"] == "dana"

    before = table_counts(database)
    with pytest.raises(Conflict):  # stale: the person saw an older version; no status change and no comment
        repo.set_status(task["id"], TaskStatus.PENDING, actor="dana", actor_type=HUMAN,
                        expected_updated_at="2001-01-01T00:00:00.000000", comment="Sent back: redo it")
    assert repo.get_task(task["id"])["status"] == "in_progress" and table_counts(database) == before
    repo.set_status(task["id"], TaskStatus.PENDING, actor="dana", actor_type=HUMAN, comment="Sent back: redo it")
    history = [(c["comment_type"], c["content"]) for c in repo.get_task(task["id"])["comments"]][-2:]
    assert history == [("status_change", "Status: in_progress → pending"), ("comment", "Sent back: redo it")]


def test_an_id_no_row_can_have_is_not_found_not_a_driver_error(repo):
    """Past BIGINT, SQLite's binding overflowed (OverflowError) and the board answered 500 for
    /tasks/99999999999999999999999; ids come to the repository from URLs as well as tools."""
    for task_id in (0, -1, 2**63, 10**22):
        with pytest.raises(NotFound, match="does not exist"):
            repo.get_task(task_id)
        with pytest.raises(NotFound, match="does not exist"):
            repo.add_comment(task_id, content="x", author="a", author_type="ai")
        with pytest.raises(NotFound, match="does not exist"):
            repo.set_status(task_id, TaskStatus.COMPLETED, actor="a", actor_type=ActorType.AI)
