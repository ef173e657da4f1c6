"""Rewrite tools/output_schemas.json from the tools' result models (see tools/output_schemas.py).

    .venv/bin/python docs/output_schemas.py

tests/e2e/test_docs.py fails while the file and the models differ.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def all_tools() -> list:
    """Every tool of a writable server (a read-only one lists fewer); no database is opened."""
    from config import load_config
    from server import build_server
    from transports.sdk_private import tool_manager

    server = build_server(load_config({"DATABASE_URL": "sqlite:///nonexistent/never-opened.db", "MCP_TASKS_TOOLS": "all"}))
    return tool_manager(server).list_tools()


if __name__ == "__main__":
    from tools.output_schemas import SCHEMA_FILE, generate

    SCHEMA_FILE.write_text(generate(all_tools()))
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
