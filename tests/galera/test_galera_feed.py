"""Item 2 of issue 24 on a real 3-node Galera cluster: every change reaches every listener on
every instance, whichever node committed it, once, including a change committed late on
another node with a lower seq than changes already delivered."""
from __future__ import annotations

import threading
import time
from contextlib import AsyncExitStack

import anyio
import pytest

from config import parse_database_url
from infrastructure.change_feed import ChangeHub
from infrastructure.database import Database
from tests.galera.conftest import node_url
from tests.galera.test_galera_consistency import repository
from tests.integration.test_repository import make

pytestmark = [pytest.mark.galera, pytest.mark.anyio]
LATE_TASK = 987_654_321  # the task id of the change committed late (the feed has no foreign key)


def raw(url: str):
    import pymysql

    s = parse_database_url(url)
    return pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password, database=s.name, autocommit=True)


def feed_rows(url: str) -> int:
    con = raw(url)
    try:
        with con.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute("SELECT COUNT(*) FROM task_changes")
            return int(cur.fetchone()[0])
    finally:
        con.close()


async def test_every_change_from_every_node_reaches_every_listener_once(cluster, galera_url):
    dbs = [Database(parse_database_url(node_url(cluster, galera_url, i)), "DATABASE_URL") for i in (1, 2, 3)]
    repos = [repository(node_url(cluster, galera_url, i)) for i in (1, 2, 3)]
    before = feed_rows(galera_url)
    got: list[list[int]] = [[], [], []]
    tasks_seen: list[set[int]] = [set(), set(), set()]
    try:
        async with AsyncExitStack() as stack:
            hubs = [ChangeHub(db, interval=0.2) for db in dbs]
            listeners = [await stack.enter_async_context(hub.listen()) for hub in hubs]

            async def collect(i: int) -> None:
                async for change in listeners[i]:
                    got[i].append(change.seq)
                    tasks_seen[i].add(change.task_id)

            async with anyio.create_task_group() as group:
                for i in range(3):
                    group.start_soon(collect, i)
                # A change held open on node 2 while the other nodes commit many after it.
                late = raw(node_url(cluster, galera_url, 2))
                late.begin()
                with late.cursor() as cur:
                    cur.execute("INSERT INTO task_changes (task_id, kind, actor, changed_at) VALUES (%s, 'comment', 'late', NOW(6))", [LATE_TASK])
                    late_seq = cur.lastrowid

                def write(n: int) -> None:
                    for k in range(10):
                        make(repos[(n + k) % 3], f"writer {n} task {k}")

                threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
                for t in threads:
                    t.start()
                await anyio.to_thread.run_sync(lambda: [t.join(120) for t in threads])
                await anyio.sleep(1.5)  # the listeners have passed far beyond the late seq
                assert all(LATE_TASK not in seen for seen in tasks_seen)
                late.commit()
                late.close()
                expected = feed_rows(galera_url) - before
                assert expected == 61, expected  # 60 creations and the late change
                with anyio.move_on_after(20):
                    while any(len(g) < expected for g in got):
                        await anyio.sleep(0.1)
                await anyio.sleep(1.0)  # a repeat would show now
                group.cancel_scope.cancel()
        for i in range(3):
            assert LATE_TASK in tasks_seen[i], f"listener on node {i + 1} never got the late change (seq {late_seq})"
            assert len(got[i]) == expected and len(set(got[i])) == expected, (i, len(got[i]), len(set(got[i])), expected)
            assert got[i] == sorted(got[i]), "out of order"
    finally:
        for thing in (*dbs, *(r.db for r in repos)):
            thing.close()
