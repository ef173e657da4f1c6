"""Roles and sign-in settings: the scope table, key roles, issuer URLs, `name (via principal)`."""
from __future__ import annotations

import pytest

from config import load_config
from domain.errors import Forbidden, InvalidInput
from tools.common import via
from transports.sdk_private import tool_manager
from validators.roles import ADMIN, READ, REVIEW, SCOPES, TOOL_SCOPES, WRITE, granted, require, tool_scope

KEY = "k" * 20


def test_each_scope_includes_the_ones_below_it_and_foreign_scopes_grant_nothing():
    assert granted(["tasks:read"]) == {READ}
    assert granted(["openid", "tasks:write"]) == {READ, WRITE}
    assert granted(["tasks:review"]) == {READ, WRITE, REVIEW}
    assert granted(["tasks:admin", "tasks:read"]) == set(SCOPES)
    assert granted(["openid", "profile", "tasks:reader"]) == frozenset()


def test_every_tool_the_server_offers_is_in_the_scope_table_and_an_unknown_tool_needs_admin():
    import server

    # Every tool, whatever tool profile a server would list by default.
    mcp = server.build_server(load_config({"DATABASE_URL": "sqlite:////nonexistent/never-opened.db", "MCP_TASKS_TOOLS": "all"}))
    offered = {tool.name for tool in tool_manager(mcp).list_tools()}
    assert offered == set(TOOL_SCOPES), "classify a new tool in validators/roles.py TOOL_SCOPES"
    assert {tool_scope(name) for name in offered} == {READ, WRITE, ADMIN}
    assert tool_scope("tasks_something_new") == ADMIN


def test_a_refusal_names_the_scope_needed_and_what_the_principal_has():
    require(granted([WRITE]), WRITE, "tasks_create", "ci-bot")
    with pytest.raises(Forbidden) as refused:
        require(granted([READ]), WRITE, "tasks_create", "ci-bot")
    assert str(refused.value).startswith("tasks_create needs tasks:write; ci-bot has tasks:read.")
    with pytest.raises(Forbidden, match="has no tasks scope"):
        require(granted(["openid"]), READ, "tasks_list", "u-1")


def test_key_roles_are_parsed_and_a_key_without_a_role_has_none_recorded():
    config = load_config({"MCP_API_KEYS": f"a:{KEY}:read, b:{'b' * 20}, c:{'c' * 20}:admin"})
    assert config.api_keys == (("a", KEY), ("b", "b" * 20), ("c", "c" * 20))
    assert config.api_key_roles == (("a", "read"), ("c", "admin"))


@pytest.mark.parametrize("raw, fragment", [
    (f"a:{KEY}:owner", "not one of read, write, review, admin"),
    (f"a:{KEY}:read,a:{'z' * 20}:write", "another role"),
])
def test_a_bad_role_is_refused_without_echoing_the_key(raw, fragment):
    with pytest.raises(InvalidInput) as refused:
        load_config({"MCP_API_KEYS": raw})
    assert fragment in str(refused.value) and KEY not in str(refused.value)


def test_the_issuer_is_https_or_loopback_http_and_the_jwks_url_needs_an_issuer():
    assert load_config({"MCP_OAUTH_ISSUER": "https://id.example.com/realms/team"}).oauth_issuer == "https://id.example.com/realms/team"
    assert load_config({"MCP_OAUTH_ISSUER": "http://127.0.0.1:9000"}).oauth_issuer == "http://127.0.0.1:9000"
    assert load_config({"MCP_OAUTH_ISSUER": "http://localhost:9000/x"}).oauth_issuer
    for bad in ("http://id.example.com", "ftp://127.0.0.1/x", "id.example.com", "https://id.example.com/?a=1"):
        with pytest.raises(InvalidInput, match="MCP_OAUTH_ISSUER"):
            load_config({"MCP_OAUTH_ISSUER": bad})
    with pytest.raises(InvalidInput, match="needs MCP_OAUTH_ISSUER"):
        load_config({"MCP_OAUTH_JWKS_URL": "https://id.example.com/jwks"})
    defaults = load_config({})
    assert (defaults.oauth_issuer, defaults.oauth_audience, defaults.oauth_jwks_url) == (None, None, None)


def test_another_name_is_recorded_via_the_principal_within_100_characters():
    assert via(None, "alice") == "alice"
    assert via("alice", "alice") == "alice"
    assert via("claude", "alice") == "claude (via alice)"
    assert via("claude (via alice)", "alice") == "claude (via alice)"
    long = via("x" * 100, "alice")
    assert len(long) == 100 and long.endswith(" (via alice)")


def test_a_token_names_its_principal_and_a_client_credential_is_ai():
    from transports.http_auth import PRINCIPAL
    from transports.oauth import token_for

    def who(**claims):
        token = token_for({"iss": "https://id.example.com", "exp": 2_000_000_000, **claims})
        return token.subject, token.claims[PRINCIPAL]["name"], token.claims[PRINCIPAL]["kind"], token.scopes

    assert who(sub="u-1", name="Alice  Example", preferred_username="alice", azp="claude-code", scope="tasks:write openid") == (
        "u-1", "Alice Example", "human", ["tasks:write", "openid"])
    assert who(sub="u-2", preferred_username="bob")[1:3] == ("bob", "human")
    assert who(sub="ci-runner", client_id="ci-runner")[1:3] == ("ci-runner", "ai")  # RFC 9068 client credentials
    assert who(sub="abc@clients", azp="abc", gty="client-credentials")[2] == "ai"  # Auth0
    assert who(sub="0f1e", azp="app-id", idtyp="app")[2] == "ai"  # Entra ID
    assert who(sub="8c2d", azp="ci-runner", preferred_username="service-account-ci-runner")[1:3] == (
        "service-account-ci-runner", "ai")  # Keycloak
    assert len(who(sub="u-3", name="x" * 300)[1]) == 100
