"""A worker agent's transcript, replayed through the MCP Inspector CLI (issue 26): the leaner
descriptions, the core profile and the compact answers still carry a whole session, from
tools/list through claim, quality check and result to completion, in a TypeScript client.

About 100 s (a fresh npx, server and call per step). Needs npm: skipped without it, unless
MCP_TASKS_REQUIRE_NPM=1 (CI), where it fails instead.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from inspector_replay import replay  # noqa: E402


def test_a_worker_transcript_replays_through_the_inspector_on_the_core_profile(tmp_path):
    if shutil.which("npx") is None:
        if os.environ.get("MCP_TASKS_REQUIRE_NPM") == "1":
            pytest.fail("npx is not installed; CI needs Node.js for the Inspector")
        pytest.skip("npx is not installed (Node.js is needed for the MCP Inspector)")
    lines = replay(ROOT / "tests" / "support" / "worker_transcript.json", tmp_path)
    print("\n" + "\n".join(lines))
    assert len(lines) == 12
    assert "tools/list: 7 tools" in lines[2] and "refused as expected" in lines[-1]
