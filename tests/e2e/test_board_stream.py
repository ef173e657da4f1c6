"""The board's live stream (/events) and sessions under abuse, against the server as a
subprocess on both backends, over raw HTTP: bounded replay, a resume point past the head,
a cap per session, malformed numbers, and a sign-out that ends the session on every instance.
"""
from __future__ import annotations

import http.client
import json
import re
import statistics
import sys
import threading
import time
from typing import Any, Iterator

import pytest
import requests

from config import load_config
from infrastructure.database import Database
from tests.conftest import server_env
from tests.support.browser import run_async
from tests.support.mcp_http import http_server, http_session

ALICE = "alice-board-key-7c1e5a9d3b"
KEYS = f"alice:{ALICE}"


def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"


def sign_in(server, key: str = ALICE) -> requests.Session:
    """A browser-like session signed in with a key: the login form's CSRF token, then the POST."""
    session = requests.Session()
    page = session.get(base(server) + "/login", timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = session.post(base(server) + "/login", data={"csrf": token, "key": key, "next": "/"},
                          headers={"Origin": base(server)}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    return session


def head_of(session: requests.Session, server) -> int:
    page = session.get(base(server) + "/", timeout=10)
    assert page.status_code == 200
    return int(re.search(r'data-events="/events\?after=(\d+)"', page.text).group(1))


def events(session: requests.Session, url: str, count: int, headers: dict[str, str] | None = None,
           timeout: float = 20) -> Iterator[tuple[str, dict]]:
    """(event name, data) of the first `count` events of a stream."""
    with session.get(url, headers={"Accept": "text/event-stream", **(headers or {})}, stream=True, timeout=timeout) as answer:
        assert answer.status_code == 200, (answer.status_code, answer.text[:200])
        name, seen = "message", 0
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                yield name, json.loads(line[5:])
                name, seen = "message", seen + 1
                if seen == count:
                    return


def fill_feed(database_url: str, tmp_path, rows: int) -> None:
    """`rows` changes in the feed, written straight to its table (an agent fleet's busy day)."""
    config = load_config({"DATABASE_URL": database_url, "HOME": str(tmp_path), "PWD": str(tmp_path)})
    db = Database(config.database, config.database_source)
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    try:
        db.write(lambda tx: tx.execute(
            "INSERT INTO task_changes (task_id, kind, actor) SELECT 1, 'comment', 'seed' FROM "
            f"({digits}) a, ({digits}) b, ({digits}) c, ({digits}) d, ({digits}) e LIMIT {int(rows)}"
        ))
    finally:
        db.close()


def call(url: str, key: str | None, name: str, **args: Any) -> dict:
    async def go():
        async with http_session(url, key) as client:
            result = await client.call_tool(name, args)
        assert not result.is_error, result.content
        return result.structured_content

    return run_async(go)


def test_a_stream_replays_a_bounded_number_of_changes_and_says_reload_beyond(backend_url, tmp_path):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        session = sign_in(server)
        fill_feed(backend_url, tmp_path, 1_000)
        head = head_of(session, server)
        # From the very beginning: one reload event, and the stream ends.
        assert [name for name, _ in events(session, base(server) + "/events?after=0", 5)] == ["reload"]
        got = list(events(session, base(server) + "/events", 1, {"Last-Event-ID": "0"}))
        assert got[0][0] == "reload" and got[0][1]["head"] == head
        # Within the bound: the missed changes, in order.
        replayed = list(events(session, f"{base(server)}/events?after={head - 50}", 50))
        assert [d["seq"] for _, d in replayed] == list(range(head - 49, head + 1))


def test_a_resume_point_past_the_head_still_delivers_new_changes(backend_url, tmp_path):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        session = sign_in(server)
        head = head_of(session, server)
        found: list[tuple[str, dict]] = []
        # A browser's Last-Event-ID from a database since recreated: far past this one's head.
        reader = threading.Thread(target=lambda: found.extend(
            events(session, base(server) + "/events", 1, {"Last-Event-ID": str(head + 100_000)})), daemon=True)
        reader.start()
        time.sleep(1.0)  # the stream is open (and its listener registered) before the change
        task = call(server.url, ALICE, "tasks_create", title="After the restore")
        reader.join(timeout=20)
        assert found and found[0][0] == "change" and found[0][1]["task_id"] == task["id"]


def test_one_session_holds_a_bounded_number_of_streams(backend_url, tmp_path):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        session, other = sign_in(server), sign_in(server)
        opened = []
        try:
            for _ in range(8):
                answer = session.get(base(server) + "/events", headers={"Accept": "text/event-stream"}, stream=True, timeout=10)
                assert answer.status_code == 200
                opened.append(answer)
            refused = session.get(base(server) + "/events", stream=True, timeout=10)
            assert refused.status_code == 429 and "close some board tabs" in refused.text
            # Another session is not affected.
            with other.get(base(server) + "/events", stream=True, timeout=10) as answer:
                assert answer.status_code == 200
        finally:
            for answer in opened:
                answer.close()
        # Closed streams are given back.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with session.get(base(server) + "/events", stream=True, timeout=10) as answer:
                if answer.status_code == 200:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the session's closed streams were never given back")


@pytest.mark.parametrize("bad", ["²", "٣", "-1", "99999999999999999999999"])
def test_malformed_numbers_are_refused_with_4xx_not_500(backend_url, tmp_path, bad):
    with http_server(server_env(backend_url, tmp_path)) as server:
        urls = [f"/?offset={bad}", f"/?status=pending&offset={bad}", f"/events?after={bad}", f"/tasks/{bad}"]
        for url in urls:
            answer = requests.get(base(server) + url, timeout=10, stream=True)
            assert 400 <= answer.status_code < 500, (url, answer.status_code)
            answer.close()
        answer = requests.get(base(server) + "/events", headers={"Last-Event-ID": bad.encode()}, timeout=10, stream=True)
        assert answer.status_code == 400, answer.status_code
        answer.close()
        # A Content-Length that is not ASCII digits: refused before the body is read.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("POST", "/new")
        connection.putheader("Content-Length", bad.encode("utf-8").decode("latin-1"))
        connection.endheaders()
        status = connection.getresponse().status
        connection.close()
        assert 400 <= status < 500, status
        # An empty form (Content-Length: 0) is not "too large": it reaches the form checks.
        assert requests.post(base(server) + "/name", data=b"", timeout=10).status_code == 403


def test_signing_out_ends_the_session_on_every_instance_so_a_copied_cookie_stops_working(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)
    with http_server(env) as first, http_server(env) as second:
        session = sign_in(first)
        cookie = session.cookies.get("board_session")
        copied = requests.Session()
        copied.cookies.set("board_session", cookie)
        for server in (first, second):  # instances that share the database accept each other's sign-ins
            assert copied.get(base(server) + "/", timeout=10).status_code == 200
        page = session.get(base(first) + "/", timeout=10)
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        answer = session.post(base(first) + "/logout", data={"csrf": token}, headers={"Origin": base(first)},
                              allow_redirects=False, timeout=10)
        assert answer.status_code == 303
        for server in (first, second):
            refused = copied.get(base(server) + "/", timeout=10)
            assert refused.status_code == 401 and "Sign in" in refused.text
            assert copied.get(base(server) + "/events", timeout=10).status_code == 401


def _tool_latency(url: str, calls: int) -> float:
    """The median seconds of `calls` tasks_create calls on one MCP connection."""

    async def go():
        times = []
        async with http_session(url, ALICE) as client:
            for n in range(calls):
                started = time.perf_counter()
                result = await client.call_tool("tasks_create", {"title": f"Measured {n}"})
                times.append(time.perf_counter() - started)
                assert not result.is_error
        return statistics.median(times)

    return run_async(go)


def test_a_hundred_replaying_streams_do_not_slow_a_tool_call_past_twice_its_quiet_latency(backend_url, tmp_path):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        fill_feed(backend_url, tmp_path, 20_000)
        sessions = [sign_in(server) for _ in range(13)]  # 100 streams: at most 8 per session
        _tool_latency(server.url, 3)  # warm: imports, prepared statements, the pool
        quiet_before = _tool_latency(server.url, 15)
        head = head_of(sessions[0], server)  # after the quiet calls' changes, so head - 80 is within the bound
        stop = threading.Event()
        replayed, connected, refused = [0] * 100, [0] * 100, [0] * 100

        def attacker(n: int) -> None:
            # Half ask for everything (after=0), half for as much as a stream replays; each stream
            # ends once replayed and is opened again a second later, as EventSource does on an
            # error (its retry is 3 s): a replay every second, for as long as the calls are measured.
            session = sessions[n % len(sessions)]
            after = 0 if n % 2 else head - 80
            while not stop.is_set():
                try:
                    with session.get(f"{base(server)}/events?after={after}", headers={"Accept": "text/event-stream"},
                                     stream=True, timeout=(5, 30)) as answer:
                        if answer.status_code == 429:  # this session opened too many: refused before any read,
                            refused[n] += 1  # and tried again after the wait below, as EventSource does
                        else:
                            connected[n] += 1
                            for line in answer.iter_lines():
                                if stop.is_set():
                                    return
                                if line.startswith(b"data:"):
                                    replayed[n] += 1
                                    if after and replayed[n] % 80 == 0:
                                        break
                except requests.RequestException:
                    pass  # refused or cut: open it again
                stop.wait(1.0)

        threads = [threading.Thread(target=attacker, args=(n,), daemon=True) for n in range(100)]
        for thread in threads:
            thread.start()
        try:
            # Measure once every stream is open and every bounded one has replayed (a replay comes
            # after the stream's headers; they go on reopening each second): not in a lull before.
            deadline = time.monotonic() + 60
            while not (all(connected) and all(replayed[n] for n in range(0, 100, 2))) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert all(connected), f"only {sum(map(bool, connected))} of 100 streams connected"
            before = sum(replayed)
            loaded = _tool_latency(server.url, 300)  # ~1-2 s: across the streams' reopen-and-replay cycles
            during = sum(replayed) - before
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        quiet_after = _tool_latency(server.url, 15)
        quiet = max(quiet_before, quiet_after)  # the machine is shared: the slower of two quiet figures
        print(f"tasks_create median: quiet {quiet_before * 1000:.1f} / {quiet_after * 1000:.1f} ms, with 100 replaying "
              f"streams {loaded * 1000:.1f} ms; {during:,} events while measured, {sum(replayed):,} in all; "
              f"{sum(connected):,} streams opened, {sum(refused):,} refused", file=sys.stderr)
        replayers, everything = range(0, 100, 2), range(1, 100, 2)
        assert all(replayed[n] for n in replayers), replayed  # every stream within the bound replayed
        assert during > 0, "no stream replayed while the calls were measured"
        # A stream asking for everything gets (at most) one reload event per opening, nothing replayed.
        assert all(replayed[n] <= connected[n] for n in everything), (replayed, connected)
        assert loaded < 2 * quiet, (f"tool call {loaded * 1000:.1f} ms with 100 replaying streams, "
                                    f"{quiet * 1000:.1f} ms quiet")
