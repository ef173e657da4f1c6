"""Print the README's tool table from the server's own tools/list.

    .venv/bin/python docs/tool_table.py > /tmp/table.md

tests/e2e/test_docs.py fails when the README's table and this output differ.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tool_table() -> str:
    import anyio
    from mcp import Client

    from config import load_config
    from server import build_server

    async def tools():
        async with Client(build_server(load_config({"DATABASE_URL": "sqlite:///nonexistent/never-opened.db", "MCP_TASKS_TOOLS": "all"}))) as client:
            return (await client.list_tools()).tools

    from tools.profiles import PROFILES

    rows = ["| tool | profiles | what it does | parameters (* required) |", "|---|---|---|---|"]
    for tool in sorted(anyio.run(tools), key=lambda t: t.name):
        required = set(tool.input_schema.get("required", []))
        params = []
        for name, prop in tool.input_schema.get("properties", {}).items():
            options = [prop] if "anyOf" not in prop else [o for o in prop["anyOf"] if o.get("type") != "null"]
            kind = " / ".join(", ".join(o["enum"]) if "enum" in o else str(o.get("type")) for o in options)
            default = f" = {prop['default']!r}" if "default" in prop and prop["default"] is not None else ""
            params.append(f"`{name}{'*' if name in required else ''}` {kind}{default}")
        description = " ".join((tool.description or "").split()).replace("|", "\\|")
        member_of = ", ".join(name for name, members in PROFILES.items() if members is None or tool.name in members)
        rows.append(f"| `{tool.name}` | {member_of} | {description} | {'<br>'.join(params) or '—'} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(tool_table())
