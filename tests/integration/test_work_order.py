"""The order of work on both backends: dependencies, priority and labels, the ready queue,
and leases that survive long work."""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from domain.errors import Conflict, InvalidInput, NotFound, WorkflowError
from domain.models import ActorType, ExecutorType, TaskStatus
from infrastructure.task_repository import TaskRepository
from tests.integration.test_claims import claim
from tests.integration.test_repository import at_once, make, move, table_counts

AI = ActorType.AI


def deps(repo, task_id, blockers, actor="planner"):
    return repo.update_task(task_id, {"depends_on": blockers}, actor=actor, actor_type=AI)


def test_dependencies_show_both_ways_and_replace_and_clear(repo):
    build, test, deploy = make(repo, "build"), make(repo, "test"), make(repo, "deploy")
    deps(repo, deploy["id"], [build["id"], test["id"]])
    full = repo.get_task(deploy["id"])
    assert [d["id"] for d in full["depends_on"]] == [build["id"], test["id"]]
    assert full["depends_on"][0] == {"id": build["id"], "title": "build", "status": "pending"}
    assert full["ready"] is False
    assert [b["id"] for b in repo.get_task(build["id"])["blocks"]] == [deploy["id"]]
    deps(repo, deploy["id"], [test["id"]])
    assert [d["id"] for d in repo.get_task(deploy["id"])["depends_on"]] == [test["id"]]
    assert repo.get_task(build["id"])["blocks"] == []
    deps(repo, deploy["id"], [])
    after = repo.get_task(deploy["id"])
    assert after["depends_on"] == [] and after["ready"] is True
    assert "depends on nothing" in after["comments"][-1]["content"]


def test_created_with_dependencies_priority_and_labels(repo):
    build = make(repo, "build")
    deploy = make(repo, "deploy", depends_on=[build["id"]], priority="urgent", labels=["release", "ops"])
    assert (deploy["priority"], deploy["labels"]) == ("urgent", ["ops", "release"])
    full = repo.get_task(deploy["id"])
    assert (full["priority"], full["labels"], [d["id"] for d in full["depends_on"]]) == ("urgent", ["ops", "release"], [build["id"]])


def test_unknown_blockers_and_cycles_are_refused_with_nothing_written(repo, database):
    a, b, c = make(repo, "a"), make(repo, "b"), make(repo, "c")
    deps(repo, b["id"], [a["id"]])
    deps(repo, c["id"], [b["id"]])
    before = table_counts(database)
    with pytest.raises(NotFound, match="99999"):
        deps(repo, a["id"], [c["id"], 99999])
    with pytest.raises(WorkflowError, match=rf"{a['id']} → {c['id']} → {b['id']} → {a['id']}"):
        deps(repo, a["id"], [c["id"]])
    with pytest.raises(NotFound, match="99999"):
        make(repo, "d", depends_on=[99999])
    assert table_counts(database) == before
    assert repo.get_task(a["id"])["depends_on"] == []


def test_a_blocked_task_cannot_start_and_the_refusal_names_the_open_blockers(repo):
    build, deploy = make(repo, "build the thing"), make(repo, "deploy")
    deps(repo, deploy["id"], [build["id"]])
    with pytest.raises(WorkflowError, match=rf"depends on {build['id']} \(pending: 'build the thing'\)"):
        move(repo, deploy["id"], "in_progress")
    move(repo, build["id"], "in_progress", "completed")
    assert move(repo, deploy["id"], "in_progress")["status"] == "in_progress"


def test_a_cancelled_or_failed_blocker_still_blocks(repo):
    cancelled, failed, task = make(repo, "dropped"), make(repo, "broke"), make(repo, "needs both")
    deps(repo, task["id"], [cancelled["id"], failed["id"]])
    move(repo, cancelled["id"], "cancelled")
    move(repo, failed["id"], "in_progress", "failed")
    assert repo.get_task(task["id"])["ready"] is False
    assert claim(repo) is None or claim(repo)["id"] != task["id"]
    with pytest.raises(WorkflowError, match="cancelled: 'dropped'"):
        move(repo, task["id"], "in_progress")


def test_a_blocker_of_an_open_task_cannot_be_deleted_and_the_refusal_names_the_way_out(repo, database):
    from infrastructure.change_feed import ChangeFeed

    build, lint = make(repo, "build the thing"), make(repo, "lint")
    deploy, failed = make(repo, "deploy"), make(repo, "retry me")
    deps(repo, deploy["id"], [build["id"], lint["id"]])
    deps(repo, failed["id"], [build["id"]])
    move(repo, failed["id"], "cancelled")  # a final dependent does not hold the blocker
    feed = ChangeFeed(database)
    start, before = feed.head(), table_counts(database)
    with pytest.raises(WorkflowError) as refused:
        repo.delete_task(build["id"], actor="bob", actor_type=AI)
    message = str(refused.value)
    assert f"Task {build['id']} cannot be deleted" in message
    assert f"{deploy['id']} (pending: 'deploy')" in message and f"{failed['id']} (" not in message
    assert f"tasks_update id={deploy['id']} depends_on=[{lint['id']}]" in message and "cancel task" in message
    assert table_counts(database) == before and feed.since(start) == []
    assert repo.get_task(deploy["id"])["ready"] is False
    # Failed and in-progress dependents still hold it; once the dependency is removed, it goes.
    move(repo, deploy["id"], "cancelled")
    retry = make(repo, "retry", depends_on=[build["id"]])
    move(repo, build["id"], "in_progress", "completed")
    move(repo, retry["id"], "in_progress", "failed")
    with pytest.raises(WorkflowError, match=rf"{retry['id']} \(failed: 'retry'\)"):
        repo.delete_task(build["id"], actor="bob", actor_type=AI)
    deps(repo, retry["id"], [])
    start = feed.head()
    repo.delete_task(build["id"], actor="bob", actor_type=AI)
    # The finished dependents lost the edge, and their history and the feed say so.
    said = [c["content"] for c in repo.get_task(deploy["id"])["comments"]]
    assert f"Blocker task {build['id']} was deleted; the dependency on it is gone" in said
    assert repo.get_task(deploy["id"])["depends_on"] == [{"id": lint["id"], "title": "lint", "status": "pending"}]
    assert {(c.task_id, c.kind) for c in feed.since(start)} == {
        (deploy["id"], "updated"), (failed["id"], "updated"), (build["id"], "deleted"),
    }


def test_claim_serves_ready_tasks_by_priority_then_due_date_then_age(repo):
    low = make(repo, "low", priority="low")
    normal_old = make(repo, "normal old")
    urgent_undated = make(repo, "urgent undated", priority="urgent")
    high = make(repo, "high", priority="high")
    urgent_due = make(repo, "urgent due", priority="urgent", due_date=datetime(2027, 1, 1))
    normal_due = make(repo, "normal due", due_date=datetime(2026, 12, 24))
    blocker = make(repo, "blocker", priority="low")
    blocked_urgent = make(repo, "blocked urgent", priority="urgent", depends_on=[blocker["id"]])
    order = [claim(repo)["id"] for _ in range(7)]
    assert order == [
        urgent_due["id"], urgent_undated["id"], high["id"], normal_due["id"], normal_old["id"], low["id"], blocker["id"],
    ]
    assert claim(repo) is None  # the blocked task is not handed out
    move(repo, blocker["id"], "completed", actor="agent")
    assert claim(repo)["id"] == blocked_urgent["id"]


def test_list_filters_priority_label_and_ready(repo):
    a = make(repo, "a", priority="high", labels=["backend"])
    b = make(repo, "b", labels=["backend", "ui"])
    c = make(repo, "c", depends_on=[a["id"]])
    ids = lambda **kw: [t["id"] for t in repo.list_tasks(**kw)["tasks"]]  # noqa: E731
    assert ids(priority="high") == [a["id"]]
    assert ids(priority="normal") == [c["id"], b["id"]]
    assert ids(label="backend") == [b["id"], a["id"]]
    assert ids(label="ui") == [b["id"]]
    assert ids(ready=True) == [b["id"], a["id"]]
    assert ids(ready=False) == [c["id"]]
    row = repo.list_tasks(label="ui")["tasks"][0]
    assert (row["priority"], row["labels"]) == ("normal", ["backend", "ui"])


def test_statistics_count_ready_blocked_and_priorities(repo):
    a = make(repo, "a", priority="urgent")
    make(repo, "b", depends_on=[a["id"]])
    make(repo, "c", priority="low")
    done = make(repo, "done", priority="urgent")
    move(repo, done["id"], "in_progress", "completed")
    stats = repo.statistics()
    assert (stats["ready"], stats["blocked"]) == (2, 1)
    assert stats["by_priority"] == {"urgent": 1, "high": 0, "normal": 1, "low": 1}


def test_parent_cycles_are_refused_past_any_depth(repo):
    chain = [make(repo, "root")]
    for i in range(1005):
        chain.append(make(repo, f"link {i}", parent_task_id=chain[-1]["id"]))
    with pytest.raises(InvalidInput, match="would make a cycle"):
        repo.update_task(chain[0]["id"], {"parent_task_id": chain[-1]["id"]}, actor="x", actor_type=AI)
    assert repo.get_task(chain[0]["id"])["parent_task_id"] is None


def test_concurrent_changes_cannot_close_a_cycle_together(repo):
    for _ in range(5):
        a, b, c, d = (make(repo, n) for n in "abcd")
        # Parents: a→b and c→d exist; at once b→c and d→a would close a→b→c→d→a.
        repo.update_task(a["id"], {"parent_task_id": b["id"]}, actor="x", actor_type=AI)
        repo.update_task(c["id"], {"parent_task_id": d["id"]}, actor="x", actor_type=AI)
        links = [(b["id"], c["id"]), (d["id"], a["id"])]
        outcomes = at_once(2, lambda i: repo.update_task(links[i][0], {"parent_task_id": links[i][1]}, actor="x", actor_type=AI))
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1, outcomes
        assert all(isinstance(o, (WorkflowError, Conflict, InvalidInput)) for o in outcomes if isinstance(o, Exception))
        # Dependencies the same way: x depends on y, and at once y depends on x.
        x, y = make(repo, "x"), make(repo, "y")
        pairs = [(x["id"], y["id"]), (y["id"], x["id"])]
        outcomes = at_once(2, lambda i: deps(repo, pairs[i][0], [pairs[i][1]]))
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1, outcomes


def short_leases(database) -> TaskRepository:
    return TaskRepository(database, lease_minutes=1 / 60, max_attempts=3)


def test_the_holder_finishes_after_its_lease_ran_out_while_nobody_took_the_task(database):
    repo = short_leases(database)
    task = make(repo)
    move(repo, task["id"], "in_progress", actor="slow-agent")
    time.sleep(1.3)
    assert repo.reap_expired() == [task["id"]]  # as any agent's next claim would
    assert repo.get_task(task["id"])["status"] == "pending"
    repo.add_result(
        task["id"], response="done", executor="slow-agent", executor_type=ExecutorType.CLAUDE, model_name=None,
        status=__import__("domain.models", fromlist=["ResultStatus"]).ResultStatus.SUCCESS, tokens_input=None,
        tokens_output=None, cost_usd=None, error_message=None, request=None, duration_ms=None, actor_type=AI,
    )
    full = repo.get_task(task["id"])
    assert (full["status"], full["held_by"]) == ("in_progress", "slow-agent")  # the result took it back
    done = repo.set_status(task["id"], TaskStatus.COMPLETED, actor="slow-agent", actor_type=AI)
    assert done["status"] == "completed"


def test_the_holder_completes_directly_after_the_reaper_gave_its_task_back(database):
    repo = short_leases(database)
    task = make(repo)
    move(repo, task["id"], "in_progress", actor="slow-agent")
    time.sleep(1.3)
    repo.reap_expired()
    assert repo.get_task(task["id"])["status"] == "pending"
    done = repo.set_status(task["id"], TaskStatus.COMPLETED, actor="slow-agent", actor_type=AI)
    assert done["status"] == "completed"
    assert "resumed by slow-agent" in " ".join(c["content"] for c in repo.get_task(task["id"])["comments"])


def test_an_expired_holder_is_refused_naming_the_agent_that_took_the_task(database):
    repo = short_leases(database)
    task = make(repo)
    move(repo, task["id"], "in_progress", actor="slow-agent")
    time.sleep(1.3)
    taken = claim(repo, "fast-agent", lease_minutes=5)
    assert taken["id"] == task["id"]
    with pytest.raises(Conflict, match="held by fast-agent") as refused:
        repo.set_status(task["id"], TaskStatus.COMPLETED, actor="slow-agent", actor_type=AI)
    assert refused.value.retryable is True
    full = repo.get_task(task["id"])
    assert (full["status"], full["held_by"], full["lease_expired"]) == ("in_progress", "fast-agent", False)


def test_a_comment_by_the_holder_renews_its_lease(database):
    repo = short_leases(database)
    task = make(repo)
    move(repo, task["id"], "in_progress", actor="agent-1")
    first = repo.get_task(task["id"])["lease_expires_at"]
    time.sleep(0.3)
    repo.add_comment(task["id"], content="still working", author="agent-1", author_type=AI)
    assert repo.get_task(task["id"])["lease_expires_at"] > first


def test_a_model_run_is_refused_on_a_task_another_agent_holds(repo):
    task = make(repo)
    claim(repo, "claude-1", lease_minutes=30)
    before = repo.get_task(task["id"])
    with pytest.raises(Conflict, match="held by claude-1") as refused:
        repo.start_execution(task["id"], model="mistral", actor="someone-else", actor_type=AI)
    assert refused.value.retryable is True
    after = repo.get_task(task["id"])
    assert (after["held_by"], after["lease_expires_at"], after["updated_at"]) == (
        before["held_by"], before["lease_expires_at"], before["updated_at"])


def test_huge_assignment_notes_never_stop_a_release_or_the_reaper(database):
    repo = short_leases(database)
    task = make(repo)
    repo.assign(task["id"], assignee="bob", assignee_type=ExecutorType.CLAUDE, model_name=None, notes="é" * 32_767,
                assigned_by="x", assigned_by_type=AI)
    move(repo, task["id"], "in_progress", actor="bob")
    assert move(repo, task["id"], "pending", actor="bob")["status"] == "pending"
    move(repo, task["id"], "in_progress", actor="bob")
    time.sleep(1.3)
    assert repo.reap_expired() == [task["id"]]
    other = make(repo, "other")
    assert claim(repo, "next")["id"] in (task["id"], other["id"])


def test_every_timestamp_a_caller_sees_has_one_iso_8601_form(repo):
    import re

    blocker = make(repo, "blocker", due_date=datetime(2026, 12, 31, 17))
    task = make(repo, "task", depends_on=[blocker["id"]])
    move(repo, blocker["id"], "in_progress", "completed")
    repo.add_comment(task["id"], content="note", author="a", author_type=AI)
    claim(repo, "agent")
    seen = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key.endswith(("_at", "_date", "_timestamp")) and value is not None:
            seen.append((key, value))

    for task_id in (blocker["id"], task["id"]):
        walk(repo.get_task(task_id))
    walk(repo.list_tasks())
    keys = {k for k, _ in seen}
    assert {"due_date", "created_at", "updated_at", "completed_at", "lease_expires_at", "assigned_at"} <= keys
    assert [v for _, v in seen if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", v)] == []


def test_a_priority_follows_its_task_in_and_out_of_the_queue(repo):
    urgent = make(repo, "urgent", priority="urgent")
    normal = make(repo, "normal")
    assert claim(repo, "a")["id"] == urgent["id"]
    assert repo.statistics()["by_priority"]["urgent"] == 0  # in progress: not waiting
    move(repo, urgent["id"], "pending", actor="a")  # given back: first in line again
    assert repo.statistics()["by_priority"]["urgent"] == 1
    assert claim(repo, "b")["id"] == urgent["id"]
    move(repo, urgent["id"], "completed", actor="b")
    assert claim(repo, "c")["id"] == normal["id"]
    assert repo.get_task(urgent["id"])["priority"] == "urgent"  # still shown once done
    later = make(repo, "raised later")
    repo.update_task(later["id"], {"priority": "high"}, actor="x", actor_type=AI)
    assert repo.statistics()["by_priority"]["high"] == 1


def test_within_a_priority_a_changed_due_date_moves_the_task_in_the_queue(repo):
    first = make(repo, "first", priority="high", due_date=datetime(2027, 6, 1))
    second = make(repo, "second", priority="high", due_date=datetime(2027, 7, 1))
    repo.update_task(second["id"], {"due_date": datetime(2027, 1, 1)}, actor="x", actor_type=AI)
    assert [claim(repo)["id"] for _ in range(2)] == [second["id"], first["id"]]


def test_statistics_leave_ready_and_blocked_uncounted_past_the_dependency_bound(repo, database):
    from infrastructure.repository.work_order import BLOCKED_COUNT_MAX_DEPENDENCIES

    for i in range(72):
        make(repo, f"t{i}")
    database.write(lambda tx: tx.execute(
        "INSERT INTO task_dependencies (task_id, depends_on_id) SELECT a.id, b.id FROM tasks a JOIN tasks b ON a.id <> b.id"
    ))
    assert 72 * 71 > BLOCKED_COUNT_MAX_DEPENDENCIES
    stats = repo.statistics()
    assert (stats["ready"], stats["blocked"], stats["by_status"]["pending"]) == (None, None, 72)
