"""Screenshots of the board for the README: docs/board.png, docs/task.png, docs/stats.png.

    .venv/bin/python docs/screenshots.py

Seeds a scratch SQLite database through the tools (in-process MCP client), in a few steps
a few seconds apart so the status chart has a shape, starts `server.py board` on it, and
photographs the pages in headless Debian chromium (/usr/bin/chromium) driven by Playwright.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STEP_SECONDS = 8
DUE = {"Review the Q3 security audit findings": {"due_date": "2026-12-09"},
       "Design the new settings page": {"due_date": "2026-12-18"}}


def seed(url: str) -> int:
    import anyio
    from mcp import Client
    from mcp.types import Implementation

    from config import load_config
    from server import build_server
    from tests.support.fake_ollama import FakeOllama, Succeed

    # A stand-in for Ollama (tests/support), so tasks_execute really runs and leaves its
    # tasks as it leaves them: in progress, with a result, waiting for review.
    ollama = FakeOllama(behaviour=Succeed(chunks=("Summary: ", "three themes stand out."), prompt_eval_count=6_100,
                                          eval_count=1_450))
    ollama.__enter__()
    config = load_config({"DATABASE_URL": url, "HOME": os.environ.get("HOME", "/tmp"), "OLLAMA_HOST": ollama.url})

    async def run() -> int:
        async def call(client, name, **args):
            result = await client.call_tool(name, args)
            assert not result.is_error, result.content
            return result.structured_content

        async with Client(build_server(config), client_info=Implementation(name="claude-code", version="1")) as agent:
            ids = {}
            for title, kind, prio, labels in [
                ("Migrate the billing service to the new queue", "ai_task", "high", ["backend"]),
                ("Review the Q3 security audit findings", "human_task", "urgent", ["security"]),
                ("Summarise customer feedback from October", "ai_task", "normal", ["research"]),
                ("Write release notes for 2.4", "mixed", "normal", ["docs"]),
                ("Fix flaky test in checkout flow", "ai_task", "high", ["backend", "tests"]),
                ("Call the payment provider about fees", "human_task", "normal", []),
                ("Translate onboarding emails to German", "ai_task", "low", ["i18n"]),
                ("Update the dependency lock files", "ai_task", "normal", ["chore"]),
                ("Design the new settings page", "human_task", "high", ["design"]),
                ("Draft the incident report for the outage", "mixed", "urgent", ["ops"]),
            ]:
                ids[title] = (await call(agent, "tasks_create", title=title, type=kind, priority=prio, labels=labels,
                                         description=f"{title}.\n\nAcceptance: reviewed by a person before it is closed.",
                                         **DUE.get(title, {})))["id"]
            # A blocked task (its card says by what); at the end, one an agent holds under a lease.
            await call(agent, "tasks_update", id=ids["Call the payment provider about fees"],
                       depends_on=[ids["Review the Q3 security audit findings"]])

            await anyio.sleep(STEP_SECONDS)
            work = [
                ("Migrate the billing service to the new queue", "claude-sonnet-4", "claude", 18_400, 3_900, 0.1137, "completed"),
                ("Fix flaky test in checkout flow", "claude-sonnet-4", "claude", 9_200, 1_700, 0.0531, "completed"),
                ("Update the dependency lock files", "mistral", "ollama", 2_300, 800, 0.0, "failed"),
            ]
            for title, model, executor_type, tin, tout, cost, end in work:
                await call(agent, "tasks_status", id=ids[title], status="in_progress")
                await anyio.sleep(STEP_SECONDS / len(work))
                await call(agent, "tasks_result", id=ids[title], response=f"Done: {title.lower()}.", executor=model,
                           executor_type=executor_type, model_name=model, tokens_input=tin, tokens_output=tout, cost_usd=cost,
                           duration_ms=4_000 + tin // 3)
                await call(agent, "tasks_status", id=ids[title], status=end)
            for title in ("Summarise customer feedback from October", "Draft the incident report for the outage"):
                await call(agent, "tasks_execute", id=ids[title])
                await anyio.sleep(1)
            await call(agent, "tasks_status", id=ids["Translate onboarding emails to German"], status="cancelled")
            await call(agent, "tasks_comment", id=ids["Draft the incident report for the outage"],
                       content="Timeline cross-checked against the pager log; the root cause section needs a person's eye.")
            await call(agent, "tasks_create", title="Rotate the staging API keys", type="ai_task", priority="high", labels=["ops"])
            await call(agent, "tasks_claim", assignee="claude-code", assignee_type="claude", type="ai_task")
            return ids["Draft the incident report for the outage"]

    try:
        return anyio.run(run)
    finally:
        ollama.__exit__(None, None, None)


def main() -> int:
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        review = seed(url)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {"HOME": tmp, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": url, "MCP_TASKS_ACTOR": "dana"}
        board = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "board", "--port", str(port)], env=env,
                                 stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1360, "height": 760}, device_scale_factor=1)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#live-state:not([hidden])")
                page.screenshot(path=str(ROOT / "docs" / "board.png"))
                page.goto(f"http://127.0.0.1:{port}/tasks/{review}")
                page.wait_for_selector("#live-state:not([hidden])")
                page.screenshot(path=str(ROOT / "docs" / "task.png"), full_page=True)
                page.goto(f"http://127.0.0.1:{port}/stats")
                page.screenshot(path=str(ROOT / "docs" / "stats.png"), full_page=True)
                browser.close()
        finally:
            board.terminate()
            board.wait(10)
    print("wrote docs/board.png, docs/task.png, docs/stats.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
