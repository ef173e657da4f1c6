"""DATABASE_URL naming several nodes (issue 24), on the real MariaDB: with the first node
down (a loopback port nobody listens on), reads, writes, init-db's database check and the
migrations all use the next node, and the refusal when none answers names them all."""
from __future__ import annotations

import logging

import pytest

from config import parse_database_url
from domain.errors import StorageError
from infrastructure.database import Database
from infrastructure.database_admin import ensure_database
from infrastructure.task_repository import TaskRepository
from tests.integration.test_repository import make
from tests.support.throwaway_mariadb import free_port


def with_dead_node_first(url: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, _, location = rest.rpartition("@")
    return f"{scheme}://{userinfo}@127.0.0.1:{free_port()},{location}"


def test_the_next_node_serves_when_the_first_is_down(mariadb_url, caplog):
    settings = parse_database_url(with_dead_node_first(mariadb_url))
    assert len(settings.nodes()) == 2
    assert ensure_database(settings, "DATABASE_URL") is False  # exists: found through node 2
    db = Database(settings, "DATABASE_URL")
    try:
        with caplog.at_level(logging.WARNING, logger="infrastructure.database"):
            assert db.migrate() == []  # up to date, read through node 2
            task = make(TaskRepository(db), "through the second node")
        assert TaskRepository(db).get_task(task["id"])["title"] == "through the second node"
        assert "now using node" in caplog.text
        assert db.galera is False  # a single server: nothing of Galera's is set
    finally:
        db.close()


def test_when_no_node_answers_the_refusal_names_every_node():
    a, b = free_port(), free_port()
    db = Database(parse_database_url(f"mysql://root@127.0.0.1:{a},127.0.0.1:{b}/nothing"), "DATABASE_URL")
    try:
        with pytest.raises(StorageError) as refused:
            db.read(lambda tx: tx.value("SELECT 1 AS x"))
        assert f"127.0.0.1:{a},127.0.0.1:{b}" in str(refused.value) and refused.value.retryable
    finally:
        db.close()
