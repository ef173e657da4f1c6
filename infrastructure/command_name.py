"""The command the user has for this server, for messages that tell them what to run:
`mcp-tasks init-db` when installed (pip, pipx, uv tool, uvx), `python server.py init-db` in a clone.

Installed, the tree is the package `mcp_tasks` in site-packages, beside its dist-info; a
clone (an editable install too) has none beside it.
"""
from __future__ import annotations

from config import installed


def command(sub: str) -> str:
    """e.g. command("init-db") -> "mcp-tasks init-db" or "python server.py init-db"."""
    return f"mcp-tasks {sub}" if installed() else f"python server.py {sub}"


def init_db() -> str:
    return command("init-db")
