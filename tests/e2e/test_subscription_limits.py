"""Issue 22, item 3: subscribing is safe against others unsubscribing, listen streams are
capped per key rather than per process, and guessing bearer keys at /mcp is paused like the
board's sign-in. The server as a subprocess over streamable HTTP, real sessions."""
from __future__ import annotations

import anyio
import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import server_env
from tests.e2e.test_board_login_throttle import FromAddress
from tests.support.mcp_http import http_server, http_session

pytestmark = pytest.mark.anyio
STATS = "tasks://statistics"
ALICE = "alice-key-3e9d1c7a5b0f4286"
BOB = "bob-key-6a2f8e0c4d1b3957"
KEYS = f"alice:{ALICE},bob:{BOB}"
ROUNDS = 40  # the issue saw a hang or a refusal in 9 to 18 of 40 rounds
MAX_LISTEN_STREAMS_PER_KEY = 32  # tools/subscriptions.py (a literal: on 0579c51 the name did not exist, the cap was 256 per process)


async def test_a_subscribe_while_another_session_unsubscribes_neither_hangs_nor_is_refused(backend_url, tmp_path):
    """The relay goes idle (nobody subscribed) while B's subscribe waits for it to start: that
    subscribe used to hang for ever or be refused "Cannot subscribe now"."""
    with http_server(server_env(backend_url, tmp_path)) as server:
        async with http_session(server.url, None) as a, http_session(server.url, None) as b:
            problems: list[str] = []
            for round_number in range(ROUNDS):
                async def unsubscribe_meanwhile() -> None:
                    for delay in (0, 0.001, 0.002, 0.004, 0.008, 0.016):
                        await anyio.sleep(delay)
                        await a.session.unsubscribe_resource("task://1")  # nothing subscribed: the relay may go idle

                async def subscribe() -> None:
                    try:
                        with anyio.fail_after(20):
                            await b.session.subscribe_resource(STATS)
                    except TimeoutError:
                        problems.append(f"round {round_number}: resources/subscribe hung")
                    except MCPError as exc:
                        problems.append(f"round {round_number}: refused: {exc}")

                with anyio.move_on_after(60) as round_scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(subscribe)
                        tg.start_soon(unsubscribe_meanwhile)
                    await b.session.unsubscribe_resource(STATS)  # idle again for the next round
                if round_scope.cancelled_caught:
                    problems.append(f"round {round_number}: the session stopped answering")
                    break
            assert not problems, problems
            # And the last subscription still delivers.
            await b.session.subscribe_resource(STATS)


async def test_listen_streams_are_capped_per_key_and_another_key_keeps_listening(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS)) as server:
        async with http_session(server.url, ALICE, "auto") as alice, http_session(server.url, BOB, "auto") as bob:
            async with anyio.create_task_group() as tg:
                opened = anyio.Event()
                held = 0

                async def hold_one() -> None:
                    nonlocal held
                    async with alice.listen(resource_subscriptions=[STATS]):
                        held += 1
                        if held == MAX_LISTEN_STREAMS_PER_KEY:
                            opened.set()
                        await anyio.sleep_forever()

                for _ in range(MAX_LISTEN_STREAMS_PER_KEY):
                    tg.start_soon(hold_one)
                with anyio.fail_after(60):
                    await opened.wait()
                with pytest.raises(MCPError) as refused:
                    async with alice.listen(resource_subscriptions=[STATS]):
                        pass
                message = str(refused.value)
                assert f"The API key 'alice' already holds {MAX_LISTEN_STREAMS_PER_KEY} subscriptions/listen streams" in message
                assert "resource_subscriptions takes a list" in message
                # Another key is not shut out by alice's streams.
                async with bob.listen(resource_subscriptions=[STATS]) as stream:
                    assert stream.honored.resource_subscriptions == [STATS]
                tg.cancel_scope.cancel()
            # alice's streams ended: her slots are free again.
            async with alice.listen(resource_subscriptions=[STATS]) as stream:
                assert stream.honored.resource_subscriptions == [STATS]


def _post_from(address: str, url: str, key: str) -> requests.Response:
    with requests.Session() as web:
        web.mount("http://", FromAddress(address))
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "guess", "version": "0"}}}
        return web.post(url, json=initialize, timeout=10, headers={
            "Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream", "Content-Type": "application/json"})


async def test_guessing_bearer_keys_at_mcp_is_paused_like_the_board_sign_in(tmp_path):
    with http_server(server_env(f"sqlite://{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS)) as server:
        for guess in range(5):
            refused = _post_from("127.0.0.1", server.url, f"guess-{guess}-0000000000")
            assert refused.status_code == 401, (guess, refused.status_code, refused.text[:200])
        paused = _post_from("127.0.0.1", server.url, "guess-5-0000000000")
        assert paused.status_code == 429, (paused.status_code, paused.text[:300])
        assert paused.headers["Retry-After"] == "60"
        error = paused.json()["error"]
        assert "Too many requests with an unknown API key from your address" in error["message"]
        assert "MCP_API_KEYS" in error["message"]
        # The right key from the guessing address waits too: nothing is looked at while paused.
        assert _post_from("127.0.0.1", server.url, ALICE).status_code == 429
        # One count for both doors: the board's sign-in from that address is paused as well.
        board = requests.post(f"http://127.0.0.1:{server.port}/login", data={"key": ALICE}, timeout=10,
                              headers={"Origin": f"http://127.0.0.1:{server.port}"}, allow_redirects=False)
        assert board.status_code == 429, board.status_code
        # Another address is not paused; a client with the right key works there.
        assert _post_from("127.0.0.2", server.url, ALICE).status_code == 200
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {BOB}"}, timeout=30,
                                      transport=httpx2.AsyncHTTPTransport(local_address="127.0.0.3")) as http:
            async with Client(streamable_http_client(server.url, http_client=http)) as client:
                assert (await client.call_tool("tasks_statistics", {})).structured_content["total"] == 0
