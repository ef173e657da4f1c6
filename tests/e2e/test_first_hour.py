"""The first hour of a new user, as they meet it: `python server.py` from a shell, the
README's examples. Each test is one trap found by trying it (issue 23)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import server_env
from tests.support.mcp_stdio import SERVER

ROOT = Path(__file__).resolve().parents[2]
KEY_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def server(env: dict[str, str], *args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_a_key_too_short_is_refused_and_the_hint_to_make_one_is_shown_whole(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path, MCP_API_KEYS="alice:secret", DB_PASSWORD="secret")
    done = server(env, "--transport", "http", "--port", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert "shorter than 16 characters" in done.stderr
    assert KEY_HINT in done.stderr, done.stderr  # not "import ***s; print(***s.token_urlsafe(32))"


def test_call_with_arguments_that_are_not_an_object_exits_2_with_one_sentence(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)
    done = server(env, "call", "tasks_get", "1", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "must be a JSON object" in done.stderr and """call tasks_get '{"id": 1}'""" in done.stderr
    assert done.stdout == ""


def test_call_piped_into_head_ends_quietly(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path)
    created = server(env, "call", "tasks_create", json.dumps({"title": "Long", "description": "x" * 65_000}), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    task_id = json.loads(created.stdout)["id"]
    # What `server.py call tasks_get N | head -1` does: read a line, close the pipe. The answer
    # (65 KB and more) does not fit the pipe, so the server is still writing when it closes.
    process = subprocess.Popen([sys.executable, str(SERVER), "call", "tasks_get", json.dumps({"id": task_id})], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"{"
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()


def test_messages_in_a_clone_name_python_server_py(tmp_path):
    # A read-only server and no database file yet: the message says what to run first.
    env = server_env(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path, READ_ONLY="true")
    done = server(env, "call", "tasks_list", cwd=tmp_path)
    assert done.returncode != 0
    assert "python server.py init-db" in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_readme_inspector_examples_use_npx_y_and_say_header_needs_node_22():
    readme = (ROOT / "README.md").read_text()
    runs = re.findall(r"^npx\b.*inspector.*$", readme, re.M)
    assert runs and all(line.startswith("npx -y @modelcontextprotocol/inspector") for line in runs), runs
    assert re.search(r"`--header` needs Node\.js 22 or newer", readme)
