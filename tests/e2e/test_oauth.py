"""Sign-in through an identity provider (OAuth 2.1 resource server) and roles, end to end:
a real authorization server on loopback (tests/support/oauth_issuer.py: discovery, JWKS,
tokens minted with PyJWT), the server as a subprocess over HTTP, the SDK's real client.
"""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
import requests

from infrastructure.jwks import REFETCH_SECONDS
from tests.conftest import server_env
from tests.support.mcp_http import call, http_server, http_session, refused
from tests.support.oauth_issuer import oauth_issuer

pytestmark = pytest.mark.anyio

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
READER = "reader-key-3c5e7a9b1d2f4680"
WORKER = "worker-key-7b9d1f3a5c2e4068"
BOSS = "boss-key-1a3c5e7b9d0f2468"
OLD = "old-key-9f8e7d6c5b4a3210"  # no role: every right, as before roles


def _env(url: str, tmp_path, issuer=None, **extra: str) -> dict[str, str]:
    if issuer is not None:
        extra["MCP_OAUTH_ISSUER"] = issuer.url
    return server_env(url, tmp_path, **extra)


def _post(url: str, body: dict, token: str | None, session: str | None = None) -> requests.Response:
    headers = dict(ACCEPT)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers["Mcp-Session-Id"] = session
    return requests.post(url, data=json.dumps(body), headers=headers, timeout=30)


def test_the_metadata_names_the_issuer_and_four_scopes_and_a_request_without_a_token_gets_401(tmp_path):
    with oauth_issuer() as issuer, http_server(_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, issuer)) as server:
        audience = server.url  # the default: exactly http://<host>:<port>/mcp
        assert audience in server.stderr_text(), "the audience is printed at start"
        base = server.url.removesuffix("/mcp")
        metadata = requests.get(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=30)
        assert metadata.status_code == 200, metadata.text
        doc = metadata.json()
        assert doc["resource"] == audience
        assert doc["authorization_servers"] == [issuer.url]
        assert doc["scopes_supported"] == ["tasks:read", "tasks:write", "tasks:review", "tasks:admin"]
        response = _post(server.url, INITIALIZE, None)
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer") and f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge
        good = issuer.mint(aud=audience, scope="tasks:read")
        assert _post(server.url, INITIALIZE, good).status_code == 200


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["scope"] = "tasks:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{forged}.{signature}"


async def test_each_bad_token_is_refused_with_401_and_writes_nothing(tmp_path):
    with oauth_issuer() as issuer, http_server(_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, issuer)) as server:
        aud = server.url
        good = issuer.mint(aud=aud, scope="tasks:admin")
        init = _post(server.url, INITIALIZE, good)
        session = init.headers["mcp-session-id"]
        assert _post(server.url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, good, session).status_code == 202
        now = int(time.time())
        public_pem = issuer.rsa.public_key().public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.PEM,
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo,
        )
        bad = {
            "wrong issuer": issuer.mint(aud=aud, scope="tasks:admin", iss="http://127.0.0.1:1/other"),
            "wrong audience": issuer.mint(aud="http://127.0.0.1:1/mcp", scope="tasks:admin"),
            "expired": issuer.mint(aud=aud, scope="tasks:admin", exp=now - 120),
            "not yet valid": issuer.mint(aud=aud, scope="tasks:admin", nbf=now + 600),
            "bad signature": _tampered(good),
            "alg none": jwt.encode({"iss": issuer.url, "sub": "u-1", "aud": aud, "exp": now + 300, "scope": "tasks:admin"},
                                   None, algorithm="none", headers={"kid": issuer.kids["rsa"]}),
            "HS256 keyed with the public key": jwt.encode(
                {"iss": issuer.url, "sub": "u-1", "aud": aud, "exp": now + 300}, "x" * 32, algorithm="HS256",
                headers={"kid": issuer.kids["rsa"]}) if public_pem else "",
            "unknown key": issuer.mint(aud=aud, scope="tasks:admin", headers={"kid": "nobody-knows-this-kid"}),
            "an id token's typ": issuer.mint(aud=aud, scope="tasks:admin", headers={"typ": "id_token+jwt"}),
            "no exp": issuer.mint(aud=aud, scope="tasks:admin", omit=("exp",)),
        }
        create = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "tasks_create", "arguments": {"title": "x"}}}
        for what, token in bad.items():
            response = _post(server.url, create, token, session)
            assert response.status_code == 401, (what, response.status_code, response.text)
            assert "resource_metadata=" in response.headers["www-authenticate"], what
        async with http_session(server.url, good) as client:
            assert (await call(client, "tasks_statistics"))["total"] == 0, "no refused request wrote anything"
        # The same request with the good token does write: the refusals above refused a real write.
        assert _post(server.url, create, good, session).status_code == 200
        async with http_session(server.url, good) as client:
            assert (await call(client, "tasks_statistics"))["total"] == 1
        log = server.stderr_text()
        assert good not in log and "Signature verification failed" in log and "audience" in log.lower()


async def test_an_es256_token_works_and_a_new_signing_key_is_fetched_once(tmp_path):
    with oauth_issuer() as issuer, http_server(_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, issuer)) as server:
        async with http_session(server.url, issuer.mint(key="ec", aud=server.url, scope="tasks:read")) as client:
            assert (await call(client, "tasks_statistics"))["total"] == 0
        assert issuer.jwks_fetches == 1
        async with http_session(server.url, issuer.mint(aud=server.url, scope="tasks:read")) as client:
            await call(client, "tasks_list")
        assert issuer.jwks_fetches == 1, "a known key is served from the cache"
        issuer.rotate()
        time.sleep(REFETCH_SECONDS + 0.5)  # the set was read at the first call; a refetch waits this long
        async with http_session(server.url, issuer.mint(aud=server.url, scope="tasks:read")) as client:
            await call(client, "tasks_list")
        assert issuer.jwks_fetches == 2, "an unknown kid refreshes the set"
        # Made-up kids do not make the server hammer the issuer: no second refetch within REFETCH_SECONDS.
        for n in range(5):
            token = issuer.mint(aud=server.url, headers={"kid": f"made-up-{n}"})
            assert _post(server.url, INITIALIZE, token).status_code == 401
        assert issuer.jwks_fetches == 2


async def test_each_scope_allows_its_calls_and_refuses_the_next_naming_the_scope(backend_url, tmp_path):
    with oauth_issuer() as issuer, http_server(_env(backend_url, tmp_path, issuer)) as server:
        def token(scope: str, sub: str = "u-1001", **claims) -> str:
            return issuer.mint(aud=server.url, scope=scope, sub=sub, **claims)

        async with http_session(server.url, token("tasks:admin", sub="admin-1", name="Ada Admin")) as admin:
            task = await call(admin, "tasks_create", title="Shared work")
        async with http_session(server.url, token("tasks:read")) as reader:
            assert (await call(reader, "tasks_get", id=task["id"]))["title"] == "Shared work"
            assert (await call(reader, "tasks_list"))["total"] == 1
            await call(reader, "tasks_statistics")
            await call(reader, "contracts_list")
            resource = await reader.read_resource(f"task://{task['id']}")
            assert "Shared work" in resource.contents[0].text
            for name, args in [("tasks_create", {"title": "no"}), ("tasks_comment", {"id": task["id"], "content": "no"}),
                               ("tasks_status", {"id": task["id"], "status": "in_progress"}),
                               ("tasks_claim", {"assignee": "me", "assignee_type": "claude"})]:
                text = await refused(reader, name, **args)
                assert text.startswith("[forbidden]") and f"{name} needs tasks:write" in text, text
            assert "needs tasks:admin" in await refused(reader, "tasks_delete", id=task["id"])
        async with http_session(server.url, token("tasks:write", sub="w-1", name="Wes Worker")) as worker:
            claimed = await call(worker, "tasks_claim", assignee="Wes Worker", assignee_type="claude")
            assert claimed["claimed"] and claimed["task"]["id"] == task["id"]
            await call(worker, "tasks_comment", id=task["id"], content="working")
            assert "needs tasks:admin" in await refused(worker, "tasks_delete", id=task["id"])
        async with http_session(server.url, token("tasks:write", sub="w-2", name="Other Worker")) as other:
            text = await refused(other, "tasks_status", id=task["id"], status="cancelled")
            assert text.startswith("[forbidden]") and "needs tasks:review" in text and "Wes Worker" in text, text
        async with http_session(server.url, token("tasks:review", sub="r-1", name="Rita Reviewer")) as reviewer:
            assert (await call(reviewer, "tasks_status", id=task["id"], status="cancelled", confirm=True))["status"] == "cancelled"
            assert "needs tasks:admin" in await refused(reviewer, "tasks_delete", id=task["id"])
        async with http_session(server.url, token("openid profile")) as nobody:
            text = await refused(nobody, "tasks_list")
            assert "tasks_list needs tasks:read" in text and "no tasks scope" in text, text
            with pytest.raises(Exception, match="forbidden"):
                await nobody.read_resource(f"task://{task['id']}")
        async with http_session(server.url, token("tasks:admin", sub="admin-1", name="Ada Admin")) as admin:
            detail = await call(admin, "tasks_get", id=task["id"])
            assert (await call(admin, "tasks_delete", id=task["id"], confirm=True))["deleted"]
    # Nothing a refused call tried is in the history: the comment is the worker's, the cancel the reviewer's.
    history = [(c["author"], c["author_type"], c["content"]) for c in detail["comments"]]
    assert ("Wes Worker", "human", "working") in history  # a signed-in person; the claim itself was as claude (ai)
    assert [a for a, _, text in history if "cancelled" in text] == ["Rita Reviewer"]
    assert not any(a in ("u-1001", "Other Worker") for a, _, _ in history), history


async def test_the_principal_is_the_actor_and_a_person_is_human_a_client_ai(backend_url, tmp_path):
    with oauth_issuer() as issuer, http_server(_env(backend_url, tmp_path, issuer)) as server:
        person = issuer.mint(aud=server.url, scope="tasks:write", sub="u-1001", name="Alice Example", azp="claude-code")
        robot = issuer.mint(aud=server.url, scope="tasks:write", sub="ci-runner", client_id="ci-runner")
        async with http_session(server.url, person) as alice:
            task = await call(alice, "tasks_create", title="Plan", created_by="Mallory")
            assert (task["created_by"], task["created_by_type"]) == ("Mallory (via Alice Example)", "human")
            own = await call(alice, "tasks_create", title="Mine")
            assert (own["created_by"], own["created_by_type"]) == ("Alice Example", "human")
            await call(alice, "tasks_update", id=own["id"], description="more", updated_by="claude", updated_by_type="ai")
        async with http_session(server.url, robot) as ci:
            claimed = await call(ci, "tasks_claim", assignee="builder", assignee_type="claude")
            assert claimed["task"]["id"] == task["id"]
            await call(ci, "tasks_comment", id=task["id"], content="built")
        async with http_session(server.url, person) as alice:
            # The claim is held by the client's identity: Alice cannot complete it, the client can.
            text = await refused(alice, "tasks_status", id=task["id"], status="completed")
            assert "held by builder (via ci-runner)" in text, text
            mine = await call(alice, "tasks_get", id=own["id"])
        async with http_session(server.url, robot) as ci:
            await call(ci, "tasks_status", id=task["id"], status="completed")
            done = await call(ci, "tasks_get", id=task["id"])
    assert [(c["author"], c["author_type"]) for c in mine["comments"]] == [
        ("Alice Example", "human"), ("claude (via Alice Example)", "ai"),
    ]
    assert [(c["author"], c["author_type"]) for c in done["comments"]] == [
        ("Mallory (via Alice Example)", "human"), ("builder (via ci-runner)", "ai"), ("ci-runner", "ai"), ("ci-runner", "ai"),
    ]
    assert done["assignments"][0]["assignee"] == "builder (via ci-runner)"


async def test_api_key_roles_limit_calls_and_a_key_without_a_role_keeps_every_right(backend_url, tmp_path):
    keys = f"reader:{READER}:read,worker:{WORKER}:write,boss:{BOSS}:admin,old:{OLD}"
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=keys)) as server:
        async with http_session(server.url, OLD) as old:
            first = await call(old, "tasks_create", title="one", created_by="someone")
            assert first["created_by"] == "someone (via old)"
            second = await call(old, "tasks_create", title="two")
        async with http_session(server.url, READER) as reader:
            assert (await call(reader, "tasks_list"))["total"] == 2
            text = await refused(reader, "tasks_create", title="no")
            assert text.startswith("[forbidden] tasks_create needs tasks:write; reader has tasks:read"), text
        async with http_session(server.url, WORKER) as worker:
            await call(worker, "tasks_status", id=first["id"], status="in_progress")
            assert "needs tasks:admin" in await refused(worker, "tasks_delete", id=second["id"])
        async with http_session(server.url, BOSS) as boss:
            assert (await call(boss, "tasks_status", id=first["id"], status="cancelled", confirm=True))["status"] == "cancelled"
            assert (await call(boss, "tasks_delete", id=second["id"], confirm=True))["deleted"]
        async with http_session(server.url, OLD) as old:
            assert (await call(old, "tasks_list"))["total"] == 1


async def test_tools_list_shows_each_key_and_token_only_the_tools_its_role_allows(backend_url, tmp_path):
    """A read key's model is not shown write tools it would only be refused (stop 21 left
    tools/list unfiltered); a key without a role, and stdio, still see every offered tool."""
    keys = f"reader:{READER}:read,worker:{WORKER}:write,boss:{BOSS}:admin,old:{OLD}"
    with oauth_issuer() as issuer, http_server(_env(backend_url, tmp_path, issuer, MCP_API_KEYS=keys,
                                                     MCP_TASKS_TOOLS="all")) as server:
        async def names(key: str, **headers: str) -> set[str]:
            async with http_session(server.url, key, headers=headers or None) as session:
                return {tool.name for tool in (await session.list_tools()).tools}

        every = await names(OLD)
        assert len(every) == 15
        reads = {"tasks_list", "tasks_get", "tasks_statistics", "contracts_list", "contracts_validate"}
        assert await names(READER) == reads
        assert await names(WORKER) == every - {"tasks_delete"}
        assert await names(BOSS) == every
        assert await names(issuer.mint(aud=server.url, scope="tasks:read", sub="u-7")) == reads
        assert await names(issuer.mint(aud=server.url, scope="openid")) == set()
        # The header narrows within the role: core for a reader is core's read tools.
        assert await names(READER, **{"X-MCP-Tools": "core"}) == {"tasks_list", "tasks_get"}


async def test_a_stateless_server_on_the_2026_protocol_checks_the_token_and_its_scope_on_every_request(tmp_path):
    with oauth_issuer() as issuer, \
            http_server(_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, issuer), "--stateless") as server:
        writer = issuer.mint(aud=server.url, scope="tasks:write", sub="u-5", preferred_username="erin")
        async with http_session(server.url, writer, "auto") as client:
            task = await call(client, "tasks_create", title="stateless")
            assert (task["created_by"], task["created_by_type"]) == ("erin", "human")
        async with http_session(server.url, issuer.mint(aud=server.url, scope="tasks:read"), "auto") as client:
            assert "tasks_delete needs tasks:admin" in await refused(client, "tasks_delete", id=task["id"])
            assert (await call(client, "tasks_get", id=task["id"]))["title"] == "stateless"
