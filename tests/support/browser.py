"""A real browser for the board's tests: Debian's chromium driven by Playwright.

Playwright's own browser download (`playwright install`) is never used: the tests launch the
system's /usr/bin/chromium (package `chromium`). When it is missing and we are root (CI, a
fresh machine), the session installs it with apt-get; otherwise the tests fail with the
exact command to run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "sudo apt-get update && sudo apt-get install -y chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], env=env, check=False, stdout=subprocess.DEVNULL, timeout=600)
        done = subprocess.run(["apt-get", "install", "-y", "chromium"], env=env, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            pytest.fail(f"apt-get install -y chromium failed ({done.returncode}):\n{done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail(f"The board's browser tests need Debian's chromium at {CHROMIUM}. Install it: {INSTALL}")
    return CHROMIUM


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(ensure_chromium()), args=ARGS)


_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcp-client")


def run_async(fn: Callable[[], Awaitable[Any]], timeout: float = 120) -> Any:
    """Run an async MCP client call from a sync browser test: Playwright's sync API owns this
    thread's event loop, so the client runs on a thread of its own."""
    import anyio

    return _worker.submit(anyio.run, fn).result(timeout=timeout)
