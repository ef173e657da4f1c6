"""Issue 11, through the server as a subprocess over HTTP with two sessions on both backends:
while one session sends the worst contract inputs (a catastrophic regex contract checked on a
30-character file, a "billion laughs" YAML to contracts_validate), another session's
tasks_list answers within 2 s, and the bad calls end within their bounds. Before RE2 and the
YAML bounds, the regex held the GIL for hours and the YAML for 20-30 s and over 2 GB.
"""
from __future__ import annotations

import time

import anyio
import pytest

from tests.conftest import server_env
from tests.integration.test_contract_bounds import BILLION_LAUGHS
from tests.support.mcp_http import http_server, http_session

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

CATASTROPHIC = """\
contract:
  name: catastrophic
  version: "1"
  rules:
    - id: nested-plus
      check_type: forbidden_pattern
      severity: major
      message: exponential in a backtracking engine
      regex: true
      patterns: ["(a+)+$", "(x+x+)+y"]
"""
BOUND_SECONDS = 5  # QUALITY_MAX_SECONDS given to the server: the bad calls must end within it


async def test_another_session_answers_while_one_sends_the_worst_contract_inputs(backend_url, tmp_path):
    contracts, project = tmp_path / "contracts", tmp_path / "project"
    contracts.mkdir()
    project.mkdir()
    (contracts / "catastrophic.yaml").write_text(CATASTROPHIC)
    (contracts / "lol.yaml").write_text(BILLION_LAUGHS)  # loaded on every quality call: a load error, fast
    (project / "short.txt").write_text("a" * 30 + "!")
    (project / "long.txt").write_text("x" * 1_000_000)
    env = server_env(
        backend_url, tmp_path, CONTRACTS_DIR=str(contracts), QUALITY_ALLOWED_PATHS=str(project),
        QUALITY_MAX_SECONDS=str(BOUND_SECONDS),
    )
    with http_server(env) as server:
        async with http_session(server.url, None) as calm, http_session(server.url, None) as hostile:
            await calm.call_tool("tasks_create", {"title": "still here"})
            results: dict[str, object] = {}
            latencies: list[float] = []

            async def attack() -> None:
                started = time.monotonic()
                with anyio.fail_after(BOUND_SECONDS + 5):
                    results["check"] = await hostile.call_tool("quality_check", {"path": str(project), "contract": "catastrophic"})
                    results["validate"] = await hostile.call_tool("contracts_validate", {"yaml": BILLION_LAUGHS})
                    results["validate_file"] = await hostile.call_tool("contracts_validate", {"name": "lol"})
                results["seconds"] = time.monotonic() - started

            async def meanwhile() -> None:
                for _ in range(5):
                    started = time.monotonic()
                    with anyio.fail_after(2):
                        listed = await calm.call_tool("tasks_list", {})
                    latencies.append(time.monotonic() - started)
                    assert not listed.is_error
                    await anyio.sleep(0.1)

            async with anyio.create_task_group() as group:
                group.start_soon(attack)
                await anyio.sleep(0.05)
                group.start_soon(meanwhile)

    assert max(latencies) < 2.0, latencies
    assert results["seconds"] < BOUND_SECONDS + 5
    check = results["check"].structured_content
    assert check["files_scanned"] == 2 and check["total_violations"] == 0
    for key in ("validate", "validate_file"):
        validation = results[key].structured_content
        assert validation["valid"] is False
        assert "CONTRACT_MAX_NODES" in validation["errors"][0]["message"]
        assert len(str(validation)) < 2000
