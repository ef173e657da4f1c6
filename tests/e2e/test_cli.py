"""The command line: --help names every command, and `call TOOL JSON` runs one tool
in-process and prints its result (the spec's "Tools testen" from a shell)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import server_env
from tests.support.mcp_stdio import SERVER


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), *args], env=env, capture_output=True, text=True, timeout=120)


def test_help_lists_serve_as_the_default_and_every_command(tmp_path):
    done = run(server_env(None, tmp_path), "--help")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for command in ("serve", "init-db", "doctor", "call TOOL [JSON]"):
        assert command in text, command
    serve_line = next(line for line in text.splitlines() if line.strip().startswith("serve "))
    assert "(default)" in serve_line, serve_line
    for option in ("--transport {stdio,http}", "--host", "--port", "--stateless", "--read-only"):
        assert option in text, option
    serve = run(server_env(None, tmp_path), "serve", "--help")
    assert serve.returncode == 0 and "--transport" in serve.stdout and "--stateless" in serve.stdout


def test_call_runs_one_tool_and_prints_its_result_as_json(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)
    created = run(env, "call", "tasks_create", '{"title": "Test-Task", "type": "ai_task"}')
    assert created.returncode == 0, created.stderr
    task = json.loads(created.stdout)
    assert (task["title"], task["status"]) == ("Test-Task", "pending")
    assert re.fullmatch(r"mcp-tasks-cli(#[0-9a-f]{4})?", task["created_by"]), task["created_by"]  # stateless: the name alone
    listed = run(env, "call", "tasks_list", '{"status": "pending"}')
    assert [t["id"] for t in json.loads(listed.stdout)["tasks"]] == [task["id"]]
    stats = run(env, "call", "tasks_statistics")  # JSON is optional
    assert json.loads(stats.stdout)["total"] == 1


def test_call_failures_say_what_was_wrong_and_exit_non_zero(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)
    bad_json = run(env, "call", "tasks_list", "{status: pending}")
    assert bad_json.returncode == 2 and "not JSON" in bad_json.stderr and bad_json.stdout == ""
    refused = run(env, "call", "tasks_get", '{"id": 999}')
    assert refused.returncode == 1 and refused.stdout.startswith("[not_found] ") and "999 does not exist" in refused.stdout
    unknown = run(env, "call", "no_such_tool")
    assert unknown.returncode == 1 and "no_such_tool" in unknown.stdout
    read_only = run({**env, "READ_ONLY": "true"}, "call", "tasks_create", '{"title": "x"}')
    assert read_only.returncode == 1


def test_serve_options_belong_to_serve(tmp_path):
    done = run(server_env(None, tmp_path), "--port", "8000", "doctor")
    assert done.returncode == 2 and "belong to serve" in done.stderr
    bad_port = run(server_env(None, tmp_path), "--transport", "http", "--port", "70000")
    assert bad_port.returncode == 2 and "not a TCP port" in bad_port.stderr
