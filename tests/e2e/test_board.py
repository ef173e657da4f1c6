"""The board in a real browser (Debian's chromium via Playwright) against the server as a
subprocess, on both backends; the agents' side is the SDK's real MCP client.

Each test starts its own server: `--transport http` serves /mcp and the board at /.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.conftest import server_env
from tests.support.browser import launch, run_async
from tests.support.fake_ollama import FakeOllama, Succeed
from tests.support.mcp_http import free_port, http_server, http_session
from tests.support.mcp_stdio import SERVER, stdio_session

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">Renew the TLS certificate'
ALICE = "alice-board-key-7c1e5a9d3b"
BOT = "ci-bot-board-key-2f8a6d4c1e"
KEYS = f"alice:{ALICE},ci-bot:{BOT}"
LIVE_SECONDS = 2.0


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: .venv/bin/pip install -e '.[test]' (it drives /usr/bin/chromium; no browser download)")
    # Module scope: Playwright's sync API holds this thread's event loop until it stops, and
    # the async tests of other modules need it back.
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def expect(locator):
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def agent(url: str, key: str | None, name: str, **args: Any) -> dict:
    """One tool call by an agent: the SDK's client over streamable HTTP."""

    async def go():
        async with http_session(url, key) as client:
            result = await client.call_tool(name, args)
        assert not result.is_error, (name, result.content)
        return result.structured_content

    return run_async(go)


def other_process(env: dict[str, str], calls: list[tuple[str, dict]]) -> list[tuple[dict, float]]:
    """Tool calls made by another server process (a stdio server of its own, same database):
    each result with the wall-clock time its call returned."""

    async def go():
        out = []
        async with stdio_session(env, client_name="other-agent") as session:
            for name, args in calls:
                result = await session.call_tool(name, args)
                assert not result.is_error, result.content
                out.append((result.structured_content, time.time()))
        return out

    return run_async(go)


# Records, in the page, the wall-clock time at which each card (per column) and each history
# entry first appeared: how long a change took to show, measured where the person looks.
WATCH = """() => {
    window.__seenAt = {};
    const note = () => {
        const now = Date.now();
        for (const card of document.querySelectorAll('.column .card[data-task]')) {
            const key = card.closest('.column').dataset.status + ':' + card.dataset.task;
            if (!(key in window.__seenAt)) window.__seenAt[key] = now;
        }
        for (const entry of document.querySelectorAll('.history .content')) {
            const key = 'history:' + entry.textContent;
            if (!(key in window.__seenAt)) window.__seenAt[key] = now;
        }
    };
    note();
    new MutationObserver(note).observe(document.body, {subtree: true, childList: true});
}"""


def shown_after(page, key: str, since: float) -> float:
    return page.evaluate("k => window.__seenAt[k]", key) / 1000 - since


def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"


def history(url: str, key: str | None, task_id: int) -> list[tuple[str, str]]:
    return [(c["author"], c["content"]) for c in agent(url, key, "tasks_get", id=task_id)["comments"]]


# ---- what an agent made, a person sees ---------------------------------------------------------


def test_the_board_shows_a_task_an_agent_created_and_a_script_in_its_title_stays_text(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        task = agent(server.url, None, "tasks_create", title=XSS, description="Steps: <b>renew</b> & deploy",
                     type="human_task", labels=["ops"], priority="urgent")
        page.goto(base(server) + "/")
        card = page.locator(f'.column[data-status="pending"] .card[data-task="{task["id"]}"]')
        expect(card.locator(".title")).to_have_text(XSS)
        expect(card.locator(".badges")).to_contain_text("urgent")
        expect(card.locator(".badges")).to_contain_text("ops")
        card.locator("a").click()
        expect(page.locator("h1 .title")).to_have_text(XSS)
        expect(page.locator(".description")).to_have_text("Steps: <b>renew</b> & deploy")
        assert page.title().startswith(f"#{task['id']} <script>")
        # Shown as text: no element came from the title, and nothing of it ran.
        assert page.locator("main script, main img, .description *, h1 .title *").count() == 0
        assert page.evaluate("window.__pwned") is None
        # The filters are tasks_list's: a search and a type that do not match leave it out.
        page.goto(base(server) + "/?search=certificate&type=human_task")
        expect(page.locator(f'.card[data-task="{task["id"]}"]')).to_have_count(1)
        page.goto(base(server) + "/?type=ai_task")
        expect(page.locator(f'.card[data-task="{task["id"]}"]')).to_have_count(0)
        page.goto(base(server) + "/?type=nonsense")
        expect(page.locator(".refusal")).to_contain_text("type='nonsense' is not one of human task, AI task, mixed")


def test_approve_completes_a_task_waiting_for_review_and_send_back_returns_one_with_a_comment(backend_url, tmp_path, page):
    with FakeOllama(behaviour=Succeed(chunks=("The ", "summary."), prompt_eval_count=40, eval_count=12)) as ollama, \
            http_server(server_env(backend_url, tmp_path, OLLAMA_HOST=ollama.url)) as server:
        ids = []
        for title in ("Summarise the incident", "Draft the release note"):
            task = agent(server.url, None, "tasks_create", title=title, type="ai_task")
            run = agent(server.url, None, "tasks_execute", id=task["id"])  # no auto_complete: it waits for review
            assert run["task_status"] == "in_progress"
            ids.append(task["id"])
        page.goto(base(server) + "/")
        page.fill('header input[name="name"]', "Dana")
        page.click("header button")
        expect(page.locator('header input[name="name"]')).to_have_value("Dana")
        expect(page.locator(f'.column[data-status="in_progress"] .card[data-task="{ids[0]}"] .review')).to_have_text("waits for review")

        page.goto(f"{base(server)}/tasks/{ids[0]}")
        expect(page.locator("table").last).to_contain_text("52")  # tokens_total of the result
        page.click("button.approve")
        expect(page.locator(".notice")).to_have_text("Approved: the task is completed.")
        expect(page.locator('article .status').first).to_have_text("completed")
        assert agent(server.url, None, "tasks_get", id=ids[0])["status"] == "completed"
        assert history(server.url, None, ids[0])[-1][0] == "Dana"
        assert history(server.url, None, ids[0])[-1][1].startswith("Status: in_progress → completed (approved by Dana")
        assert page.locator("button.approve").count() == 0  # done: nothing left to review

        page.goto(f"{base(server)}/tasks/{ids[1]}")
        page.fill('form[action$="/send-back"] textarea', "Use the figures from the 2026 report.")
        page.click("button.send-back")
        expect(page.locator(".notice")).to_contain_text("Sent back")
        assert agent(server.url, None, "tasks_get", id=ids[1])["status"] == "pending"
        (who, moved), comment = history(server.url, None, ids[1])[-2:]
        assert who == "Dana" and moved.startswith("Status: in_progress → pending (sent back by Dana")
        assert comment == ("Dana", "Sent back: Use the figures from the 2026 report.")


def agent_refused(url: str, name: str, **args: Any) -> str:
    """The text of a tool call's refusal (the call must be refused)."""

    async def go():
        async with http_session(url, None) as client:
            result = await client.call_tool(name, args)
        assert result.is_error, (name, result.structured_content)
        return result.content[0].text

    return run_async(go)


def test_a_person_approves_and_sends_back_tasks_whose_agent_still_holds_the_lease(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        ids = [agent(server.url, None, "tasks_create", title=title, type="ai_task")["id"]
               for title in ("Summarise the incident", "Draft the release note")]
        for task_id in ids:
            claimed = agent(server.url, None, "tasks_claim", assignee="claude-1", assignee_type="claude", lease_minutes=60)
            assert claimed["task"]["id"] == task_id
            agent(server.url, None, "tasks_result", id=task_id, response="Done: see the summary.", executor="claude-1",
                  executor_type="claude")
            assert agent(server.url, None, "tasks_get", id=task_id)["held_by"].startswith("claude-1")
        page.goto(base(server) + "/")
        page.fill('header input[name="name"]', "Dana")
        page.click("header button")
        expect(page.locator('header input[name="name"]')).to_have_value("Dana")

        page.goto(f"{base(server)}/tasks/{ids[0]}")
        page.click("button.approve")
        expect(page.locator(".notice")).to_have_text("Approved: the task is completed.")
        approved = agent(server.url, None, "tasks_get", id=ids[0])
        assert approved["status"] == "completed" and not approved.get("held_by")
        who, moved = history(server.url, None, ids[0])[-1]
        assert who == "Dana" and moved == "Status: in_progress → completed (approved by Dana; the lease of claude-1 ended)"
        # The agent's next write is refused, naming the reviewer.
        refusal = agent_refused(server.url, "tasks_result", id=ids[0], response="More.", executor="claude-1", executor_type="claude")
        assert f"Task {ids[0]} was approved by Dana (human)" in refusal and "ended your lease" in refusal

        page.goto(f"{base(server)}/tasks/{ids[1]}")
        page.fill('form[action$="/send-back"] textarea', "Name the root cause.")
        page.click("button.send-back")
        expect(page.locator(".notice")).to_contain_text("Sent back")
        sent = agent(server.url, None, "tasks_get", id=ids[1])
        assert sent["status"] == "pending" and not sent.get("held_by")
        (who, moved), comment = history(server.url, None, ids[1])[-2:]
        assert moved == "Status: in_progress → pending (sent back by Dana; the lease of claude-1 ended)"
        assert comment == ("Dana", "Sent back: Name the root cause.")
        refusal = agent_refused(server.url, "tasks_status", id=ids[1], status="completed", updated_by="claude-1")
        assert f"Task {ids[1]} was sent back by Dana (human)" in refusal and "Name the root cause." in refusal
        assert agent(server.url, None, "tasks_get", id=ids[1])["status"] == "pending"
        # Claiming it again lifts the refusal: the agent reworks it.
        assert agent(server.url, None, "tasks_claim", assignee="claude-1", assignee_type="claude")["task"]["id"] == ids[1]
        agent(server.url, None, "tasks_result", id=ids[1], response="Root cause: the cron.", executor="claude-1",
              executor_type="claude")


def test_a_refusal_on_the_board_is_in_peoples_words_on_the_page_it_came_from(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        task = agent(server.url, None, "tasks_create", title="Check the backups", type="ai_task")
        agent(server.url, None, "tasks_claim", assignee="claude-1", assignee_type="claude")
        agent(server.url, None, "tasks_result", id=task["id"], response="Checked.", executor="claude-1", executor_type="claude")
        page.goto(f"{base(server)}/tasks/{task['id']}")
        # The agent writes again after the page was read: the approval is refused, and says so.
        agent(server.url, None, "tasks_result", id=task["id"], response="Checked twice.", executor="claude-1", executor_type="claude")
        page.click("button.approve")
        refusal = page.locator(".refusal")
        expect(refusal).to_contain_text(f"Task {task['id']} was changed by claude-1")
        expect(refusal).to_contain_text("after you opened this page")
        assert not re.search(r"\b(tasks|quality|contracts)_[a-z_]+", refusal.text_content())
        assert page.url == f"{base(server)}/tasks/{task['id']}"  # not the POST's URL: a reload reads the page
        assert agent(server.url, None, "tasks_get", id=task["id"])["status"] == "in_progress"


def test_a_refused_action_says_why_and_changes_nothing(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        blocker = agent(server.url, None, "tasks_create", title="Order the parts", type="human_task")
        task = agent(server.url, None, "tasks_create", title="Assemble", type="human_task", depends_on=[blocker["id"]])
        before = history(server.url, None, task["id"])
        page.goto(f"{base(server)}/tasks/{task['id']}?x=1")
        # An id no task can have is a page that says so, not a server error.
        for bad in ("0", "99999999999999999999999"):
            response = page.goto(f"{base(server)}/tasks/{bad}")
            assert response.status == 404, (bad, response.status)
            expect(page.locator(".refusal")).to_contain_text("does not exist")
        # Not offered while blocked; a take sent anyway (the page's own form, from the blocker's page) is refused.
        assert page.locator("button.take").count() == 0
        page.goto(f"{base(server)}/tasks/{blocker['id']}")
        page.eval_on_selector('form[action$="/take"]', f'f => f.action = "/tasks/{task["id"]}/take"')
        page.click("button.take")
        expect(page.locator(".refusal")).to_contain_text(f"Task {task['id']}")
        expect(page.locator(".refusal")).to_contain_text(f"{blocker['id']}")
        assert agent(server.url, None, "tasks_get", id=task["id"])["status"] == "pending"
        assert history(server.url, None, task["id"]) == before
        # The take of the blocker itself works: in progress, assigned to the person.
        page.goto(f"{base(server)}/tasks/{blocker['id']}")
        page.click("button.take")
        expect(page.locator(".notice")).to_have_text("The task is yours: in progress.")
        got = agent(server.url, None, "tasks_get", id=blocker["id"])
        assert got["status"] == "in_progress" and [a["assignee_type"] for a in got["assignments"]] == ["human"]


def test_a_person_creates_a_task_and_a_bad_field_is_refused_with_the_form_kept(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        page.goto(base(server) + "/new")
        page.fill('input[name="title"]', "Book the venue")
        page.fill('textarea[name="description"]', "For 40 people, <near> the station")
        page.select_option('select[name="priority"]', "high")
        page.fill('input[name="labels"]', "events, offsite")
        page.fill('input[name="due_date"]', "next Tuesday")
        page.click("form.new-task button")
        expect(page.locator(".refusal")).to_contain_text("due_date")
        expect(page.locator('input[name="title"]')).to_have_value("Book the venue")  # nothing typed is lost
        assert agent(server.url, None, "tasks_list")["total"] == 0  # and nothing was written
        page.fill('input[name="due_date"]', "2026-12-31")
        page.click("form.new-task button")
        expect(page.locator(".notice")).to_have_text("Task created.")
        task_id = int(re.search(r"/tasks/(\d+)", page.url).group(1))
        task = agent(server.url, None, "tasks_get", id=task_id)
        assert (task["title"], task["type"], task["priority"], task["labels"]) == ("Book the venue", "human_task", "high",
                                                                                  ["events", "offsite"])
        assert task["description"] == "For 40 people, <near> the station" and task["due_date"].startswith("2026-12-31")
        assert task["created_by_type"] == "human" and task["created_by"] == page.locator('header input[name="name"]').input_value()


# ---- live ------------------------------------------------------------------------------------


def test_a_change_made_by_another_server_process_appears_without_reload(backend_url, tmp_path, page):
    env = server_env(backend_url, tmp_path)
    wait = {"timeout": 10_000}  # generous for the wait; the time the change took is measured in the page
    with http_server(env) as server:
        first = agent(server.url, None, "tasks_create", title="Already there", type="human_task")
        page.goto(base(server) + "/")
        expect(page.locator("#live-state")).to_have_text("live")
        page.evaluate("window.__sameDocument = 42")
        page.evaluate(WATCH)
        [(made, at)] = other_process(env, [("tasks_create", {"title": "Made elsewhere", "type": "mixed"})])
        expect(page.locator(f'.column[data-status="pending"] .card[data-task="{made["id"]}"]')).to_have_count(1, **wait)
        created_after = shown_after(page, f"pending:{made['id']}", at)
        [(_, at)] = other_process(env, [("tasks_status", {"id": first["id"], "status": "in_progress"})])
        expect(page.locator(f'.column[data-status="in_progress"] .card[data-task="{first["id"]}"]')).to_have_count(1, **wait)
        moved_after = shown_after(page, f"in_progress:{first['id']}", at)
        assert page.evaluate("window.__sameDocument") == 42, "the page was reloaded"
        assert created_after < LIVE_SECONDS and moved_after < LIVE_SECONDS, (created_after, moved_after)
        # A task's page follows its history, and what the person is typing stays.
        page.goto(f"{base(server)}/tasks/{first['id']}")
        expect(page.locator("#live-state")).to_have_text("live")
        page.evaluate(WATCH)
        page.fill('form[action$="/comment"] textarea', "half-written thought")
        [_, (_, at)] = other_process(env, [("tasks_comment", {"id": made["id"], "content": "not this task"}),
                                           ("tasks_comment", {"id": first["id"], "content": "Parts arrive Monday"})])
        expect(page.locator(".history")).to_contain_text("Parts arrive Monday", **wait)
        assert shown_after(page, "history:Parts arrive Monday", at) < LIVE_SECONDS
        expect(page.locator('form[action$="/comment"] textarea')).to_have_value("half-written thought")
        assert "not this task" not in page.locator(".history").inner_text()


# ---- keys, forged requests, read-only ----------------------------------------------------------


def test_without_a_key_no_task_data_is_shown_and_with_one_the_key_name_is_the_actor(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path, MCP_API_KEYS=KEYS)) as server:
        task = agent(server.url, BOT, "tasks_create", title="Quarterly payroll export", type="human_task")
        for path in ("/", f"/tasks/{task['id']}", "/stats", "/new", "/?search=payroll"):
            response = page.goto(base(server) + path)
            assert response.status == 401, path
            text = page.content()
            assert "payroll" not in text.lower() and "Quarterly" not in text, path
            assert page.locator(".column, .card, .task, .count, .chart").count() == 0, path
            expect(page.locator('input[name="key"]')).to_have_count(1)
        events = page.request.get(base(server) + "/events")
        assert events.status == 401 and "payroll" not in events.text().lower()

        page.goto(base(server) + "/")
        page.fill('input[name="key"]', "not-a-key-at-all")
        page.click("form.login button")
        expect(page.locator(".refusal")).to_contain_text("not one of this server's API keys")
        assert "payroll" not in page.content().lower()

        page.goto(f"{base(server)}/tasks/{task['id']}")
        page.fill('input[name="key"]', ALICE)
        page.click("form.login button")
        expect(page.locator("h1 .title")).to_have_text("Quarterly payroll export")  # back where the person was going
        cookie = next(c for c in page.context.cookies() if c["name"] == "board_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ALICE not in cookie["value"]
        expect(page.locator("header .who")).to_contain_text("Signed in as alice")
        page.fill('form[action$="/comment"] textarea', "I will check the totals.")
        page.click("button.comment")
        expect(page.locator(".notice")).to_have_text("Comment added.")
        assert history(server.url, BOT, task["id"])[-1] == ("alice", "I will check the totals.")

        page.click("header .who button")  # sign out
        expect(page.locator('input[name="key"]')).to_have_count(1)
        assert "payroll" not in page.content().lower()


def _token(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def test_a_forged_post_is_refused_by_the_origin_and_csrf_checks(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        task = agent(server.url, None, "tasks_create", title="Rotate the keys", type="human_task")
        url = f"{base(server)}/tasks/{task['id']}/comment"
        # Another site's page posts a form to the board in the person's own browser.
        page.goto(base(server) + "/")  # the person has the board open: its cookies are set
        page.set_content(f'<form method="post" action="{url}"><input name="content" value="forged"><button>go</button></form>')
        with page.expect_navigation():
            page.click("button")
        assert "nothing was changed" in page.content()
        # The same by hand: right cookie and token but a foreign Origin; right Origin but no token.
        web = requests.Session()
        token = _token(web.get(base(server) + "/", timeout=10).text)
        own = base(server)
        cases = {
            "foreign origin": ({"Origin": "http://evil.example"}, {"content": "forged", "csrf": token}),
            "no origin": ({}, {"content": "forged", "csrf": token}),
            "no token": ({"Origin": own}, {"content": "forged"}),
            "wrong token": ({"Origin": own}, {"content": "forged", "csrf": "0" * 64}),
        }
        for case, (headers, form) in cases.items():
            response = web.post(url, data=form, headers=headers, allow_redirects=False, timeout=10)
            assert response.status_code == 403, case
        other = requests.post(url, data={"content": "forged", "csrf": token}, headers={"Origin": own}, timeout=10,
                              allow_redirects=False)  # a token without its browser's cookie
        assert other.status_code == 403
        assert [c for _, c in history(server.url, None, task["id"]) if "forged" in c] == []
        # The control: the real form from the real page is accepted.
        ok = web.post(url, data={"content": "genuine", "csrf": token}, headers={"Origin": own}, allow_redirects=False, timeout=10)
        assert ok.status_code == 303
        assert history(server.url, None, task["id"])[-1][1] == "genuine"
        # A page fetched under a name this server does not answer to (DNS rebinding) gets nothing.
        rebound = requests.get(base(server) + "/", headers={"Host": "attacker.example"}, timeout=10)
        assert rebound.status_code == 421 and "Rotate" not in rebound.text


def test_read_only_shows_no_actions_and_refuses_posts(backend_url, tmp_path, page):
    env = server_env(backend_url, tmp_path)
    with http_server(env) as server:
        task = agent(server.url, None, "tasks_create", title="Check the backups", type="mixed")
        agent(server.url, None, "tasks_status", id=task["id"], status="in_progress")
        agent(server.url, None, "tasks_result", id=task["id"], response="All fine", executor="claude", executor_type="claude")
    with http_server({**env, "READ_ONLY": "true"}) as server:
        before = history(server.url, None, task["id"])
        page.goto(f"{base(server)}/tasks/{task['id']}")
        expect(page.locator("h1 .title")).to_have_text("Check the backups")
        expect(page.locator("header .flag").first).to_have_text("read-only")
        assert page.locator('main form, button.approve, button.take, button.comment').count() == 0
        assert page.locator('header nav a[href="/new"]').count() == 0
        status = page.evaluate("""async () => {
            const csrf = document.querySelector('input[name=csrf]').value;
            const r = await fetch(location.pathname + '/approve', {method: 'POST', body: new URLSearchParams({csrf})});
            return r.status;
        }""")
        assert status == 403
        assert page.goto(base(server) + "/new").status == 403
        assert history(server.url, None, task["id"]) == before


# ---- server.py board ---------------------------------------------------------------------------


@contextmanager
def board_command(env: dict[str, str], *args: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        err = Path(tmp) / "stderr"
        with err.open("wb") as stderr:
            process = subprocess.Popen([sys.executable, str(SERVER), "board", "--port", str(port), *args], env=env,
                                       stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while f"http://127.0.0.1:{port}/" not in err.read_text() or "Uvicorn running" not in err.read_text():
                assert process.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            out, _ = process.communicate(timeout=10)
            assert out == b"", "stdout stays empty"


def test_server_py_board_serves_the_board_on_loopback_with_statistics(backend_url, tmp_path, page):
    env = server_env(backend_url, tmp_path)

    async def seed():
        async with stdio_session(env, client_name="seeder") as s:
            task = (await s.call_tool("tasks_create", {"title": "Write the changelog", "type": "mixed"})).structured_content
            await s.call_tool("tasks_status", {"id": task["id"], "status": "in_progress"})
            await s.call_tool("tasks_result", {"id": task["id"], "response": "Done", "executor": "claude", "executor_type": "claude",
                                               "model_name": "claude-sonnet", "tokens_input": 900, "tokens_output": 100, "cost_usd": 0.012})
            return task

    task = run_async(seed)
    with board_command(env) as url:
        page.goto(url + "/")
        expect(page.locator(f'.column[data-status="in_progress"] .card[data-task="{task["id"]}"] .title')).to_have_text("Write the changelog")
        page.click('header nav a[href="/stats"]')
        chart = page.locator("svg.chart").first
        expect(chart.locator("polyline")).to_have_count(5)
        expect(chart).to_contain_text("in progress 1")
        expect(page.locator("svg.chart").nth(1)).to_contain_text("claude-sonnet")
        expect(page.locator("svg.chart").nth(1)).to_contain_text("1,000")
        expect(page.locator("svg.chart").nth(2)).to_contain_text("$0.0120")


def _events(url: str, headers: dict[str, str], count: int) -> list[tuple[int, dict]]:
    """The first `count` change events of the board's SSE stream, read over raw HTTP."""
    import json

    out: list[tuple[int, dict]] = []
    with requests.get(url, headers={"Accept": "text/event-stream", **headers}, stream=True, timeout=10) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        seq = None
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("id:"):
                seq = int(line[3:].strip())
            elif line.startswith("data:") and seq is not None:
                out.append((seq, json.loads(line[5:])))
                seq = None
                if len(out) == count:
                    break
    return out


def test_the_event_stream_resumes_after_last_event_id_without_loss_or_repeat(backend_url, tmp_path):
    with http_server(server_env(backend_url, tmp_path)) as server:
        # The page names the stream from the feed's head when it was read (other tests' changes
        # may be in a shared database before it).
        stream = re.search(r'data-events="([^"]+)"', requests.get(base(server) + "/", timeout=10).text).group(1)
        ids = [agent(server.url, None, "tasks_create", title=f"Step {n}")["id"] for n in range(3)]
        first = _events(base(server) + stream.replace("&amp;", "&"), {}, 3)
        assert [e["task_id"] for _, e in first] == ids and [e["kind"] for _, e in first] == ["created"] * 3
        seqs = [s for s, _ in first]
        assert seqs == sorted(set(seqs))
        # A browser that reconnects sends the last id it saw: the stream goes on right after it.
        again = _events(base(server) + stream.replace("&amp;", "&"), {"Last-Event-ID": str(seqs[0])}, 2)
        assert [s for s, _ in again] == seqs[1:]


# ---- at a glance -------------------------------------------------------------------------------


def test_columns_are_in_claim_order_and_cards_show_due_date_blocker_and_holder(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        page.goto(base(server) + "/")
        # An empty board says what to do first; the tab has an icon.
        expect(page.locator(".first-steps")).to_contain_text("Create the first task")
        assert requests.get(base(server) + page.locator('link[rel="icon"]').get_attribute("href"), timeout=10).status_code == 200
        assert requests.get(base(server) + "/favicon.ico", timeout=10).headers["content-type"].startswith("image/svg+xml")
        old = agent(server.url, None, "tasks_create", title="Tidy the wiki", type="human_task")
        blocker = agent(server.url, None, "tasks_create", title="Order the parts", type="human_task", due_date="2026-12-31")
        urgent = agent(server.url, None, "tasks_create", title="Restore the backups", type="ai_task", priority="urgent",
                       depends_on=[blocker["id"]])
        held = agent(server.url, None, "tasks_create", title="Summarise the incident", type="ai_task")
        assert agent(server.url, None, "tasks_claim", assignee="claude-1", assignee_type="claude", type="ai_task")["task"]["id"] == held["id"]
        page.goto(base(server) + "/")
        expect(page.locator(".first-steps")).to_have_count(0)
        pending = page.locator('.column[data-status="pending"] .card')
        # The urgent task first (even though it is the newest), then the dated one, then the oldest.
        assert [int(c) for c in pending.evaluate_all("cs => cs.map(c => c.dataset.task)")] == [urgent["id"], blocker["id"], old["id"]]
        card = page.locator(f'.card[data-task="{urgent["id"]}"]')
        expect(card.locator(".blocked")).to_have_text(f"blocked by #{blocker['id']}")
        expect(card.locator(".badges")).to_contain_text("AI task")
        dated = page.locator(f'.card[data-task="{blocker["id"]}"] .due-on')
        expect(dated).to_contain_text("due 2026-12-31")
        assert "00:00" not in dated.text_content()
        expect(page.locator(f'.card[data-task="{held["id"]}"] .holder')).to_have_text("held by claude-1 (ai)")
        # Times in people's form, the exact time on hover.
        created = page.locator(f'.card[data-task="{old["id"]}"] .meta time')
        expect(created).to_have_text(re.compile(r"^(just now|\d+ min ago)$"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", created.get_attribute("title"))
        # The same words for a type on the form, the filter and the card.
        page.goto(base(server) + "/new")
        words = page.locator('select[name="type"] option').all_text_contents()
        assert words == ["human task", "AI task", "mixed"]
        page.goto(f"{base(server)}/tasks/{blocker['id']}")
        expect(page.locator("dl.facts")).to_contain_text("2026-12-31 (")
        assert "00:00:00" not in page.locator("dl.facts").text_content()


# ---- at any size -------------------------------------------------------------------------------


def _bulk(database_url: str, tmp_path: Path, sql: str, params: list[Any]) -> None:
    """One INSERT ... SELECT over 100,000 numbered rows (n), straight into the database: a task
    that has lived a long time, without 10,000 tool calls."""
    from config import load_config
    from infrastructure.database import Database

    config = load_config({"DATABASE_URL": database_url, "HOME": str(tmp_path), "PWD": str(tmp_path)})
    db = Database(config.database, config.database_source)
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    numbers = (f"(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM ({digits}) a, ({digits}) b, "
               f"({digits}) c, ({digits}) e, ({digits}) f) AS numbers")
    try:
        db.write(lambda tx: tx.execute(sql.replace("{numbers}", numbers), params))
    finally:
        db.close()


def test_the_page_of_a_task_with_ten_thousand_results_stays_small_and_pages_on(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        task = agent(server.url, None, "tasks_create", title="A long-running evaluation", type="ai_task")
        response = "The evaluation found nothing new. " * 100  # 3.4 KB, as a model's answer often is
        _bulk(backend_url, tmp_path, "INSERT INTO task_results (task_id, executor, executor_type, model_name, response, "
              "tokens_input, tokens_output, tokens_total, status) SELECT %s, 'mistral', 'ollama', 'mistral', %s, 40, 12, 52, "
              "'success' FROM {numbers} WHERE n < 10000", [task["id"], response])
        _bulk(backend_url, tmp_path, "INSERT INTO task_comments (task_id, author, author_type, comment_type, content) "
              "SELECT %s, 'mistral', 'ai', 'result', %s FROM {numbers} WHERE n < 10000", [task["id"], response])
        _bulk(backend_url, tmp_path, "INSERT INTO tasks (uuid, title, type, status, created_by, parent_task_id) "
              "SELECT CONCAT('sub-', n), CONCAT('Step ', n), 'ai_task', 'pending', 'seed', %s FROM {numbers} WHERE n < 2000"
              if backend_url.startswith("mysql") else
              "INSERT INTO tasks (uuid, title, type, status, created_by, parent_task_id) "
              "SELECT 'sub-' || n, 'Step ' || n, 'ai_task', 'pending', 'seed', %s FROM {numbers} WHERE n < 2000", [task["id"]])
        started = time.perf_counter()
        answer = requests.get(f"{base(server)}/tasks/{task['id']}", timeout=60)
        took = time.perf_counter() - started
        assert answer.status_code == 200
        assert len(answer.content) < 200_000, f"{len(answer.content):,} bytes"
        assert took < 10, took  # a bound against a runaway read, not a speed target (bench/ measures that)
        page.goto(f"{base(server)}/tasks/{task['id']}")
        results = page.locator("#results tbody tr")
        expect(results).to_have_count(20)
        newest = results.first.locator("td").first.text_content()
        more = page.locator('#results a.show-more')
        expect(more).to_contain_text("show 20 more (of 1000+ results)")
        more.click()
        expect(page.locator("#results tbody tr")).to_have_count(20)
        assert page.locator("#results tbody tr").first.locator("td").first.text_content() != newest
        expect(page.locator("#history .history li")).to_have_count(50)
        expect(page.locator("#subtasks li")).to_have_count(50)
        expect(page.locator("#subtasks a.show-more")).to_contain_text("of 1000+ subtasks")


def test_a_task_page_reads_itself_again_only_for_its_own_changes_and_swaps_only_what_differs(backend_url, tmp_path, page):
    with http_server(server_env(backend_url, tmp_path)) as server:
        mine = agent(server.url, None, "tasks_create", title="Write the runbook", description="Steps for the night shift")
        other = agent(server.url, None, "tasks_create", title="Unrelated work")
        page.goto(f"{base(server)}/tasks/{mine['id']}")
        expect(page.locator("#live-state")).to_have_text("live")
        page.evaluate("() => { document.querySelector('.description').__kept = true; }")
        agent(server.url, None, "tasks_comment", id=other["id"], content="Elsewhere.")
        time.sleep(2.5)  # the change arrived (the hub polls every 0.5 s) and was let pass
        assert page.evaluate("document.body.dataset.refreshed") is None
        agent(server.url, None, "tasks_comment", id=mine["id"], content="Added the rollback steps.")
        expect(page.locator(".history .content").first).to_have_text("Added the rollback steps.", timeout=10_000)
        assert page.evaluate("document.body.dataset.refreshed") is not None
        # The description did not change: the same element, not a copy.
        assert page.evaluate("document.querySelector('.description').__kept") is True
