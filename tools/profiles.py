"""Tool profiles: which tools a server offers (MCP_TASKS_TOOLS, --tools, HTTP's X-MCP-Tools).

A client hands the model every offered tool's name, description and input schema on every
turn, so a worker that needs seven tools should not pay for fifteen (issue 26).

- `core`: the worker's loop, as the server's instructions and the work_on_task prompt walk
  it: find (tasks_list), read (tasks_get), take (tasks_claim), note (tasks_comment, which
  also renews the lease), check code (quality_check, whose critical findings block
  completion), record (tasks_result), finish or give back (tasks_status).
- `standard` (the default): the spec's ten tools, plus what a team uses every day:
  claiming, comments and the quality check.
- `all`: every tool, the contract authoring tools (contracts_list, contracts_validate) too.

Or a comma-separated list of tool names and profiles, e.g. `core,tasks_create`.
Pure: no mcp import; server.py withholds what a profile leaves out.
"""
from __future__ import annotations

from typing import Iterable

from domain.errors import InvalidInput

CORE = ("tasks_list", "tasks_get", "tasks_claim", "tasks_status", "tasks_result", "tasks_comment", "quality_check")
SPEC_TEN = (
    "tasks_list", "tasks_get", "tasks_create", "tasks_update", "tasks_status", "tasks_assign", "tasks_result",
    "tasks_execute", "tasks_delete", "tasks_statistics",
)
STANDARD = SPEC_TEN + ("tasks_claim", "tasks_comment", "quality_check")
PROFILES: dict[str, tuple[str, ...] | None] = {"core": CORE, "standard": STANDARD, "all": None}  # None: every tool
DEFAULT = "standard"
HEADER = "x-mcp-tools"  # HTTP: a connection's own choice, within what the server offers
# Claude Code defers MCP tools behind its tool search unless a tool's _meta carries this
# (read from the client's binary, 2.1.197: `alwaysLoad: config.alwaysLoad === true ||
# tool._meta?.["anthropic/alwaysLoad"] === true`). A deferred tool is called less often, so
# the worker's loop is marked; the rest of a profile stays deferred. Other clients ignore it.
ALWAYS_LOAD = "anthropic/alwaysLoad"


def parse(raw: str) -> tuple[str, ...]:
    """The names in a setting or header value: comma-separated, case and spaces ignored."""
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def select(chosen: Iterable[str], offered: Iterable[str], setting: str = "MCP_TASKS_TOOLS (or --tools)") -> set[str]:
    """The tools that `chosen` (profile and tool names) names among `offered`.

    Refuses an unknown name with every name it would take: a typo must not start a server
    that silently lacks the tool the agent was meant to have."""
    offered = list(offered)
    chosen = tuple(chosen) or (DEFAULT,)
    picked: set[str] = set()
    for name in chosen:
        if name in PROFILES:
            members = PROFILES[name]
            picked.update(offered if members is None else (m for m in members if m in offered))
        elif name in offered:
            picked.add(name)
        else:
            raise InvalidInput(
                f"{setting} names {name!r}, which is neither a profile nor a tool. Use {', '.join(PROFILES)} "
                f"(default {DEFAULT}) or tool names, comma-separated: {', '.join(sorted(offered))}."
            )
    return picked


def describe(chosen: Iterable[str]) -> str:
    return ",".join(chosen) or DEFAULT
