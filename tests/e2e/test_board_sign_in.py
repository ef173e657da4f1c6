"""People sign in to the board through the identity provider: the authorization code flow
with PKCE against a real local issuer (tests/support/oauth_issuer.py), in a real browser
(Debian's chromium via Playwright), the server as a subprocess; both backends."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import server_env
from tests.e2e.test_board import agent, base, browser, expect, history, page  # noqa: F401 - fixtures
from tests.support.mcp_http import http_server
from tests.support.oauth_issuer import oauth_issuer

BOSS = "boss-sign-in-key-5a7c9e1b3d"


def test_a_person_signs_in_through_the_provider_with_pkce_and_acts_under_their_name_and_scope(backend_url, tmp_path, page):
    with oauth_issuer() as issuer:
        env = server_env(backend_url, tmp_path, MCP_API_KEYS=f"boss:{BOSS}", MCP_OAUTH_ISSUER=issuer.url,
                         MCP_OAUTH_CLIENT_ID="mcp-tasks-board")
        with http_server(env) as server:
            task = agent(server.url, BOSS, "tasks_create", title="Review the rota", type="mixed")
            issuer.person = {"sub": "u-1001", "name": "Alice Example", "scope": "openid tasks:write"}
            page.goto(f"{base(server)}/tasks/{task['id']}")
            expect(page.locator("a.provider-sign-in")).to_have_count(1)
            assert "Review the rota" not in page.content()
            page.click("a.provider-sign-in")
            expect(page.locator("header .who")).to_contain_text("Signed in as Alice Example")
            expect(page.locator("h1 .title")).to_have_text("Review the rota")  # back where the person was going
            code = next(iter(issuer.used_codes.values()))
            assert code["code_challenge_method"] == "S256" and code["client_id"] == "mcp-tasks-board"
            assert code["resource"] == server.url and code["redirect_uri"] == f"{base(server)}/oauth/callback"
            cookie = next(c for c in page.context.cookies() if c["name"] == "board_person")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            page.fill('form[action$="/comment"] textarea', "On it.")
            page.click("button.comment")
            expect(page.locator(".notice")).to_have_text("Comment added.")
            assert history(server.url, BOSS, task["id"])[-1] == ("Alice Example", "On it.")
            # tasks:write is no review: no review box (the task is not waiting for one), approving refused.
            status = page.evaluate("""async () => {
                const csrf = document.querySelector('input[name=csrf]').value;
                return (await fetch(location.pathname + '/approve', {method: 'POST', body: new URLSearchParams({csrf})})).status;
            }""")
            assert status == 403

            # A callback whose state this browser did not start is refused, and signs nobody in;
            # so is one without the flow cookie (another browser), and a code the provider does not know.
            page.click("header .who button")
            web = requests.Session()
            start = web.get(f"{base(server)}/oauth/start?next=/", allow_redirects=False, timeout=10)
            assert start.status_code == 303 and start.headers["location"].startswith(f"{issuer.url}/authorize?")
            state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
            cases = {
                "state does not match": web.get(f"{base(server)}/oauth/callback?code=stolen&state=not-mine", timeout=10),
                "not started here": requests.get(f"{base(server)}/oauth/callback?code=x&state={state}", timeout=10),
                "gave no access token": web.get(f"{base(server)}/oauth/callback?code=made-up&state={state}", timeout=10),
                "another issuer": web.get(f"{base(server)}/oauth/callback?code=x&state={state}&iss=http://evil.example", timeout=10),
            }
            for reason, response in cases.items():
                assert response.status_code == 401 and reason in response.text, (reason, response.status_code, response.text[-600:])
                assert "board_person" not in response.cookies, reason

            # A reader signs in and sees no forms; the provider's token decides the role.
            issuer.person = {"sub": "u-2002", "preferred_username": "rob", "scope": "tasks:read"}
            page.goto(f"{base(server)}/tasks/{task['id']}")
            page.click("a.provider-sign-in")
            expect(page.locator("header .who")).to_contain_text("Signed in as rob")
            assert page.locator("main form, button.comment, button.take").count() == 0
            before = history(server.url, BOSS, task["id"])
            status = page.evaluate("""async () => {
                const csrf = document.querySelector('input[name=csrf]').value;
                return (await fetch(location.pathname + '/comment',
                                    {method: 'POST', body: new URLSearchParams({csrf, content: 'forged'})})).status;
            }""")
            assert status == 403 and history(server.url, BOSS, task["id"]) == before

            # Someone the provider knows but who holds no tasks scope sees nothing.
            page.click("header .who button")
            issuer.person = {"sub": "u-3003", "name": "Nobody Here", "scope": "openid profile"}
            page.click("a.provider-sign-in")
            expect(page.locator(".refusal")).to_contain_text("carries no tasks scope")
            assert "Review the rota" not in page.content()
            assert not [c for c in page.context.cookies() if c["name"] == "board_person"]
