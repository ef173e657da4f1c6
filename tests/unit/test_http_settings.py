"""HTTP settings and the API-key verifier: pure functions over values."""
from __future__ import annotations

import anyio
import pytest

from config import load_config
from domain.errors import InvalidInput
from transports.http import is_loopback, transport_security
from transports.http_auth import ApiKeyVerifier

KEY_A = "a" * 24
KEY_B = "b-key-0123456789abcdef"


def test_api_keys_are_named_and_never_shown():
    config = load_config({"MCP_API_KEYS": f" alice:{KEY_A} , ci-bot:{KEY_B},", "HOME": "/tmp"})
    assert config.api_keys == (("alice", KEY_A), ("ci-bot", KEY_B))
    assert KEY_A not in repr(config) and KEY_B not in repr(config)


@pytest.mark.parametrize("raw, fragment", [
    ("alice", "entry 1, is not name:key"),
    (f"alice:{KEY_A},:{KEY_B}", "entry 2, is not name:key"),
    ("alice:short", "shorter than 16 characters"),
    (f"{KEY_A}:alice", "entry 1: the key (after the colon) is shorter"),  # swapped: key:name
    (f"alice:{KEY_A},bob:{KEY_A}", "same key as another entry"),
])
def test_bad_api_keys_are_refused_without_echoing_the_key(raw, fragment):
    with pytest.raises(InvalidInput) as raised:
        load_config({"MCP_API_KEYS": raw, "HOME": "/tmp"})
    assert fragment in str(raised.value) and "MCP_API_KEYS" in str(raised.value)
    assert KEY_A not in str(raised.value) and "short" not in str(raised.value).replace("shorter", "")
    if raw.startswith(KEY_A):  # either part could be the key, so neither is quoted
        assert "alice" not in str(raised.value)


def test_http_settings_have_safe_defaults_and_are_checked():
    config = load_config({"HOME": "/tmp"})
    assert (config.transport, config.http_host, config.http_port, config.http_stateless, config.read_only) == (
        "stdio", "127.0.0.1", 8765, False, False
    )
    assert load_config({"MCP_HTTP_STATELESS": "yes", "READ_ONLY": "true", "HOME": "/tmp"}).http_stateless
    for env, fragment in [({"MCP_TRANSPORT": "sse"}, "MCP_TRANSPORT"), ({"MCP_HTTP_PORT": "70000"}, "MCP_HTTP_PORT"),
                          ({"READ_ONLY": "maybe"}, "READ_ONLY")]:
        with pytest.raises(InvalidInput, match=fragment):
            load_config({**env, "HOME": "/tmp"})


def test_the_verifier_knows_each_key_by_name_and_nothing_else():
    verifier = ApiKeyVerifier([("alice", KEY_A), ("ci-bot", KEY_B)])

    async def check(token: str):
        found = await verifier.verify_token(token)
        return found.client_id if found else None

    assert anyio.run(check, KEY_A) == "alice"
    assert anyio.run(check, KEY_B) == "ci-bot"
    for wrong in ("", KEY_A[:-1], KEY_A + "a", KEY_A.upper(), f"Bearer {KEY_A}"):
        assert anyio.run(check, wrong) is None, wrong
    token = anyio.run(verifier.verify_token, KEY_A)
    assert KEY_A not in token.model_dump_json()


def test_loopback_and_the_allowed_host_headers():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("tasks.example")
    config = load_config({"HOME": "/tmp", "MCP_ALLOWED_HOSTS": "tasks.example,10.0.0.5:9000",
                          "MCP_ALLOWED_ORIGINS": "https://app.example"})
    local = transport_security(config, "127.0.0.1", 8765)
    assert local.enable_dns_rebinding_protection
    assert {"127.0.0.1:8765", "localhost:8765", "[::1]:8765", "tasks.example", "tasks.example:*", "10.0.0.5:9000"} <= set(
        local.allowed_hosts
    )
    assert "http://localhost:8765" in local.allowed_origins and "https://app.example" in local.allowed_origins
    assert "evil.example:8765" not in local.allowed_hosts
    assert "10.1.2.3:80" in transport_security(load_config({"HOME": "/tmp"}), "10.1.2.3", 80).allowed_hosts


def test_env_example_lists_every_setting_the_config_reads():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read = set(re.findall(r'''(?:env\.get\(|env\[|_number\(env, |_flag\(env, )"([A-Z][A-Z0-9_]+)"''', (root / "config.py").read_text()))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.M))
    # MCP_TASKS_ENV_FILE comes only from the environment: it names the .env file itself.
    not_settings = {"HOME", "USERPROFILE", "LOCALAPPDATA", "XDG_DATA_HOME", "PWD", "APPDATA", "XDG_CONFIG_HOME", "MCP_TASKS_ENV_FILE"}
    assert read - not_settings - listed == set(), "add these to .env.example with a comment"
