"""One 3-node Galera cluster for the whole session (tests/support/galera_cluster.py),
shared by every test here, and a fresh migrated database on it per module.

These tests are marked `galera` and left out of the main run (pytest.ini); .ci/run runs
them as a step of their own: `python -m pytest -m galera tests/galera`. They skip when no
cluster can be brought up here, and fail instead in CI (MCP_TASKS_REQUIRE_MARIADB=1).
"""
from __future__ import annotations

import secrets

import pytest

from config import parse_database_url
from infrastructure.database import Database
from tests.support.galera_cluster import GaleraCluster
from tests.support.throwaway_mariadb import Unavailable, cannot_run_here


@pytest.fixture(scope="session")
def galera():
    try:
        cluster = GaleraCluster.create(3)
    except Unavailable as exc:
        cannot_run_here(f"a 3-node Galera cluster cannot be brought up here: {exc}")
        raise  # not reached
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(galera):
    """The session's cluster with every node running (a node-kill test may have left one down)."""
    for node in galera.nodes.values():
        if not node.running:
            node.start()
    yield galera


@pytest.fixture(scope="module")
def galera_url(galera):
    """A fresh migrated database on the cluster; its URL names all three nodes."""
    name = f"mcp_tasks_g_{secrets.token_hex(3)}"
    url = galera.create_database(name)
    db = Database(parse_database_url(url), "DATABASE_URL")
    db.migrate()
    db.close()
    yield url
    try:
        galera.drop_database(name)
    except Exception:  # noqa: BLE001 - the cluster goes at the end of the session anyway
        pass


def node_url(galera, url: str, index: int) -> str:
    """The same database through one node only."""
    return galera.url(url.rsplit("/", 1)[1], [index])
