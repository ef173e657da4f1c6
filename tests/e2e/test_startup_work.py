"""What a cold start leaves for later: every MCP client launch pays for all the work done
before tools/list is answered (bench/RESULTS.md "Start-up after issues 14 and 16").

The result models' validators and the strict argument models are built on the first call
that needs them, not at start-up; difflib (for "did you mean") is imported on the first
refusal that names an unknown argument. Each check runs in a fresh interpreter: pydantic
keeps a model's built state on the class, so another test in this process would have
built them already. The calls afterwards show the lazy parts are still there when needed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import asyncio, json, sys
from mcp import Client
from config import load_config
from server import build_server
from tools.common import ResultModel
from transports.sdk_private import tool_manager


def result_models():
    seen, todo = [], list(ResultModel.__subclasses__())
    while todo:
        model = todo.pop()
        seen.append(model)
        todo.extend(model.__subclasses__())
    return seen


def built():
    return sorted(m.__name__ for m in result_models() if m.__pydantic_complete__)


def strict(mcp):
    return sorted(t.name for t in tool_manager(mcp).list_tools() if t.fn_metadata.arg_model.model_config.get("strict"))


async def main():
    mcp = build_server(load_config({"DATABASE_URL": sys.argv[1], "HOME": sys.argv[2], "MCP_TASKS_TOOLS": "all"}))
    listed = await mcp.list_tools()
    report = {"tools": len(listed), "models": len(result_models()), "built_at_start": built(),
              "strict_at_start": strict(mcp), "difflib_at_start": "difflib" in sys.modules}
    async with Client(mcp) as client:
        stats = await client.call_tool("tasks_statistics", {})
        refused = await client.call_tool("tasks_get", {"id": "5", "idd": 1})
    report.update(stats_total=stats.structured_content["total"], refused=refused.content[0].text,
                  built_after=built(), strict_after=strict(mcp))
    print(json.dumps(report))


asyncio.run(main())
"""


def test_start_up_builds_no_result_model_and_no_strict_argument_model(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'tasks.db'}", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["tools"] >= 15 and report["models"] >= 20
    assert report["built_at_start"] == []
    assert report["strict_at_start"] == []
    assert report["difflib_at_start"] is False
    # Built when first needed, and doing their job then.
    assert report["stats_total"] == 0
    assert "Statistics" in report["built_after"]
    assert report["strict_after"] == ["tasks_get", "tasks_statistics"]
    assert "unknown argument 'idd' for tasks_get; did you mean 'id'?" in report["refused"]
    assert 'id="5" is not accepted by tasks_get' in report["refused"]  # strict: the string "5" is not the id 5
