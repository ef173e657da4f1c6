"""Claims, leases and optimistic concurrency on both backends."""
from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from domain.errors import Conflict, InvalidInput
from domain.models import ActorType, ExecutorType, TaskStatus, TaskType
from infrastructure.task_repository import TaskRepository
from tests.integration.test_repository import make, move

AI = ActorType.AI


def claim(repo: TaskRepository, who: str = "agent", kind: ExecutorType = ExecutorType.CLAUDE, **kw):
    args = dict(model_name=None, type=None, search=None, parent_task_id=None, lease_minutes=None, actor_type=AI)
    args.update(kw)
    return repo.claim(assignee=who, assignee_type=kind, **args)


def test_claim_takes_the_earliest_due_date_then_the_oldest(repo):
    undated_old = make(repo, "undated old")
    later = make(repo, "due later", due_date=datetime(2027, 1, 1))
    sooner = make(repo, "due sooner", due_date=datetime(2026, 12, 1))
    undated_new = make(repo, "undated new")
    order = [claim(repo)["id"] for _ in range(4)]
    assert order == [sooner["id"], later["id"], undated_old["id"], undated_new["id"]]
    assert claim(repo) is None


def test_a_claim_sets_in_progress_records_the_assignment_lease_and_history(repo):
    task = make(repo)
    got = claim(repo, "claude-1", model_name="opus", lease_minutes=10)
    assert got["id"] == task["id"] and got["status"] == "in_progress" and got["lease_expires_at"]
    full = repo.get_task(task["id"])
    assignment = full["assignments"][0]
    assert (assignment["assignee"], assignment["status"], assignment["model_name"]) == ("claude-1", "in_progress", "opus")
    assert full["comments"][-1]["content"].startswith("Claimed by claude-1")


def test_claim_filters_by_type_search_parent_and_respects_who_may_take_what(repo):
    parent = make(repo, "Parent")
    make(repo, "Human job", type=TaskType.HUMAN_TASK)
    wanted = make(repo, "Translate the manual", parent_task_id=parent["id"])
    assert claim(repo, search="manual")["id"] == wanted["id"]
    with pytest.raises(InvalidInput, match="cannot be claimed"):
        claim(repo, kind=ExecutorType.CLAUDE, type="human_task")
    assert claim(repo, "bob", ExecutorType.HUMAN)["title"] == "Human job"
    assert claim(repo, parent_task_id=parent["id"]) is None


def test_threads_claiming_at_once_take_every_task_exactly_once(repo):
    ids = {make(repo, f"t{i}")["id"] for i in range(30)}
    taken: list[int] = []
    errors: list[Exception] = []

    def worker(name: str) -> None:
        try:
            while (got := claim(repo, name)) is not None:
                taken.append(got["id"])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(taken) == sorted(ids)


def test_giving_a_task_back_ends_the_assignment_and_the_lease(repo):
    task = make(repo)
    claim(repo, "quitter")
    back = repo.set_status(task["id"], TaskStatus.PENDING, actor="quitter", actor_type=AI)
    assert back["status"] == "pending"
    full = repo.get_task(task["id"])
    assert full["assignments"][0]["status"] == "rejected" and "pending by quitter" in full["assignments"][0]["notes"]
    assert claim(repo, "next")["id"] == task["id"]


def test_an_expired_lease_returns_the_task_and_counts_the_attempt_then_fails_it(database):
    repo = TaskRepository(database, lease_minutes=30, max_attempts=2)
    task = make(repo)
    claim(repo, "crashy-1", lease_minutes=1 / 60)  # one second
    time.sleep(1.3)
    again = claim(repo, "agent-2", lease_minutes=1 / 60)
    assert again["id"] == task["id"]
    notes = [c["content"] for c in repo.get_task(task["id"])["comments"] if c["comment_type"] == "status_change"]
    assert any("lease of crashy-1 expired; attempt 1 of 2" in n for n in notes)
    time.sleep(1.3)
    assert claim(repo, "agent-3") is None  # the second expiry used the last attempt
    final = repo.get_task(task["id"])
    assert final["status"] == "failed"
    assert "no attempts left" in [c for c in final["comments"] if c["comment_type"] == "status_change"][-1]["content"]


def test_a_write_by_the_holder_renews_its_lease(database):
    repo = TaskRepository(database, lease_minutes=30, max_attempts=3)
    task = make(repo)
    claim(repo, "worker", lease_minutes=2 / 60)  # two seconds
    for _ in range(3):
        time.sleep(0.8)
        repo.add_comment(task["id"], content="still working", author="worker", author_type=AI)
    assert repo.reap_expired() == []
    assert repo.get_task(task["id"])["status"] == "in_progress"
    time.sleep(2.2)
    assert repo.reap_expired() == [task["id"]]


def test_taking_an_expired_task_with_tasks_status_reaps_it_first(database):
    repo = TaskRepository(database, lease_minutes=1 / 60, max_attempts=3)
    task = make(repo)
    move(repo, task["id"], "in_progress", actor="gone")
    with pytest.raises(Conflict, match="gone"):
        move(repo, task["id"], "in_progress", actor="other")
    time.sleep(1.3)
    assert move(repo, task["id"], "in_progress", actor="other")["status"] == "in_progress"


def test_status_with_a_stale_expected_updated_at_is_refused(repo):
    task = make(repo)
    moved = move(repo, task["id"], "in_progress", actor="x")
    with pytest.raises(Conflict, match="after you read it"):
        repo.set_status(task["id"], TaskStatus.COMPLETED, actor="x", actor_type=AI, expected_updated_at=task["updated_at"])
    done = repo.set_status(task["id"], TaskStatus.COMPLETED, actor="x", actor_type=AI, expected_updated_at=moved["updated_at"])
    assert done["status"] == "completed"


def _statements_sent(repo: TaskRepository):
    """A counter of the statements the repository's (single, reused) connection sends: MariaDB's
    own per-session count, or SQLite's trace of the pooled connection."""
    if repo.db.dialect == "mysql":
        shows = [0]

        def count() -> int:  # less the SHOWs themselves
            shows[0] += 1
            return int(repo.db.read(lambda tx: tx.row("SHOW SESSION STATUS LIKE 'Questions'"))["Value"]) - shows[0]
        return count
    sent: list[str] = []

    def trace(sql: str) -> None:
        # A trigger's program is traced again under its statement's text (or as "-- TRIGGER"): not a statement sent.
        if not sql.startswith("--") and not (sent and sent[-1] == sql):
            sent.append(sql)

    assert len(repo.db._sqlite_idle) == 1, "one pooled connection serves a single-threaded caller"
    repo.db._sqlite_idle[0].set_trace_callback(trace)
    return lambda: len(sent)


def test_a_claim_is_one_transaction_of_eleven_statements(repo):
    # Round trips are most of a claim's cost (bench/RESULTS.md, issue 16): the usual claim
    # (no expired lease, no priority queued, a normal task) is BEGIN, one look for expired
    # leases and queued priorities, the candidates of every pass, the lock of the one taken
    # (MariaDB), the status change, the assignment, lease, history and its change-feed row
    # (issue 14), the read-back, COMMIT. It was 14 (without the feed row), in two transactions.
    # SQLite has no lock statement but marks and unmarks its write transaction for the
    # feed's triggers (issue 22): 12 statements, none of them a round trip.
    for i in range(3):
        make(repo, f"t{i}")
    claim(repo)  # caches what the repository learns once (server version, tables present)
    count = _statements_sent(repo)
    start = count()
    budget = 11 if repo.db.dialect == "mysql" else 12
    claim(repo, "agent-2")
    assert count() - start <= budget
    start = count()
    claim(repo, "agent-3")
    assert count() - start <= budget


@pytest.fixture
def maria_repo(mariadb_url):
    """A repository on the test MariaDB only (SQLite has one writer at a time: nothing to skip)."""
    from config import parse_database_url
    from infrastructure.database import Database
    from tests.conftest import empty_mariadb

    empty_mariadb(mariadb_url)
    db = Database(parse_database_url(mariadb_url), "DATABASE_URL")
    yield TaskRepository(db)
    db.close()


def test_on_mariadb_a_claim_passes_over_a_task_another_transaction_holds_without_waiting(maria_repo, mariadb_url):
    """SKIP LOCKED (MariaDB 10.6+): a claim does not queue behind a row another claimer's
    transaction has locked; it takes the next one. The server's handshake says
    "5.5.5-10.11.19-MariaDB", and reading 5.5.5 as the version once sent every claim down the
    old-server path, which waits for the lock (up to innodb_lock_wait_timeout, 50 s)."""
    import pymysql

    from config import parse_database_url

    repo = maria_repo
    held, free = make(repo, "held by another claimer"), make(repo, "free")
    s = parse_database_url(mariadb_url)
    locker = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name)
    got: dict = {}
    try:
        with locker.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", (held["id"],))
        worker = threading.Thread(target=lambda: got.update(task=claim(repo)), daemon=True)
        worker.start()
        worker.join(20)
        waited = worker.is_alive()
    finally:
        locker.rollback()
        locker.close()
    worker.join(60)
    assert not waited, "the claim waited for the locked row instead of skipping it"
    assert got["task"]["id"] == free["id"]
