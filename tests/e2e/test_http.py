"""Streamable HTTP: the server as a subprocess on a free loopback port, driven by the SDK's
real client with bearer API keys, and by raw HTTP requests for what a client never sends.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import anyio
import pytest
import requests

from tests.conftest import empty_mariadb, server_env
from tests.support.mcp_http import free_port, http_server, http_session
from tests.support.mcp_stdio import SERVER

pytestmark = pytest.mark.anyio

ALICE = "alice-key-5f1c0e9a7b3d42e8"
CI_BOT = "ci-bot-key-8d2a4c6e0b1f3579"
KEYS = f"alice:{ALICE},ci-bot:{CI_BOT}"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def call(client, name: str, **args):
    result = await client.call_tool(name, args)
    assert not result.is_error, (name, args, result.content)
    return result.structured_content


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_spec_example_workflow_runs_over_http_and_the_key_name_is_the_default_actor(backend_url, tmp_path, mode):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        async with http_session(server.url, ALICE, mode) as alice:
            target = await call(alice, "tasks_create", title="Summarise the meeting", description="Notes attached")
            assert target["created_by"] == "alice"
        async with http_session(server.url, CI_BOT, mode) as bot:
            other = await call(bot, "tasks_create", title="Call the customer", type="human_task")
            assert other["created_by"] == "ci-bot"
            # The spec's example: list pending ai_tasks → get → in_progress → result → completed.
            page = await call(bot, "tasks_list", status="pending", type="ai_task")
            assert [t["id"] for t in page["tasks"]] == [target["id"]]
            task = await call(bot, "tasks_get", id=target["id"])
            assert task["description"] == "Notes attached"
            await call(bot, "tasks_status", id=task["id"], status="in_progress")
            await call(
                bot, "tasks_result", id=task["id"], response="Summary: ...", executor="claude",
                executor_type="anthropic_api", model_name="claude-opus", tokens_input=1200, tokens_output=300,
            )
            done = await call(bot, "tasks_status", id=task["id"], status="completed")
            assert done["status"] == "completed" and done["completed_at"]
            final = await call(bot, "tasks_get", id=task["id"])
    assert final["results"][0]["tokens_total"] == 1500
    assert [(c["author"], c["content"]) for c in final["comments"]] == [
        ("alice", "Task created (pending)"),
        ("ci-bot", "Status: pending → in_progress"),
        # A result is authored by its executor; with a key, the key's name says who really sent it.
        ("claude (via ci-bot)", "Result (success) by claude (via ci-bot), 1500 tokens"),
        ("ci-bot", "Status: in_progress → completed"),
    ]
    assert server.stdout_text() == "", "stdout must stay empty: logs go to stderr"
    assert ALICE not in server.stderr_text() and CI_BOT not in server.stderr_text()


def _post(url: str, body: dict, key: str | None = None, session: str | None = None, **headers: str) -> requests.Response:
    headers = {**ACCEPT, **headers}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if session:
        headers["Mcp-Session-Id"] = session
    return requests.post(url, data=json.dumps(body), headers=headers, timeout=30)


def _open_session(url: str, key: str) -> str:
    init = _post(url, {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }, key)
    assert init.status_code == 200, init.text
    session = init.headers["mcp-session-id"]
    assert _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, key, session).status_code == 202
    return session


async def test_no_key_or_a_wrong_key_gets_401_and_nothing_is_written(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS)) as server:
        session = _open_session(server.url, ALICE)
        create = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": "x"}}}
        refused = {
            "no key": _post(server.url, create, None, session),
            "wrong key": _post(server.url, create, "not-a-key-at-all-0000", session),
            "a prefix of a key": _post(server.url, create, ALICE[:-1], session),
            "a key with more after it": _post(server.url, create, ALICE + "x", session),
            "not a bearer token": _post(server.url, create, None, session, Authorization=f"Basic {ALICE}"),
        }
        for what, response in refused.items():
            assert response.status_code == 401, (what, response.status_code, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer"), what
        assert _post(server.url, {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}).status_code == 401
        async with http_session(server.url, ALICE) as client:
            assert (await call(client, "tasks_statistics"))["total"] == 0
        # The same request with the key does write: what the 401s refused was a real write.
        assert _post(server.url, create, ALICE, session).status_code == 200
        async with http_session(server.url, ALICE) as client:
            assert (await call(client, "tasks_statistics"))["total"] == 1
        # A session belongs to the key that opened it.
        assert _post(server.url, create, CI_BOT, session).status_code == 404
        # The MCP client with a wrong key does not get in either.
        with pytest.raises(Exception):
            async with http_session(server.url, "wrong-key-0123456789abc") as client:
                await client.list_tools()


async def test_host_and_origin_headers_are_checked_against_dns_rebinding(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS)) as server:
        initialize = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        }
        assert _post(server.url, initialize, ALICE, Host="evil.example:80").status_code == 421
        assert _post(server.url, initialize, ALICE, Origin="http://evil.example").status_code == 403
        assert _post(server.url, initialize, ALICE, Origin=f"http://localhost:{server.port}").status_code == 200


def test_a_non_loopback_address_without_a_key_is_refused_at_start(tmp_path):
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    done = subprocess.run(
        [sys.executable, str(SERVER), "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "MCP_API_KEYS" in done.stderr and "0.0.0.0" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "tasks.db").exists()


async def test_loopback_without_keys_serves_for_local_use(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)) as server:
        async with http_session(server.url, None) as client:
            # No key, so no key name: the session acts as its client's name with a session suffix.
            created_by = (await call(client, "tasks_create", title="local"))["created_by"]
            assert re.fullmatch(r"mcp#[0-9a-f]{4}", created_by), created_by


async def test_two_stateless_instances_over_one_mariadb_hand_out_every_task_exactly_once(mariadb_url, tmp_path):
    """40 tasks, 2 stateless instances, 4 agents spread across both, claiming until none is left."""
    empty_mariadb(mariadb_url)
    env = server_env(mariadb_url, tmp_path, MCP_API_KEYS=KEYS)
    with http_server(env, "--stateless") as one, http_server(env, "--stateless") as two:
        async with http_session(one.url, ALICE) as client:
            created = [(await call(client, "tasks_create", title=f"job {n}"))["id"] for n in range(40)]
        claims: dict[str, list[int]] = {}

        async def agent(number: int) -> None:
            url = (one, two)[number % 2].url
            mine = claims.setdefault(f"agent-{number}", [])
            async with http_session(url, (ALICE, CI_BOT)[number // 2], ("legacy", "auto")[number // 2]) as client:
                while True:
                    claimed = await call(client, "tasks_claim", assignee=f"agent-{number}", assignee_type="claude")
                    if not claimed["claimed"]:
                        return
                    mine.append(claimed["task"]["id"])

        async with anyio.create_task_group() as group:
            for number in range(4):
                group.start_soon(agent, number)
        async with http_session(two.url, CI_BOT) as client:
            page = await call(client, "tasks_list", status="in_progress", limit=100)
            details = [await call(client, "tasks_get", id=task_id) for task_id in created]
    every = [task_id for ids in claims.values() for task_id in ids]
    assert sorted(every) == sorted(created), "every task claimed exactly once"
    assert page["total"] == 40
    assert all(len(d["assignments"]) == 1 for d in details)
    assert sum(1 for ids in claims.values() if ids) >= 2, f"the work was not spread: {claims}"
    for name, ids in claims.items():
        for task_id in ids:
            key_name = ("alice", "ci-bot")[int(name.split("-")[1]) // 2]  # the claim is held by the key's principal
            assert details[created.index(task_id)]["assignments"][0]["assignee"] == f"{name} (via {key_name})"


def _delete_session(url: str, key: str, session: str) -> int:
    return requests.delete(url, headers={"Authorization": f"Bearer {key}", "Mcp-Session-Id": session}, timeout=30).status_code


async def test_one_key_at_its_session_cap_gets_429_and_the_other_keys_keep_working(tmp_path):
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS, MCP_HTTP_MAX_SESSIONS_PER_KEY="3")
    with http_server(env) as server:
        alice = [_open_session(server.url, ALICE) for _ in range(3)]
        initialize = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        }
        refused = _post(server.url, initialize, ALICE)
        assert refused.status_code == 429, refused.text
        assert "MCP_HTTP_MAX_SESSIONS_PER_KEY" in refused.json()["error"]["message"]
        # The other key is not affected, and alice's open sessions still work.
        async with http_session(server.url, CI_BOT) as bot:
            assert (await call(bot, "tasks_create", title="bot still works"))["created_by"] == "ci-bot"
        listed = _post(server.url, {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, ALICE, alice[0])
        assert listed.status_code == 200
        # Closing one of alice's sessions frees a slot for her.
        assert _delete_session(server.url, ALICE, alice[0]) == 200
        _open_session(server.url, ALICE)
        assert _post(server.url, initialize, ALICE).status_code == 429
    assert "refused a new HTTP session for alice" in server.stderr_text()


async def test_an_idle_session_is_closed_and_frees_its_slot(tmp_path):
    env = server_env(
        f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS, MCP_HTTP_MAX_SESSIONS_PER_KEY="1",
        MCP_HTTP_SESSION_IDLE_TIMEOUT="1",
    )
    with http_server(env) as server:
        first = _open_session(server.url, ALICE)
        await anyio.sleep(2.5)
        assert _post(server.url, {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}, ALICE, first).status_code == 404
        _open_session(server.url, ALICE)  # the slot of the expired session is free again


async def test_a_key_in_the_query_string_is_not_written_to_the_access_log(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS)) as server:
        for name in ("api_key", "key", "token"):
            response = requests.post(f"{server.url}?{name}={ALICE}&x={CI_BOT}", data="{}", headers=ACCEPT, timeout=30)
            assert response.status_code == 401
        _open_session(server.url, ALICE)
    log = server.stderr_text()
    assert 'POST /mcp?<query not logged>' in log  # the access log runs, without the query
    assert ALICE not in log and CI_BOT not in log
