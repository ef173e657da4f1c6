"""Writes that other programs (the web app, a script, the mysql client) make straight to
the tables on MariaDB: triggers put them on the change feed and keep the priority queue in
step, and stay silent for the server's own writes (infrastructure/foreign_writes.py)."""
from __future__ import annotations

import subprocess
import sys

import pymysql
import pytest

from config import parse_database_url
from domain.models import ActorType
from infrastructure.change_feed import ChangeFeed
from infrastructure.database import Database
from infrastructure.foreign_writes import TRIGGERS
from infrastructure.task_repository import TaskRepository
from tests.conftest import server_env
from tests.integration.test_claims import claim
from tests.integration.test_repository import make, move
from tests.support.mcp_stdio import SERVER


@pytest.fixture
def web_app(mariadb_url):
    """A connection as the team's web app has one: its own, not marked as the server's."""
    s = parse_database_url(mariadb_url)
    con = pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True)
    yield con
    con.close()


@pytest.fixture
def maria(mariadb_url):
    db = Database(parse_database_url(mariadb_url), "DATABASE_URL")
    db.write(lambda tx: tx.execute("DELETE FROM tasks"))
    yield TaskRepository(db)
    db.close()


def sql(con, statement, *args):
    with con.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall()


def test_the_web_apps_writes_reach_the_feed_with_their_kind_and_author(maria, web_app):
    feed = ChangeFeed(maria.db)
    start = feed.head()
    task = make(maria, "made by an agent")
    sql(web_app, "UPDATE tasks SET status = 'in_progress' WHERE id = %s", task["id"])
    sql(web_app, "UPDATE tasks SET title = 'renamed in the web app' WHERE id = %s", task["id"])
    sql(web_app, "INSERT INTO task_comments (task_id, author, author_type, comment_type, content) "
                 "VALUES (%s, 'alice', 'human', 'comment', 'looks good')", task["id"])
    sql(web_app, "INSERT INTO task_assignments (task_id, assignee, assignee_type, assigned_by) VALUES (%s, 'bob', 'human', 'alice')", task["id"])
    sql(web_app, "INSERT INTO task_results (task_id, executor, executor_type, status) VALUES (%s, 'bob', 'human', 'success')",
        task["id"])
    sql(web_app, "INSERT INTO tasks (uuid, title, type, status, created_by, created_by_type) "
                 "VALUES (UUID(), 'made in the web app', 'human_task', 'pending', 'alice', 'human')")
    (made,) = sql(web_app, "SELECT LAST_INSERT_ID()")[0]
    sql(web_app, "DELETE FROM tasks WHERE id = %s", task["id"])
    changes = [(c.task_id, c.kind, c.actor) for c in feed.since(start)]
    assert changes[0][:2] == (task["id"], "created") and changes[0][2] is not None  # the server's own, with its actor
    assert changes[1:] == [
        (task["id"], "status", None), (task["id"], "updated", None), (task["id"], "comment", "alice"),
        (task["id"], "assigned", "bob"), (task["id"], "result", "bob"), (made, "created", None), (task["id"], "deleted", None),
    ]


def test_the_servers_own_writes_are_announced_once(maria):
    feed = ChangeFeed(maria.db)
    start = feed.head()
    task = make(maria, "one row per change")
    move(maria, task["id"], "in_progress", actor="agent")
    maria.update_task(task["id"], {"title": "renamed"}, actor="agent", actor_type=ActorType.AI)
    kinds = [c.kind for c in feed.since(start)]
    assert kinds == ["created", "status", "updated"], kinds  # the triggers stayed silent: no second row each


def test_a_priority_task_the_web_app_sets_back_to_pending_is_claimed_in_its_priority_s_turn(maria, web_app):
    older_normal = make(maria, "older, normal")
    urgent = make(maria, "urgent", priority="urgent")
    taken = claim(maria)
    assert taken["id"] == urgent["id"]  # the claim takes it out of the urgent queue
    sql(web_app, "UPDATE tasks SET status = 'pending' WHERE id = %s", urgent["id"])  # the web app hands it back
    sql(web_app, "DELETE FROM task_leases WHERE task_id = %s", urgent["id"])
    assert claim(maria)["id"] == urgent["id"]  # still urgent: before the older normal task
    assert claim(maria)["id"] == older_normal["id"]
    # And a due date the web app sets orders it among the urgent ones.
    sql(web_app, "UPDATE tasks SET status = 'pending' WHERE id IN (%s, %s)", urgent["id"], older_normal["id"])
    (due,) = sql(web_app, "SELECT due_sort FROM task_priorities WHERE task_id = %s", urgent["id"])[0]
    assert str(due).startswith("9999")
    sql(web_app, "UPDATE tasks SET due_date = '2027-01-05 00:00:00' WHERE id = %s", urgent["id"])
    (due, queued) = sql(web_app, "SELECT due_sort, queued FROM task_priorities WHERE task_id = %s", urgent["id"])[0]
    assert str(due) == "2027-01-05 00:00:00" and queued == 1


def assert_dependents_were_told(repo, feed, start, blocker, dependents):
    """What another program's deletion of a blocker leaves: each dependent's history says the
    dependency went (and why it may now be ready), and the feed carries it."""
    for dependent in dependents:
        full = repo.get_task(dependent["id"])
        assert full["depends_on"] == [] and full["ready"] is True
        last = full["comments"][-1]
        assert last["content"] == f"Blocker task {blocker['id']} was deleted by another program; the dependency on it is gone"
        assert (last["comment_type"], last["author"], last["metadata"]) == ("update", "another program", {"deleted_blocker": blocker["id"]})
    changes = [(c.task_id, c.kind) for c in feed.since(start)]
    assert sorted(changes) == sorted([(d["id"], "comment") for d in dependents] + [(blocker["id"], "deleted")]), changes


def test_the_web_app_deleting_a_blocker_leaves_a_history_row_on_each_dependent(maria, web_app):
    """Stop 21 left it silent: the edge went with the blocker (ON DELETE CASCADE) and an open
    dependent became ready with nothing in its history to say why."""
    build = make(maria, "build")
    deploy, docs = make(maria, "deploy", depends_on=[build["id"]]), make(maria, "docs", depends_on=[build["id"]])
    feed = ChangeFeed(maria.db)
    start = feed.head()
    sql(web_app, "DELETE FROM tasks WHERE id = %s", build["id"])
    assert_dependents_were_told(maria, feed, start, build, [deploy, docs])
    sql(web_app, "DELETE FROM tasks")  # a bulk delete of blockers and dependents together still goes through
    assert sql(web_app, "SELECT COUNT(*) FROM tasks")[0][0] == 0


def test_init_db_recreates_a_missing_trigger_and_doctor_warns_until_then(mariadb_url, tmp_path, web_app):
    sql(web_app, "DROP TRIGGER mcp_tasks_feed_comment")
    env = server_env(mariadb_url, tmp_path)
    doctor = subprocess.run([sys.executable, str(SERVER), "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert "WARN triggers: 1 missing (mcp_tasks_feed_comment)" in doctor.stdout and "TRIGGER" in doctor.stdout, doctor.stdout
    init = subprocess.run([sys.executable, str(SERVER), "init-db"], env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    present = {name for (name,) in sql(web_app, "SELECT trigger_name FROM information_schema.triggers "
                                                "WHERE trigger_schema = DATABASE()")}
    assert set(TRIGGERS) <= present
    doctor = subprocess.run([sys.executable, str(SERVER), "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert "triggers" not in doctor.stdout, doctor.stdout


def test_without_the_trigger_privilege_init_db_still_succeeds_and_says_what_is_lost(mariadb_url, tmp_path, web_app):
    s = parse_database_url(mariadb_url)
    user = f"mcp_notrig_{s.name[-6:]}"
    sql(web_app, f"DROP USER IF EXISTS '{user}'@'%%'")
    sql(web_app, f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'pw'")
    try:
        sql(web_app, f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP ON `{s.name}`.* TO '{user}'@'%%'")
        for name in TRIGGERS:
            sql(web_app, f"DROP TRIGGER IF EXISTS {name}")
        url = f"mysql://{user}:pw@{s.host}:{s.port}/{s.name}"
        init = subprocess.run([sys.executable, str(SERVER), "init-db"], env=server_env(url, tmp_path),
                              capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        assert "could not create trigger" in init.stderr and "Grant the database user TRIGGER" in init.stderr, init.stderr
    finally:
        sql(web_app, f"DROP USER IF EXISTS '{user}'@'%%'")
        restore = Database(parse_database_url(mariadb_url), "DATABASE_URL")  # the run's database is shared
        restore.migrate()
        restore.close()


@pytest.mark.anyio
async def test_a_subscriber_hears_of_the_web_apps_write_within_two_seconds(mariadb_url, tmp_path, web_app):
    import time

    from tests.e2e.test_subscriptions import DEADLINE, Inbox, stdio_client, tool

    inbox = Inbox()
    async with stdio_client(server_env(mariadb_url, tmp_path), inbox=inbox) as agent:
        task = await tool(agent, "tasks_create", title="Reviewed in the web app")
        await agent.session.subscribe_resource(f"task://{task['id']}")
        began = time.monotonic()
        sql(web_app, "UPDATE tasks SET status = 'completed' WHERE id = %s", task["id"])
        assert await inbox.wait_for(f"task://{task['id']}", began) < DEADLINE


# ---- SQLite: another program writing to the same file (the sqlite3 shell, a script) ----------


@pytest.fixture
def lite(tmp_path):
    from config import load_config

    config = load_config({"DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}", "HOME": str(tmp_path)})
    db = Database(config.database, config.database_source)
    yield TaskRepository(db)
    db.close()


@pytest.fixture
def script(lite):
    """A plain sqlite3 connection to the server's file, as a script or the sqlite3 shell holds one."""
    import sqlite3

    lite.statistics()  # the server has created the file and its schema
    con = sqlite3.connect(str(lite.db.settings.sqlite_path), isolation_level=None)
    yield con
    con.close()


def test_on_sqlite_another_programs_writes_reach_the_feed_with_their_kind_and_author(lite, script):
    feed = ChangeFeed(lite.db)
    start = feed.head()
    task = make(lite, "made by an agent")
    script.execute("UPDATE tasks SET status = 'in_progress' WHERE id = ?", [task["id"]])
    script.execute("UPDATE tasks SET title = 'renamed by a script' WHERE id = ?", [task["id"]])
    script.execute("INSERT INTO task_comments (task_id, author, author_type, comment_type, content) "
                   "VALUES (?, 'alice', 'human', 'comment', 'looks good')", [task["id"]])
    script.execute("INSERT INTO task_assignments (task_id, assignee, assignee_type, assigned_by) VALUES (?, 'bob', 'human', 'alice')",
                   [task["id"]])
    script.execute("UPDATE task_assignments SET status = 'accepted' WHERE task_id = ?", [task["id"]])
    script.execute("INSERT INTO task_results (task_id, executor, executor_type, status) VALUES (?, 'bob', 'human', 'success')",
                   [task["id"]])
    made = script.execute("INSERT INTO tasks (uuid, title, type, status, created_by, created_by_type) "
                          "VALUES ('u-1', 'made by a script', 'human_task', 'pending', 'alice', 'human')").lastrowid
    script.execute("DELETE FROM tasks WHERE id = ?", [task["id"]])
    changes = [(c.task_id, c.kind, c.actor) for c in feed.since(start)]
    assert changes == [
        (task["id"], "created", "alice"), (task["id"], "status", None), (task["id"], "updated", None),
        (task["id"], "comment", "alice"), (task["id"], "assigned", "bob"), (task["id"], "assigned", "bob"),
        (task["id"], "result", "bob"), (made, "created", None), (task["id"], "deleted", None),
    ]


def test_on_sqlite_the_servers_own_writes_are_announced_once_and_leave_no_mark(lite, script):
    feed = ChangeFeed(lite.db)
    start = feed.head()
    task = make(lite, "one row per change")
    move(lite, task["id"], "in_progress", actor="agent")
    lite.update_task(task["id"], {"title": "renamed"}, actor="agent", actor_type=ActorType.AI)
    with pytest.raises(Exception):  # a write that fails rolls its mark back with the rest
        lite.update_task(task["id"], {"parent_task_id": 999_999}, actor="agent", actor_type=ActorType.AI)
    assert [c.kind for c in feed.since(start)] == ["created", "status", "updated"]
    assert script.execute("SELECT COUNT(*) FROM mcp_tasks_writing").fetchone() == (0,)
    script.execute("UPDATE tasks SET title = 'and by a script' WHERE id = ?", [task["id"]])
    assert [c.kind for c in feed.since(start)] == ["created", "status", "updated", "updated"]


def test_on_sqlite_a_priority_task_a_script_sets_back_to_pending_is_claimed_in_its_turn(lite, script):
    older_normal = make(lite, "older, normal")
    urgent = make(lite, "urgent", priority="urgent")
    assert claim(lite)["id"] == urgent["id"]
    script.execute("UPDATE tasks SET status = 'pending' WHERE id = ?", [urgent["id"]])
    script.execute("DELETE FROM task_leases WHERE task_id = ?", [urgent["id"]])
    assert claim(lite)["id"] == urgent["id"]
    assert claim(lite)["id"] == older_normal["id"]
    script.execute("UPDATE tasks SET status = 'pending' WHERE id IN (?, ?)", [urgent["id"], older_normal["id"]])
    script.execute("UPDATE tasks SET due_date = '2027-01-05 00:00:00' WHERE id = ?", [urgent["id"]])
    assert script.execute("SELECT due_sort, queued FROM task_priorities WHERE task_id = ?", [urgent["id"]]).fetchone() == (
        "2027-01-05 00:00:00", 1,
    )


def test_on_sqlite_a_script_deleting_a_blocker_leaves_a_history_row_on_each_dependent(lite, script):
    build = make(lite, "build")
    deploy, docs = make(lite, "deploy", depends_on=[build["id"]]), make(lite, "docs", depends_on=[build["id"]])
    feed = ChangeFeed(lite.db)
    start = feed.head()
    # The sqlite3 shell's default: foreign keys off, so no cascade; the trigger takes the edge away itself.
    assert script.execute("PRAGMA foreign_keys").fetchone() == (0,)
    script.execute("DELETE FROM tasks WHERE id = ?", [build["id"]])
    assert script.execute("SELECT COUNT(*) FROM task_dependencies WHERE depends_on_id = ?", [build["id"]]).fetchone() == (0,)
    assert_dependents_were_told(lite, feed, start, build, [deploy, docs])
    script.execute("DELETE FROM tasks")
    assert script.execute("SELECT COUNT(*) FROM tasks").fetchone() == (0,)


@pytest.mark.anyio
async def test_on_sqlite_a_subscriber_hears_of_another_programs_update(tmp_path):
    import time

    from tests.e2e.test_subscriptions import DEADLINE, Inbox, stdio_client, tool

    path = tmp_path / "tasks.db"
    inbox = Inbox()
    async with stdio_client(server_env(f"sqlite:///{path}", tmp_path), inbox=inbox) as agent:
        task = await tool(agent, "tasks_create", title="Finished from a script")
        await agent.session.subscribe_resource(f"task://{task['id']}")
        began = time.monotonic()
        update = (
            "import sqlite3, sys; con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None); "
            "con.execute(\"UPDATE tasks SET status = 'completed' WHERE id = ?\", [int(sys.argv[2])])"
        )
        done = subprocess.run([sys.executable, "-c", update, str(path), str(task["id"])], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert await inbox.wait_for(f"task://{task['id']}", began) < DEADLINE
