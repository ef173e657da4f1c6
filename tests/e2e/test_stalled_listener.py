"""Issue 22, item 2: one slow listener never delays the others (real processes).

A session that stopped reading its GET stream while holding 1,000 subscriptions, and
thousands of changes to those tasks: the relay used to send every session's notifications
itself, one after another with 2 s each for the stalled one, so a healthy session and a
healthy subscriptions/listen stream on the same server heard nothing for minutes (on 0579c51,
9 of 10 probes unheard within 10 s). Each session now has its own outbox and task
(tools/outbox.py), and a listen stream its own buffer."""
from __future__ import annotations

import pytest

from config import parse_database_url
from infrastructure.database import Database
from tests.conftest import server_env
from tests.support.mcp_http import http_server
from tests.support.stalled_session import probe_latencies

pytestmark = pytest.mark.anyio
HEARD_WITHIN = 8.0  # seconds; a healthy listener hears of a change in about 0.2-0.5 s here (bench/RESULTS.md, issue 22)


async def test_a_stalled_session_with_1000_subscriptions_does_not_delay_a_healthy_session_or_listen_stream(backend_url, tmp_path):
    db = Database(parse_database_url(backend_url), "DATABASE_URL")
    db.migrate()
    try:
        with http_server(server_env(backend_url, tmp_path)) as server:
            # About 4,000 changes a second to the stalled session's tasks fill its socket in a few seconds;
            # then 400 a second, while the probes run.
            seen = await probe_latencies(server.url, db, subscriptions=1000, burst=1000, every=0.25, samples=6,
                                         interval=1.0, timeout=HEARD_WITHIN, warmup=10.0, calm_burst=100)
    finally:
        db.close()
    assert seen["changes"] >= 20_000, seen["changes"]
    for listener in ("session", "listen"):
        assert all(latency is not None for latency in seen[listener]), (listener, seen[listener])
