"""Who may do what: the four scopes, what each tool and board action needs, and API-key roles.

An OAuth access token carries scopes in its space-separated `scope` claim; an API key has a
role (MCP_API_KEYS=name:key:role). Both come down to the same four scopes, and each scope
includes the ones before it in this list, so a token needs to name only the highest:

    tasks:read    list, get, statistics, contracts, resources, subscriptions
    tasks:write   create, update, status, assign, claim, result, comment, execute, quality
    tasks:review  approve or send back on the board; cancel a task another agent holds
    tasks:admin   delete, and everything else (any tool not named here)

A principal with none of them (a token issued for something else) may do nothing.
Pure rules: no I/O, no SDK.
"""
from __future__ import annotations

from typing import Iterable

from domain.errors import Forbidden
from domain.roles import ADMIN, READ, REVIEW, ROLES, SCOPES, WRITE

__all__ = ["ADMIN", "READ", "REVIEW", "ROLES", "SCOPES", "WRITE", "BOARD_SCOPES", "TOOL_SCOPES", "granted", "require", "tool_scope"]

TOOL_SCOPES = {
    "tasks_list": READ, "tasks_get": READ, "tasks_statistics": READ, "contracts_list": READ, "contracts_validate": READ,
    "tasks_create": WRITE, "tasks_update": WRITE, "tasks_status": WRITE, "tasks_assign": WRITE, "tasks_claim": WRITE,
    "tasks_result": WRITE, "tasks_comment": WRITE, "tasks_execute": WRITE, "quality_check": WRITE,
    "tasks_delete": ADMIN,
}
# The board's actions (web/actions.py ACTIONS, and /new).
BOARD_SCOPES = {"new": WRITE, "comment": WRITE, "take": WRITE, "approve": REVIEW, "send-back": REVIEW}


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope the given ones include: tasks:write grants tasks:read too, and so on."""
    present = set(scopes)
    top = max((SCOPES.index(s) for s in present if s in SCOPES), default=-1)
    return frozenset(SCOPES[: top + 1])


def tool_scope(tool: str) -> str:
    """The scope a tool call needs; a tool not in the table needs tasks:admin."""
    return TOOL_SCOPES.get(tool, ADMIN)


def require(scopes: Iterable[str], needed: str, what: str, principal: str) -> None:
    """Refuse, naming the scope, when `scopes` (already expanded by granted()) lack `needed`."""
    if needed not in scopes:
        have = max(scopes, key=SCOPES.index) if scopes else "no tasks scope"
        raise Forbidden(
            f"{what} needs {needed}; {principal} has {have}. Nothing was changed. Ask whoever runs this server for "
            f"a token with scope {needed} (or an API key with role {needed.split(':')[1]})."
        )
