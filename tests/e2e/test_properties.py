"""Property test over every tool's arguments, on SQLite, through the SDK's real client
(in-process). Hypothesis generates sequences of tool calls with valid-looking and wild
arguments: ids that exist and ids that do not, invalid statuses, huge and odd strings,
None, wrong types, missing and unexpected parameters. After every call:

- an error is an `isError` result with a message of its own: the SDK's bare
  "Error executing tool X" means the tool raised something unexpected (a crash);
- the SQLite file satisfies tests/support/task_invariants.py: statuses valid, completed_at
  set if and only if completed, no orphan rows, history for every change, and no subtask
  pending, in_progress or failed under a completed parent.

Each example runs on a fresh copy of a migrated SQLite file, with its own server and
client; the run is derandomized so CI sees the same examples every time.
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from config import load_config
from domain.models import ActorType, TaskStatus, TaskType
from infrastructure.database import Database
from infrastructure.task_repository import TaskRepository
from tests.support.fake_ollama import FakeOllama, Succeed
from tests.support.task_invariants import violations

pytestmark = pytest.mark.timeout(180)

STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]
TYPES = ["human_task", "ai_task", "mixed"]
EXECUTORS = ["human", "ollama", "claude", "anthropic_api"]
CONTRACTS = ["code-hygiene", "python-layered", "php-layered-architecture"]
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# ---- argument strategies -----------------------------------------------------------------

odd_text = st.sampled_from([
    "", " ", "\t\n", "\x00", "'; DROP TABLE tasks; --", "%", "_", "\\", "100%_done", "NULL", "null", "0", "-1",
    "é" * 300, "x" * 256, "x" * 70_000, "🙂" * 40, "\u202e\u200b", "<<<<<<< HEAD", "a\x00b", "{}", "[]",
])
wild = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    odd_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


ids = st.integers(1, 7)  # the seeded tasks are 1-5; the steps create more
names = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["claude", "bob", "agent-1", "a" * 100]))
text = st.one_of(st.text(max_size=60), st.sampled_from(["", "notes", "x" * 65_535]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
due_dates = st.one_of(
    st.sampled_from(["2026-12-31", "2026-12-31T17:00:00Z", "2026-12-31T17:00:00+14:00", "", "9999-12-31T23:59:59"]),
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.isoformat()),
)
contract_file = st.sampled_from(CONTRACTS).map(
    lambda name: (Path(__file__).resolve().parents[2] / "contracts" / f"{name}.yaml").read_text()
)

# Each parameter: (valid-looking values, values that must be refused or are merely odd).
PARAMS: dict[str, tuple[st.SearchStrategy, st.SearchStrategy]] = {
    "id": (ids, st.sampled_from([99, 2**63 - 1, 2**63, 0, -1, "1", "abc", 1.5, None, True])),
    "task_id": (ids, st.sampled_from([99, "1", 0, -5])),
    "parent_task_id": (ids, st.sampled_from([99, 0, -1, "x"])),
    "title": (st.one_of(st.text(min_size=1, max_size=40), st.just("x" * 255)), st.sampled_from(["", "  ", "x" * 256])),
    "description": (text, st.sampled_from(["é" * 40_000, "x" * 70_000])),
    "notes": (text, st.sampled_from(["é" * 40_000])),
    "error_message": (text, st.sampled_from(["é" * 40_000])),
    "request": (text, st.sampled_from(["é" * 40_000])),
    "response": (st.text(min_size=1, max_size=50), st.sampled_from(["", "x" * 1_000_001])),
    "content": (st.text(min_size=1, max_size=50), st.sampled_from(["", "é" * 40_000])),
    "status": (st.sampled_from(STATUSES), st.sampled_from(["done", "PENDING", "", "success"])),
    "result_status": (st.sampled_from(["success", "error", "partial"]), st.sampled_from(["ok", "completed"])),
    "contract_status": (st.sampled_from(["draft", "active", "deprecated"]), st.sampled_from(["gone", ""])),
    "type": (st.sampled_from(TYPES), st.sampled_from(["robot", "AI_TASK"])),
    "assignee_type": (st.sampled_from(EXECUTORS), st.sampled_from(["robot", "ai"])),
    "actor_type": (st.sampled_from(["human", "ai"]), st.sampled_from(["robot", "claude"])),
    "name": (names, st.sampled_from(["", "a" * 101])),
    "due_date": (due_dates, st.sampled_from(["next tuesday", "2026-02-30", "0001-01-01", "31.12.2026", "x" * 41])),
    "metadata": (
        st.one_of(st.dictionaries(st.text(max_size=10), json_values, max_size=4), st.sampled_from(['{"priority": "high"}', "{}"])),
        st.sampled_from(["[1, 2]", "not json", "{", '{"k": NaN}', "null", [1, 2], 5, {"big": "x" * 70_000}]),
    ),
    "expected_updated_at": (st.none(), st.sampled_from(["2000-01-01 00:00:00", "garbage", "", "x" * 41])),
    "limit": (st.integers(1, 500), st.sampled_from([0, -1, 501, 10**12])),
    "offset": (st.integers(0, 20), st.sampled_from([-1, 10**7 + 1, 10**12])),
    "search": (
        st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(["seed", "Write", "%", "_", "100%_done", "'; DROP TABLE tasks; --"])),
        st.sampled_from([" ", "", "a b c d e f g h i", "x" * 201]),
    ),
    "tokens": (st.integers(0, 5000), st.sampled_from([4_294_967_296, -1])),
    "cost_usd": (st.floats(0, 5), st.sampled_from([10_000.0, -0.01, float("nan"), float("inf")])),
    "lease_minutes": (st.floats(1, 120), st.sampled_from([0, -1, 7 * 24 * 60 + 1])),
    "comment_type": (st.sampled_from(["comment", "note"]), st.sampled_from(["status_change", "result", ""])),
    "model": (st.sampled_from(["mistral", "unknown-model"]), st.sampled_from(["", "m" * 101])),
    "flag": (st.booleans(), st.sampled_from(["maybe", [1]])),
    "wait": (st.just(True), st.sampled_from(["maybe", None])),  # wait=False would run on into the next step
    "path": (
        st.sampled_from([".", "clean", "dirty", "dirty/conflict.py", "clean/ok.py"]),
        st.sampled_from(["nope", "../", "/etc/passwd", "", "/"]),
    ),
    "contract": (st.sampled_from(CONTRACTS), st.sampled_from(["nope", ""])),
    "yaml": (
        contract_file,
        st.sampled_from(["contract: {}", "{", "- a\n- b", "contract:\n  name: x\n  version: '1'\n  rules: []", ""]),
    ),
    "format": (st.sampled_from(["json", "markdown"]), st.just("pdf")),
    "max_violations": (st.integers(1, 2000), st.sampled_from([0, 2001])),
}


def tool(required: dict[str, str], optional: dict[str, str]) -> dict:
    """A tool's parameters, each mapped to its entry in PARAMS."""
    return {"required": required, "optional": optional}


TOOLS = {
    "tasks_list": tool({}, {"status": "status", "type": "type", "search": "search", "limit": "limit", "offset": "offset",
                            "parent_task_id": "parent_task_id", "assignee": "name"}),
    "tasks_get": tool({"id": "id"}, {}),
    "tasks_create": tool({"title": "title"}, {"description": "description", "type": "type", "parent_task_id": "parent_task_id",
                                              "due_date": "due_date", "metadata": "metadata", "created_by": "name",
                                              "created_by_type": "actor_type"}),
    "tasks_update": tool({"id": "id"}, {"title": "title", "description": "description", "type": "type", "due_date": "due_date",
                                        "metadata": "metadata", "parent_task_id": "parent_task_id", "updated_by": "name",
                                        "updated_by_type": "actor_type", "expected_updated_at": "expected_updated_at"}),
    "tasks_status": tool({"id": "id", "status": "status"}, {"updated_by": "name", "updated_by_type": "actor_type",
                                                           "expected_updated_at": "expected_updated_at"}),
    "tasks_assign": tool({"id": "id", "assignee": "name", "assignee_type": "assignee_type"},
                         {"model_name": "name", "notes": "notes", "assigned_by": "name"}),
    "tasks_result": tool({"id": "id", "response": "response", "executor": "name", "executor_type": "assignee_type"},
                         {"model_name": "name", "status": "result_status", "tokens_input": "tokens", "tokens_output": "tokens",
                          "cost_usd": "cost_usd", "error_message": "error_message", "request": "request", "duration_ms": "tokens"}),
    "tasks_delete": tool({"id": "id"}, {"deleted_by": "name"}),
    "tasks_statistics": tool({}, {}),
    "tasks_comment": tool({"id": "id", "content": "content"}, {"author": "name", "author_type": "actor_type", "comment_type": "comment_type"}),
    "tasks_claim": tool({"assignee": "name", "assignee_type": "assignee_type"},
                        {"model_name": "name", "type": "type", "search": "search", "parent_task_id": "parent_task_id",
                         "lease_minutes": "lease_minutes"}),
    "tasks_execute": tool({"id": "id"}, {"executor_type": "assignee_type", "model": "model", "auto_complete": "flag", "wait": "wait"}),
    "contracts_list": tool({}, {"status": "contract_status", "search": "search"}),
    "contracts_validate": tool({}, {"name": "contract", "yaml": "yaml"}),
    "quality_check": tool({"path": "path"}, {"contract": "contract", "task_id": "task_id", "format": "format",
                                             "max_violations": "max_violations"}),
}
# Writes (and creates above all: later calls need tasks to act on) come up more often than reads.
WEIGHTS = {"tasks_create": 6, "tasks_status": 5, "tasks_assign": 2, "tasks_result": 2, "tasks_claim": 2, "tasks_update": 2,
           "tasks_comment": 1, "tasks_delete": 1, "tasks_execute": 2, "quality_check": 1}
NAMES = [name for name in TOOLS for _ in range(WEIGHTS.get(name, 1))]


@st.composite
def calls(draw) -> tuple[str, dict]:
    """One tool call: valid-looking arguments, then in about one call in three something spoiled."""
    name = draw(st.sampled_from(NAMES))
    spec = TOOLS[name]
    args = {key: draw(PARAMS[kind][0]) for key, kind in spec["required"].items()}
    for key, kind in spec["optional"].items():
        if draw(st.booleans()):
            args[key] = draw(PARAMS[kind][0])
    spoil = draw(st.sampled_from(["none"] * 7 + ["invalid", "wild", "drop", "extra"]))
    every = {**spec["required"], **spec["optional"]}
    if spoil == "invalid" and every:
        key = draw(st.sampled_from(sorted(every)))
        args[key] = draw(PARAMS[every[key]][1])
    elif spoil == "wild" and every:
        args[draw(st.sampled_from(sorted(every)))] = draw(wild)
    elif spoil == "drop" and spec["required"]:
        del args[draw(st.sampled_from(sorted(spec["required"])))]
    elif spoil == "extra":
        args[draw(st.sampled_from(["unexpected", "ID", "__proto__"]))] = draw(wild)
    return name, args


# ---- the world each example runs in ------------------------------------------------------


def seed(repo) -> None:
    """Tasks 1-5, so that small ids name real tasks from the first step on."""
    def create(title: str, kind: TaskType, parent: int | None = None) -> int:
        return repo.create_task(title=title, description=f"{title}, seeded", type=kind, parent_task_id=parent, due_date=None,
                                metadata=None, created_by="seed", created_by_type=ActorType.HUMAN)["id"]

    parent = create("Write the release notes", TaskType.MIXED)
    create("Collect the changes", TaskType.AI_TASK, parent)
    create("Phone the customer", TaskType.HUMAN_TASK)
    running = create("Translate the manual", TaskType.AI_TASK)
    repo.set_status(running, TaskStatus.IN_PROGRESS, actor="claude", actor_type=ActorType.AI)
    create("Review the translation", TaskType.AI_TASK, running)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A migrated SQLite template, a source tree for quality_check, and a fake Ollama."""
    base = tmp_path_factory.mktemp("properties")
    template = base / "template.db"
    db = Database(load_config({"DATABASE_URL": f"sqlite://{template}", "HOME": str(base)}).database, "DATABASE_URL")
    db.migrate()
    seed(TaskRepository(db))
    db.close()
    tree = base / "tree"
    (tree / "clean").mkdir(parents=True)
    (tree / "dirty").mkdir()
    (tree / "clean" / "ok.py").write_text('"""Fine."""\n\n\ndef add(a, b):\n    return a + b\n')
    (tree / "dirty" / "conflict.py").write_text("x = 1\n<<<<<<< HEAD\ny = 2\n=======\ny = 3\n>>>>>>> branch\n")
    with FakeOllama(behaviour=Succeed(chunks=("An ", "answer."))) as ollama:
        yield {"base": base, "template": template, "tree": tree, "ollama": ollama.url}


def crash_or_silence(name: str, result) -> str | None:
    """Why an error result is not a proper refusal, or None when it is one."""
    texts = [getattr(c, "text", "") for c in result.content]
    message = " ".join(texts).strip()
    if not message:
        return "an error without a message"
    if message == f"Error executing tool {name}" or message.startswith(f"Error executing tool {name}: Error executing tool"):
        return f"a crash (unhandled exception): {message!r}"
    if len(message.removeprefix(f"Error executing tool {name}:").strip()) < 10:
        return f"an error whose message says nothing: {message!r}"
    return None


async def run_calls(config, db_path: Path, steps: list[tuple[str, dict]]) -> None:
    from mcp import Client

    from server import build_server

    check = sqlite3.connect(str(db_path), timeout=10, isolation_level=None)
    try:
        async with Client(build_server(config)) as client:
            listed = {t.name for t in (await client.list_tools()).tools}
            assert listed == set(TOOLS), f"tools without a strategy here: {listed ^ set(TOOLS)}"
            for number, (name, args) in enumerate(steps, 1):
                with anyio.fail_after(30):
                    result = await client.call_tool(name, args)
                where = f"step {number}: {name}({_short(args)})"
                event(f"{name} {'refused' if result.is_error else 'ok'}")  # see them with --hypothesis-show-statistics
                if result.is_error:
                    problem = crash_or_silence(name, result)
                    assert problem is None, f"{where} gave {problem}"
                else:
                    assert result.structured_content is not None, f"{where} succeeded without structured content"
                broken = violations(check, subtasks=True)
                assert broken == [], f"after {where}: {broken}"
    finally:
        check.close()


def _short(args: dict) -> str:
    return ", ".join(f"{k}={v!r}"[:80] for k, v in args.items())


@SETTINGS
@given(steps=st.lists(calls(), min_size=2, max_size=20))
def test_any_sequence_of_tool_calls_is_answered_cleanly_and_keeps_the_tables_consistent(world, steps):
    run_dir = Path(tempfile.mkdtemp(dir=world["base"]))
    try:
        db_path = run_dir / "tasks.db"
        shutil.copyfile(world["template"], db_path)
        config = load_config({
            "DATABASE_URL": f"sqlite://{db_path}", "HOME": str(run_dir), "PWD": str(world["tree"]),
            "OLLAMA_HOST": world["ollama"], "OLLAMA_TIMEOUT": "10", "QUALITY_ALLOWED_PATHS": str(world["tree"]),
            "MCP_TASKS_TOOLS": "all",
        })
        anyio.run(run_calls, config, db_path, steps)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.mark.parametrize(
    "tool, metadata",
    [
        ("tasks_create", '{"note": "\\ud800"}'),  # plain ASCII on the wire: reachable from any stdio client
        ("tasks_create", '{"\\udfff": 1}'),
        ("tasks_update", '{"note": "\\ud800"}'),
        ("tasks_create", {"note": "\ud800"}),  # in-process callers (Client, `server.py call`) pass it as is
    ],
)
def test_metadata_holding_a_lone_surrogate_is_refused_rather_than_crashing(world, tool, metadata):
    run_dir = Path(tempfile.mkdtemp(dir=world["base"]))
    db_path = run_dir / "tasks.db"
    shutil.copyfile(world["template"], db_path)
    config = load_config({"DATABASE_URL": f"sqlite://{db_path}", "HOME": str(run_dir), "PWD": str(run_dir)})
    args = {"title": "With odd metadata", "metadata": metadata} if tool == "tasks_create" else {"id": 1, "metadata": metadata}

    async def call():
        from mcp import Client

        from server import build_server

        async with Client(build_server(config)) as client:
            return await client.call_tool(tool, args)

    try:
        result = anyio.run(call)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    assert result.is_error
    assert crash_or_silence(tool, result) is None, result.content[0].text
    assert "metadata" in result.content[0].text
