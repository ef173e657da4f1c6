"""The quality tools through the SDK's real client (in-process), on both backends: the check
recorded on a task, the completion gate both ways, schemas, and refusals as tool errors.
"""
from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from mcp import Client

from server import build_server
from tests.conftest import with_config

pytestmark = pytest.mark.anyio

SHIPPED = Path(__file__).resolve().parents[2] / "contracts"
AWS_KEY = "AKIA" + "M4PL" * 4  # assembled, so this file holds no key


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "settings.py").write_text(f"KEY = '{AWS_KEY}'\n")
    (root / "app" / "main.py").write_text("print('hello')\n")
    return root


@pytest.fixture
def server(config, project, tmp_path):
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "broken.yaml").write_text("contract:\n  name: broken\n  version: 2\n  rules: []\n")
    return build_server(with_config(config, contracts_dirs=(SHIPPED, contracts), quality_allowed_paths=(project,)))


async def test_a_recorded_check_with_critical_violations_blocks_completion_until_fixed(server, project):
    async with Client(server) as client:
        task = (await client.call_tool("tasks_create", {"title": "Add settings"})).structured_content["id"]
        await client.call_tool("tasks_status", {"id": task, "status": "in_progress"})

        check = await client.call_tool("quality_check", {"path": str(project), "task_id": task})
        assert not check.is_error
        assert check.structured_content["verdict"] == "rejected"
        assert check.structured_content["critical_rules"] == ["access-token"]
        assert AWS_KEY not in str(check.content) + str(check.structured_content)

        history = (await client.call_tool("tasks_get", {"id": task})).structured_content["comments"]
        [recorded] = [c for c in history if c["comment_type"] == "quality_check"]
        assert recorded["id"] == check.structured_content["task_comment_id"]
        assert recorded["metadata"] == {
            "verdict": "rejected",
            "counts": {"critical": 1, "major": 0, "minor": 0, "info": 0},
            "contracts": ["code-hygiene@1.0", "php-layered-architecture@1.0", "python-layered@1.0"],
            "critical_rules": ["access-token"],
            "path": str(project),
        }
        assert recorded["content"].startswith("Quality check rejected: 1 critical")
        assert AWS_KEY not in recorded["content"]

        refused = await client.call_tool("tasks_status", {"id": task, "status": "completed"})
        assert refused.is_error and "access-token" in refused.content[0].text

        (project / "app" / "settings.py").write_text("import os\nKEY = os.environ['KEY']\n")
        again = await client.call_tool("quality_check", {"path": "app", "task_id": task})
        assert again.structured_content["verdict"] == "approved"
        done = await client.call_tool("tasks_status", {"id": task, "status": "completed"})
        assert not done.is_error and done.structured_content["status"] == "completed"


async def test_quality_results_match_their_output_schemas(server, project):
    from tests.e2e.test_tool_contract import typed_schemas

    typed = typed_schemas(server)
    async with Client(server) as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        calls = {
            "contracts_list": await client.call_tool("contracts_list", {"status": "active", "search": "hygiene"}),
            "contracts_validate": await client.call_tool("contracts_validate", {"yaml": "contract: {name: Bad}"}),
            "quality_check": await client.call_tool("quality_check", {"path": ".", "format": "markdown", "max_violations": 1}),
        }
    for name, result in calls.items():
        assert not result.is_error, (name, result.content)
        jsonschema.validate(result.structured_content, schemas[name])
        jsonschema.validate(result.structured_content, typed[name])
    assert [c["name"] for c in calls["contracts_list"].structured_content["contracts"]] == ["code-hygiene"]
    assert calls["quality_check"].content[0].text.startswith("# Quality check: rejected")
    errors = calls["contracts_validate"].structured_content["errors"]
    assert [e["location"] for e in errors] == ["contract.name", "contract.version", "contract.rules"]


async def test_a_broken_contract_is_listed_as_a_load_error_and_validated_by_name(server):
    async with Client(server) as client:
        listing = (await client.call_tool("contracts_list", {})).structured_content
        assert listing["total"] == 3
        assert [(Path(e["file"]).name, e["line"]) for e in listing["load_errors"]] == [("broken.yaml", 3), ("broken.yaml", 4)]
        broken = (await client.call_tool("contracts_validate", {"name": "broken"})).structured_content
        assert broken["valid"] is False and [e["location"] for e in broken["errors"]] == ["contract.version", "contract.rules"]
        good = (await client.call_tool("contracts_validate", {"name": "python-layered"})).structured_content
        assert good["valid"] is True and good["contract"]["rules"] == 4


async def test_quality_refusals_are_tool_errors_that_say_what_to_do(server, project):
    async with Client(server) as client:
        outside = await client.call_tool("quality_check", {"path": "../.."})
        unknown = await client.call_tool("quality_check", {"path": ".", "contract": "no-such"})
        both = await client.call_tool("contracts_validate", {"name": "x", "yaml": "y"})
        no_task = await client.call_tool("quality_check", {"path": ".", "task_id": 999999})
    assert outside.is_error and "QUALITY_ALLOWED_PATHS" in outside.content[0].text and str(project) in outside.content[0].text
    assert outside.content[0].text.startswith("[forbidden] ") and outside.meta["mcp-tasks/error"]["code"] == "forbidden"
    assert unknown.content[0].text.startswith("[not_found] ")
    assert unknown.is_error and "contracts_list" in unknown.content[0].text
    assert both.is_error and "exactly one of name" in both.content[0].text
    assert no_task.is_error and "999999" in no_task.content[0].text
