"""Resource subscriptions that deliver (issue 14): two server processes on one database, a
client subscribed on one, changes made through the other (and through the CLI), over stdio
and streamable HTTP, in both protocol eras the SDK speaks."""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.conftest import server_env
from tests.support.mcp_http import http_server, http_session
from tests.support.mcp_stdio import SERVER

pytestmark = pytest.mark.anyio
DEADLINE = 2.0  # the bound: a change elsewhere is announced within 2 s
STATS = "tasks://statistics"


class Inbox:
    """The resources/updated notifications a handshake-era client received, with their arrival times."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str]] = []

    async def __call__(self, message) -> None:
        if getattr(message, "method", None) == "notifications/resources/updated":
            self.got.append((time.monotonic(), str(message.params.uri)))

    def uris(self) -> list[str]:
        return [uri for _, uri in self.got]

    async def wait_for(self, uri: str, since: float, seconds: float = DEADLINE + 1) -> float:
        """Seconds from `since` until `uri` was announced (fails after `seconds`)."""
        with anyio.fail_after(seconds):
            while True:
                for at, seen in self.got:
                    if seen == uri and at >= since:
                        return at - since
                await anyio.sleep(0.02)


def stdio_params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env, cwd=str(SERVER.parent))


@asynccontextmanager
async def stdio_client(env: dict[str, str], mode: str = "legacy", inbox: Inbox | None = None) -> AsyncIterator[Client]:
    async with Client(stdio_params(env), mode=mode, message_handler=inbox) as client:
        yield client


async def tool(client: Client, name: str, **args):
    result = await client.call_tool(name, args)
    assert not result.is_error, (name, result.content)
    return result.structured_content


async def test_a_subscriber_on_one_stdio_process_hears_of_changes_made_through_another(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    inbox = Inbox()
    async with stdio_client(env, inbox=inbox) as a, stdio_client(env) as b:
        resources = a.server_capabilities.resources
        assert resources.subscribe is True and not resources.list_changed
        assert not a.server_capabilities.tools.list_changed and not a.server_capabilities.prompts.list_changed
        watched = await tool(b, "tasks_create", title="Watched")
        other = await tool(b, "tasks_create", title="Not watched")
        await a.session.subscribe_resource(f"task://{watched['id']}")
        await a.session.subscribe_resource(STATS)

        began = time.monotonic()
        await tool(b, "tasks_status", id=watched["id"], status="in_progress")
        assert await inbox.wait_for(f"task://{watched['id']}", began) < DEADLINE
        assert await inbox.wait_for(STATS, began) < DEADLINE

        began = time.monotonic()
        await tool(b, "tasks_comment", id=other["id"], content="elsewhere")
        await inbox.wait_for(STATS, began)
        await anyio.sleep(0.3)
        assert f"task://{other['id']}" not in inbox.uris()  # only what was subscribed to

        await a.session.unsubscribe_resource(f"task://{watched['id']}")
        count = inbox.uris().count(f"task://{watched['id']}")
        began = time.monotonic()
        await tool(b, "tasks_comment", id=watched["id"], content="after unsubscribe")
        await inbox.wait_for(STATS, began)  # still subscribed to the statistics
        await anyio.sleep(0.3)
        assert inbox.uris().count(f"task://{watched['id']}") == count

        # A change made by the command line (`server.py call`) is seen too, and so is a deletion
        # (confirmed: the task has others' comments, and the command line cannot ask a person).
        await a.session.subscribe_resource(f"task://{other['id']}")
        began = time.monotonic()
        done = await anyio.to_thread.run_sync(lambda: subprocess.run(
            [sys.executable, str(SERVER), "call", "tasks_delete", f'{{"id": {other["id"]}, "confirm": true}}'],
            env=env, capture_output=True, text=True, timeout=60,
        ))
        assert done.returncode == 0, done.stderr
        await inbox.wait_for(f"task://{other['id']}", began)


async def test_the_2026_listen_stream_over_stdio_delivers_changes_from_another_process(backend_url, tmp_path):
    env = server_env(backend_url, tmp_path)
    async with stdio_client(env, mode="auto") as a, stdio_client(env, mode="auto") as b:
        assert a.session.protocol_version == "2026-07-28"
        assert a.server_capabilities.resources.subscribe is True
        assert not a.server_capabilities.resources.list_changed and not a.server_capabilities.tools.list_changed
        task = await tool(b, "tasks_create", title="Listened to")
        async with a.listen(resource_subscriptions=[f"task://{task['id']}"], tools_list_changed=True) as sub:
            assert sub.honored.resource_subscriptions == [f"task://{task['id']}"]
            assert not sub.honored.tools_list_changed  # never sent, so not honored
            began = time.monotonic()
            await tool(b, "tasks_update", id=task["id"], title="Renamed elsewhere")
            with anyio.fail_after(DEADLINE + 1):
                event = await sub.__anext__()
            assert event.uri == f"task://{task['id']}" and time.monotonic() - began < DEADLINE


async def test_a_bad_uri_is_refused_with_what_can_be_subscribed(tmp_path):
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    async with stdio_client(env) as client:
        with pytest.raises(MCPError) as refused:
            await client.session.subscribe_resource("task://abc")
        assert "task://{id}" in str(refused.value) and STATS in str(refused.value)
    async with stdio_client(env, mode="auto") as client:
        with pytest.raises(MCPError) as refused:
            async with client.listen(resource_subscriptions=["file:///etc/passwd"]):
                pass
        assert "Cannot subscribe to 'file:///etc/passwd'" in str(refused.value)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_over_streamable_http_a_subscriber_hears_of_changes_made_through_another_process(backend_url, tmp_path, mode):
    env = server_env(backend_url, tmp_path)
    with http_server(env) as one, http_server(env) as two:
        async with http_session(two.url, None, mode) as b:
            task = await tool(b, "tasks_create", title="Over HTTP")
            if mode == "legacy":
                inbox = Inbox()
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=120)) as http, Client(
                    streamable_http_client(one.url, http_client=http), mode="legacy", message_handler=inbox,
                ) as a:
                    assert a.server_capabilities.resources.subscribe is True
                    await a.session.subscribe_resource(f"task://{task['id']}")
                    began = time.monotonic()
                    await tool(b, "tasks_comment", id=task["id"], content="from process two")
                    assert await inbox.wait_for(f"task://{task['id']}", began) < DEADLINE
            else:
                async with http_session(one.url, None, mode) as a:
                    assert a.session.protocol_version == "2026-07-28"
                    async with a.listen(resource_subscriptions=[f"task://{task['id']}", STATS]) as sub:
                        began = time.monotonic()
                        await tool(b, "tasks_comment", id=task["id"], content="from process two")
                        with anyio.fail_after(DEADLINE + 1):
                            seen = {(await sub.__anext__()).uri, (await sub.__anext__()).uri}
                        assert seen == {f"task://{task['id']}", STATS} and time.monotonic() - began < DEADLINE


async def test_a_stateless_http_server_does_not_offer_session_subscriptions_it_cannot_keep(tmp_path):
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path)
    with http_server(env, "--stateless") as server:
        async with http_session(server.url, None, "legacy") as client:
            assert not client.server_capabilities.resources.subscribe
            with pytest.raises(MCPError):
                await client.session.subscribe_resource(STATS)
        async with http_session(server.url, None, "auto") as client:  # the listen stream needs no session
            assert client.server_capabilities.resources.subscribe is True


async def test_sessions_that_end_leave_no_subscription_and_no_watcher_behind(mcp_server):
    relay = mcp_server.subscription_relay
    async with Client(mcp_server, mode="legacy") as client:
        await client.session.subscribe_resource(STATS)
        assert relay.subscribers == 1 and relay.hub.listening == 1
        await client.session.unsubscribe_resource(STATS)
        await anyio.sleep(0.1)
        assert relay.subscribers == 0 and relay.hub.listening == 0  # unsubscribed: the watcher stops
        await client.session.subscribe_resource("task://1")
        hub = relay.hub
        assert relay.subscribers == 1 and hub.listening == 1
    await anyio.sleep(0.1)
    assert relay.subscribers == 0 and hub.listening == 0 and hub._task is None  # the session ended
    async with Client(mcp_server, mode="2026-07-28") as client:
        async with client.listen(resource_subscriptions=[STATS]):
            assert relay.subscribers == 1 and relay.hub.listening == 1
        await anyio.sleep(0.1)
        assert relay.subscribers == 0 and relay.hub.listening == 0 and relay.hub._task is None  # the stream ended


async def test_over_http_a_session_that_ends_stops_the_process_watcher(tmp_path):
    """The HTTP server lives on after its sessions: their subscriptions must not keep a watcher polling."""
    env = server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, LOG_LEVEL="DEBUG")
    with http_server(env) as server:
        for _ in range(2):
            async with http_session(server.url, None, "legacy") as client:
                await client.session.subscribe_resource(STATS)
                assert server.stderr_text().count("change feed: polling from seq") >= 1
            with anyio.fail_after(5):
                while server.stderr_text().count("polling stopped") < server.stderr_text().count("polling from seq"):
                    await anyio.sleep(0.05)
        async with http_session(server.url, None, "auto") as client:
            async with client.listen(resource_subscriptions=[STATS]):
                pass
        with anyio.fail_after(5):
            while server.stderr_text().count("polling stopped") < 3:
                await anyio.sleep(0.05)
        assert server.stderr_text().count("polling from seq") == 3
