"""The board honours key roles (MCP_API_KEYS name:key:role): a read role sees no action and a
forged POST from it is answered 403 with nothing written; a write role cannot approve.
In a real browser (Debian's chromium via Playwright), on both backends."""
from __future__ import annotations

import re

import pytest

from tests.conftest import server_env
from tests.e2e.test_board import agent, base, browser, expect, history, page  # noqa: F401 - fixtures
from tests.support.mcp_http import http_server

READER = "reader-board-key-4d6f8a0c2e"
WORKER = "worker-board-key-9b7d5f3a1c"
BOSS = "boss-board-key-0e2c4a6f8d"
KEYS = f"reader:{READER}:read,worker:{WORKER}:write,boss:{BOSS}"


def _sign_in(page, server, key: str, path: str) -> None:
    page.goto(base(server) + path)
    page.fill('input[name="key"]', key)
    page.click("form.login button")


def _post_from_page(page, action: str) -> int:
    """What a hand-made request with this browser's own cookie and CSRF token gets: only the role stops it."""
    return page.evaluate("""async (action) => {
        const csrf = document.querySelector('input[name=csrf]').value;
        const r = await fetch(location.pathname + '/' + action,
                              {method: 'POST', body: new URLSearchParams({csrf, content: 'forged'})});
        return r.status;
    }""", action)


def test_a_read_role_sees_no_actions_and_its_forged_posts_get_403_with_nothing_written(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        task = agent(server.url, BOSS, "tasks_create", title="Check the backups", type="mixed")
        agent(server.url, BOSS, "tasks_status", id=task["id"], status="in_progress")
        agent(server.url, BOSS, "tasks_result", id=task["id"], response="All fine", executor="boss", executor_type="claude")
        before = history(server.url, BOSS, task["id"])

        _sign_in(page, server, READER, f"/tasks/{task['id']}")
        expect(page.locator("h1 .title")).to_have_text("Check the backups")
        expect(page.locator("header .who")).to_contain_text("Signed in as reader")
        assert page.locator("main form, button.approve, button.take, button.comment, button.send-back").count() == 0
        assert page.locator('header nav a[href="/new"]').count() == 0
        for action in ("approve", "send-back", "comment", "take"):
            assert _post_from_page(page, action) == 403, action
        created = page.evaluate("""async () => {
            const csrf = document.querySelector('input[name=csrf]').value;
            return (await fetch('/new', {method: 'POST', body: new URLSearchParams({csrf, title: 'forged'})})).status;
        }""")
        assert created == 403
        assert history(server.url, BOSS, task["id"]) == before
        assert agent(server.url, BOSS, "tasks_list")["total"] == 1

        # A write role comments and takes, but the review box is not offered and approving is refused.
        page.click("header .who button")
        _sign_in(page, server, WORKER, f"/tasks/{task['id']}")
        expect(page.locator("header .who")).to_contain_text("Signed in as worker")
        expect(page.locator("button.comment")).to_have_count(1)
        assert page.locator("button.approve, button.send-back").count() == 0
        assert _post_from_page(page, "approve") == 403
        page.goto(f"{base(server)}/tasks/{task['id']}")
        refusal = page.evaluate("""async () => {
            const csrf = document.querySelector('input[name=csrf]').value;
            return (await fetch(location.pathname + '/approve', {method: 'POST', body: new URLSearchParams({csrf})})).text();
        }""")
        assert "needs tasks:review" in re.sub(r"<[^>]+>", "", refusal)
        assert agent(server.url, BOSS, "tasks_get", id=task["id"])["status"] == "in_progress"
        page.fill('form[action$="/comment"] textarea', "Looks right to me.")
        page.click("button.comment")
        expect(page.locator(".notice")).to_have_text("Comment added.")

        # A key without a role keeps every right: it approves.
        page.click("header .who button")
        _sign_in(page, server, BOSS, f"/tasks/{task['id']}")
        page.click("button.approve")
        expect(page.locator(".notice")).to_contain_text("Approved")
        assert history(server.url, BOSS, task["id"])[-2:] == [("worker", "Looks right to me."), ("boss", "Status: in_progress → completed")]
