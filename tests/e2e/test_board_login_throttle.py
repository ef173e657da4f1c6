"""The board's sign-in brake (web/login_throttle.py) over real HTTP on loopback: failed keys
from one address pause that address's sign-ins with 429 and Retry-After, a correct key
included; another address (a second loopback source address, 127.0.0.2) goes on signing in.

The first test drives the server as shipped (`--transport http` subprocess, the real 60 s
window); the second serves the board in this process on uvicorn with the throttle's clock in
the test's hand, to see the pause end without waiting a minute.
"""
from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import requests
from requests.adapters import HTTPAdapter

from tests.conftest import server_env
from tests.support.mcp_http import free_port, http_server

ALICE = "alice-board-key-7c1e5a9d3b"
KEYS = f"alice:{ALICE},ci-bot:ci-bot-board-key-2f8a6d4c1e"
WRONG = "not-a-key-of-this-server"


class FromAddress(HTTPAdapter):
    """Connections from this loopback source address: to the server, another client machine."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


class Browser:
    """A client with its own cookies, from one source address, posting the login form."""

    def __init__(self, base: str, address: str = "127.0.0.1"):
        self.base, self.web = base, requests.Session()
        self.web.mount("http://", FromAddress(address))
        page = self.web.get(base + "/", timeout=10)
        assert page.status_code == 401  # the login form, and a CSRF cookie for it
        self.token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)

    def sign_in(self, key: str) -> requests.Response:
        return self.web.post(self.base + "/login", data={"key": key, "next": "/", "csrf": self.token},
                             headers={"Origin": self.base}, allow_redirects=False, timeout=10)


def assert_paused(response: requests.Response, seconds: int) -> None:
    assert response.status_code == 429, (response.status_code, response.text[:300])
    assert response.headers["Retry-After"] == str(seconds)
    assert "board_session" not in response.cookies
    text = " ".join(response.text.split())
    assert "too many failed sign-ins from your address" in text
    assert f"refused for {seconds} more second{'' if seconds == 1 else 's'}, until " in text and " UTC" in text
    assert "a correct one too" in text


def test_five_wrong_keys_pause_that_address_and_a_right_key_is_refused_too(tmp_path):
    with http_server(server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS=KEYS)) as server:
        base = f"http://127.0.0.1:{server.port}"
        guesser = Browser(base)
        for _ in range(5):
            refused = guesser.sign_in(WRONG)
            assert refused.status_code == 401 and "API keys (MCP_API_KEYS)" in refused.text
        assert_paused(guesser.sign_in(WRONG), 60)
        right = guesser.sign_in(ALICE)
        assert right.status_code == 429 and "board_session" not in right.cookies
        assert guesser.web.get(base + "/", timeout=10).status_code == 401  # still signed out
        # Another address is not paused: its wrong key is checked, its right key signs in.
        other = Browser(base, "127.0.0.2")
        assert other.sign_in(WRONG).status_code == 401
        signed_in = other.sign_in(ALICE)
        assert signed_in.status_code == 303 and "board_session" in signed_in.cookies
        board = other.web.get(base + "/", timeout=10)
        assert board.status_code == 200 and "Signed in as <b>alice</b>" in board.text
        assert "sign-ins are paused" in server.stderr_text()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def board_in_process(tmp_path, clock: Clock) -> Iterator[str]:
    """build_board as server.py builds it, its throttle on the test's clock, served by uvicorn."""
    import uvicorn

    from config import load_config
    from transports.http import transport_security
    from web.app import build_board
    from web.login_throttle import LoginThrottle

    port = free_port()
    config = load_config({"DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}", "MCP_API_KEYS": KEYS,
                          "HOME": str(tmp_path), "PWD": str(tmp_path)})
    security = transport_security(config, "127.0.0.1", port)
    board = build_board(config, allowed_hosts=security.allowed_hosts, allowed_origins=security.allowed_origins)
    board.throttle = LoginThrottle(clock=clock)
    server = uvicorn.Server(uvicorn.Config(board.app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_pause_counts_down_and_after_the_window_a_right_key_signs_in(tmp_path):
    clock = Clock()
    with board_in_process(tmp_path, clock) as base:
        person = Browser(base)
        for step in range(5):
            assert person.sign_in(WRONG).status_code == 401
            clock.now += 1  # failures at 1000..1004: the pause lasts until the first leaves the window
        assert_paused(person.sign_in(ALICE), 55)
        clock.now += 30
        assert_paused(person.sign_in(ALICE), 25)
        clock.now += 25
        signed_in = person.sign_in(ALICE)
        assert signed_in.status_code == 303 and "board_session" in signed_in.cookies
        assert person.web.get(base + "/", timeout=10).status_code == 200
        # A correct key does not count as a failure; the failures still in the window still do
        # (1001..1004 are four): one more wrong key pauses again, until 1001 leaves the window.
        assert person.sign_in(WRONG).status_code == 401
        assert_paused(person.sign_in(WRONG), 1)
