"""The package as a user gets it: a wheel installed into a fresh virtualenv outside the
clone, run as `mcp-tasks` from another directory; the Claude Desktop bundle unpacked and
started; Claude Code's `claude mcp list` connecting to the installed command.

The wheel and the virtualenv are built once per module (about half a minute: pip fetches
setuptools and the dependencies, from its cache after the first run). The npm tools
(@anthropic-ai/mcpb, @anthropic-ai/claude-code) are installed once into a cache directory.
Without npm those tests skip, unless MCP_TASKS_REQUIRE_NPM=1 (CI), where they fail.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from server import VERSION
from tests.conftest import MARIADB_URL, REQUIRE_MARIADB, _admin_connection

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_NPM = os.environ.get("MCP_TASKS_REQUIRE_NPM") == "1"
CLAUDE_CODE_PACKAGE = "@anthropic-ai/claude-code@2.1.332"
PACKAGES_OUTSIDE = {"tests", "bench", "docs", "scripts", ".venv", "build", "dist"}

_spec = importlib.util.spec_from_file_location("build_mcpb", ROOT / "scripts" / "build_mcpb.py")
build_mcpb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_mcpb)


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def need_npm() -> None:
    if shutil.which("npm") is None:
        if REQUIRE_NPM:
            pytest.fail("npm is not installed; CI needs Node.js for the bundle and Claude Code tests")
        pytest.skip("npm is not installed (Node.js is needed for the mcpb and claude CLIs)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_mcpb.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv outside the clone with only the wheel (and its dependencies) in it; its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    run(bindir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)
    return bindir


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """What a client gives the command: a scratch home, PATH, nothing from this clone."""
    return {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra}


async def stdio(command: str, args: list[str], env: dict[str, str], cwd: Path):
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            created = await session.call_tool("tasks_create", {"title": "Installed and working"})
    assert not created.is_error, created.content
    return init, tools, created.structured_content


def test_the_wheel_holds_the_code_schema_and_contracts_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = run("git", "ls-files", cwd=ROOT).stdout.split()
    shipped = [
        f for f in tracked
        if f.split("/")[0] not in PACKAGES_OUTSIDE and (f.endswith(".py") or f.startswith(("sql/", "contracts/")))
        or f == "tools/output_schemas.json" or f.startswith("web/static/")
    ]
    missing = [f for f in shipped if f"mcp_tasks/{f}" not in names]
    assert not missing, f"not in the wheel (add the package or pattern to pyproject.toml): {missing}"
    assert {n.split("/")[0] for n in names} == {"mcp_tasks", f"mcp_tasks-{VERSION}.dist-info"}
    assert not [n for n in names if re.match(r"mcp_tasks/(tests|bench|docs|\.venv)/", n)]
    assert f"mcp_tasks-{VERSION}.dist-info/licenses/LICENSE" in names
    # The license as an SPDX expression (the table form stops building after 2027-02-18).
    metadata = zipfile.ZipFile(wheel).read(f"mcp_tasks-{VERSION}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata


def test_uvx_from_a_clone_builds_once_not_at_every_start(tmp_path):
    """`uvx --from . mcp-tasks` builds the project on its first start; the build's own output
    in the tree (build/, *.egg-info) must not count as a change, or every start rebuilds."""
    uvx = Path(sys.executable).parent / "uvx"
    if not uvx.exists():
        pytest.fail("uvx is missing: .venv/bin/pip install -e '.[test]' installs uv")
    clone = tmp_path / "clone"
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    clone.mkdir()
    subprocess.run(["tar", "-x", "-C", str(clone)], input=archive, check=True, timeout=60)
    # This machine's environment (how it reaches the package index), a scratch cache.
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_PROGRESS": "1"}
    first = run(uvx, "--from", ".", "mcp-tasks", "--version", cwd=clone, env=env)
    assert VERSION in first.stdout and "Built mcp-tasks" in first.stderr, first.stderr
    assert (clone / "build").exists() or list(clone.glob("*.egg-info"))  # the build did write into the tree
    again = run(uvx, "--from", ".", "mcp-tasks", "--version", cwd=clone, env=env)
    assert VERSION in again.stdout and "Built" not in again.stderr, again.stderr


def test_one_version_everywhere(installed, tmp_path):
    pyproject = (ROOT / "pyproject.toml").read_text().split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", pyproject, re.M) and re.search(r'^dynamic = \["version"\]', pyproject, re.M)
    assert run(installed / "mcp-tasks", "--version", cwd=tmp_path).stdout.strip() == f"mcp-tasks {VERSION}"
    metadata = run(installed / "python", "-c", "import importlib.metadata as m; print(m.version('mcp-tasks'))", cwd=tmp_path)
    assert metadata.stdout.strip() == VERSION
    assert json.loads((ROOT / "manifest.json").read_text())["version"] == VERSION
    assert re.search(rf"^## \[?{re.escape(VERSION)}\]?", (ROOT / "CHANGELOG.md").read_text(), re.M), "CHANGELOG has no entry"


def test_installed_messages_name_the_mcp_tasks_command(installed, tmp_path):
    # A read-only server and no database file yet: the message says what to run, as installed.
    env = user_env(tmp_path / "home", DATABASE_URL=f"sqlite:///{tmp_path / 'missing.db'}", READ_ONLY="true")
    done = subprocess.run([str(installed / "mcp-tasks"), "call", "tasks_list"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "`mcp-tasks init-db`" in done.stdout + done.stderr and "server.py" not in done.stdout + done.stderr


@pytest.mark.anyio
async def test_installed_command_serves_on_sqlite_from_another_directory(installed, tmp_path):
    home, workdir = tmp_path / "home", tmp_path / "elsewhere"
    workdir.mkdir()
    init, tools, created = await stdio(str(installed / "mcp-tasks"), [], user_env(home), workdir)
    assert (init.server_info.name, init.server_info.version) == ("mcp-tasks", VERSION)
    assert {"tasks_create", "tasks_claim", "quality_check"} <= {t.name for t in tools.tools}
    assert created["id"] == 1 and created["status"] == "pending"
    assert (home / "data" / "mcp-tasks" / "tasks.db").is_file()  # migrations found inside the package
    assert not list(workdir.iterdir())  # nothing written where the client started it
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    ours = {"domain", "tools", "config.py", "server.py", "infrastructure", "validators", "sql", "contracts"}
    assert not ours & {p.name for p in site.iterdir()}, "a module of ours is top-level in site-packages"


def test_installed_command_reads_env_from_the_user_config_dir_and_finds_its_contracts(installed, tmp_path):
    home = tmp_path / "home"
    (home / "config" / "mcp-tasks").mkdir(parents=True)
    db = tmp_path / "from-dotenv.db"
    (home / "config" / "mcp-tasks" / ".env").write_text(f"DATABASE_URL=sqlite:///{db}\nOLLAMA_HOST=http://127.0.0.1:9\n")
    (tmp_path / ".env").write_text("DATABASE_URL=mysql://web@db:3306/not_ours\n")  # a project's own .env: ignored
    done = subprocess.run([installed / "mcp-tasks", "doctor"], capture_output=True, text=True, env=user_env(home), cwd=tmp_path)
    assert f"OK   database: SQLite file {db}" in done.stdout, done.stdout + done.stderr
    assert re.search(r"OK   contracts: [1-9]\d* loaded from .*site-packages/mcp_tasks/contracts", done.stdout), done.stdout


def test_installed_command_initialises_and_uses_mariadb(installed, tmp_path):
    import pymysql

    try:
        admin = _admin_connection()
    except pymysql.err.MySQLError as exc:
        (pytest.fail if REQUIRE_MARIADB else pytest.skip)(f"MariaDB at {MARIADB_URL} cannot be reached ({exc})")
    name = f"mcp_tasks_pkg{os.getpid()}_{secrets.token_hex(3)}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    env = user_env(tmp_path / "home", DATABASE_URL=f"{MARIADB_URL.rsplit('/', 1)[0]}/{name}")
    try:
        first = run(installed / "mcp-tasks", "init-db", env=env, cwd=tmp_path).stdout
        assert "applied 0001" in first and "0005" in first, first
        assert "schema already up to date" in run(installed / "mcp-tasks", "init-db", env=env, cwd=tmp_path).stdout
        created = json.loads(run(installed / "mcp-tasks", "call", "tasks_create", '{"title": "On MariaDB"}', env=env, cwd=tmp_path).stdout)
        listed = json.loads(run(installed / "mcp-tasks", "call", "tasks_list", env=env, cwd=tmp_path).stdout)
        assert [t["id"] for t in listed["tasks"]] == [created["id"]]
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_claude_code_connects_to_the_installed_command(installed, tmp_path):
    need_npm()
    claude = build_mcpb.npm_tool(CLAUDE_CODE_PACKAGE, "claude")
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    env = user_env(home, DISABLE_AUTOUPDATER="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    run(claude, "mcp", "add", "mcp-tasks", "--", installed / "mcp-tasks", env=env, cwd=project)
    listed = run(claude, "mcp", "list", env=env, cwd=project).stdout
    line = next((line for line in listed.splitlines() if line.startswith("mcp-tasks:")), "")
    assert "Connected" in line and str(installed / "mcp-tasks") in line, listed

    # The README's team .mcp.json: no machine path, the command found on PATH, the URL from each person's env.
    team = tmp_path / "team-project"
    team.mkdir()
    (team / ".mcp.json").write_text(json.dumps({"mcpServers": {"mcp-tasks": {
        "command": "mcp-tasks", "args": [], "env": {"DATABASE_URL": "${MCP_TASKS_DATABASE_URL:-}"}}}}))
    settings = json.loads((home / ".claude.json").read_text())  # approve it, as answering claude's prompt would
    settings.setdefault("projects", {})[str(team)] = {"enabledMcpjsonServers": ["mcp-tasks"], "hasTrustDialogAccepted": True}
    (home / ".claude.json").write_text(json.dumps(settings))
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    listed = run(claude, "mcp", "list", env=env, cwd=team).stdout
    assert re.search(r"^mcp-tasks: mcp-tasks .*Connected", listed, re.M), listed


def test_manifest_validates():
    need_npm()
    mcpb = build_mcpb.npm_tool(build_mcpb.MCPB_PACKAGE, "mcpb")
    assert "passes" in run(mcpb, "validate", ROOT / "manifest.json").stdout


@pytest.mark.anyio
async def test_packed_bundle_unpacks_and_answers_initialize(wheel, tmp_path):
    need_npm()
    mcpb = build_mcpb.npm_tool(build_mcpb.MCPB_PACKAGE, "mcpb")
    build_mcpb.stage_bundle(wheel, tmp_path / "stage")
    bundle = build_mcpb.pack(tmp_path / "stage", tmp_path, mcpb)
    unpacked = tmp_path / "installed-bundle"
    zipfile.ZipFile(bundle).extractall(unpacked)
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["compatibility"]["platforms"] == [sys.platform]
    assert (unpacked / "LICENSE").is_file()

    # What Claude Desktop does: fill in ${__dirname} and the user_config defaults, start mcp_config.
    config = manifest["server"]["mcp_config"]
    values = {"__dirname": str(unpacked), **{f"user_config.{k}": str(v.get("default", "")) for k, v in manifest["user_config"].items()}}

    def fill(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)

    home = tmp_path / "home"
    env = {**user_env(home), **{k: fill(v) for k, v in config["env"].items()}}
    # The base interpreter with -S: no site-packages, so every dependency must come from the bundle's lib.
    python = getattr(sys, "_base_executable", sys.executable)
    init, tools, created = await stdio(python, ["-S", *map(fill, config["args"])], env, tmp_path)
    assert (init.server_info.name, init.server_info.version) == ("mcp-tasks", VERSION)
    assert tools.tools and created["id"] == 1
    assert (home / "data" / "mcp-tasks" / "tasks.db").is_file()
