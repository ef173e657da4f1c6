"""mcp-tasks: an MCP server for the human–AI task system.

The one place where things are wired: config → database → repository → tools. Nothing
connects at import time; the database is opened on the first call that needs it, so the
server answers `initialize` and `tools/list` at once even when the database is down.
stdout belongs to the protocol: every log line goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

from config import Config, config_from_environment
from domain.errors import TaskSystemError

VERSION = "0.1.0"
log = logging.getLogger("mcp-tasks")

INSTRUCTIONS = """Task system shared by people and AI agents (MariaDB/SQLite).
Workflow: pending → in_progress → completed | failed | cancelled; in_progress → pending releases a task; failed → pending retries; completed and cancelled are final.
Typical loop: tasks_list(status="pending", type="ai_task") → tasks_get(id) → tasks_status(id, "in_progress") → work → tasks_result(...) → tasks_status(id, "completed").
Every change is recorded in the task's history (tasks_get shows it). Refusals say what to do next."""


def build_server(config: Config):
    """The MCP server for this config; tests build it in-process with a dict-made Config."""
    from mcp.server.mcpserver import MCPServer

    from infrastructure.database import Database
    from infrastructure.task_repository import TaskRepository
    from tools.common import AppState, strip_titles
    from tools.task_tools import register_agent_tools, register_task_tools

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[AppState]:
        db = Database(config.database, config.database_source)
        state = AppState(config=config, repository=TaskRepository(
                db, quality_gate=config.quality_gate, lease_minutes=config.lease_minutes, max_attempts=config.max_attempts
            ), services={})
        try:
            yield state
        finally:
            for service in state.services.values():
                close = getattr(service, "close", None)
                if close:
                    close()
            db.close()

    mcp = MCPServer("mcp-tasks", version=VERSION, instructions=INSTRUCTIONS, lifespan=lifespan)
    register_task_tools(mcp)
    register_agent_tools(mcp)
    try:
        from tools.quality_tools import register_quality_tools
    except ImportError:  # the quality tools are optional while they are being built
        register_quality_tools = None
    if register_quality_tools:
        register_quality_tools(mcp)
    for tool in mcp._tool_manager.list_tools():
        strip_titles(tool.parameters)
        if tool.output_schema:
            strip_titles(tool.output_schema)
    return mcp


def _setup_logging(config: Config | None) -> None:
    level = getattr(logging, config.log_level if config else "INFO", logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_init_db(config: Config) -> int:
    from infrastructure.database import Database

    db = Database(config.database, config.database_source)
    try:
        applied = db.migrate()
    finally:
        db.close()
    print(f"{config.database.describe()}: " + (f"applied {', '.join(applied)}" if applied else "schema already up to date"))
    return 0


def cmd_doctor(config: Config) -> int:
    """One line per check, OK or FAIL with the fix; exit 1 when anything failed."""
    from infrastructure.database import Database
    from infrastructure.ollama_client import OllamaClient

    lines: list[tuple[bool, str]] = []
    db = Database(config.database, config.database_source)
    try:
        count, missing = db.health()
        lines.append((True, f"database: {config.database.describe()} answers ({count} tasks)"))
        lines.append(
            (not missing, "schema: all tables present" if not missing
             else f"schema: missing {', '.join(missing)}; run `python server.py init-db`")
        )
    except TaskSystemError as exc:
        lines.append((False, f"database: {exc}"))
    finally:
        db.close()
    with OllamaClient(config.ollama_host, min(config.ollama_timeout, 10)) as client:
        ok, text = client.check(config.ollama_model)
    lines.append((ok, text.removeprefix("OK ").removeprefix("FAIL ")))
    try:
        from infrastructure.contract_loader import load_contracts

        catalog = load_contracts(config.contracts_dirs)
        problems = [f"{e['file']}: {e['reason']}" for e in catalog.load_errors]
        lines.append(
            (not problems, f"contracts: {len(catalog.contracts)} loaded from {', '.join(map(str, config.contracts_dirs))}"
             + (f"; problems: {'; '.join(problems)} (fix the file or CONTRACTS_DIR)" if problems else ""))
        )
    except ImportError:
        lines.append((False, "contracts: the contract loader is not installed"))
    for ok, text in lines:
        print(f"{'OK  ' if ok else 'FAIL'} {text}")
    return 0 if all(ok for ok, _ in lines) else 1


def cmd_call(config: Config, tool: str, arguments: str) -> int:
    """Run one tool in-process and print its result: trying tools from a shell."""
    import anyio
    from mcp import Client

    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        print(f"The arguments are not JSON ({exc}). Example: '{{\"status\": \"pending\"}}'", file=sys.stderr)
        return 2

    async def run() -> int:
        async with Client(build_server(config)) as client:
            result = await client.call_tool(tool, args)
        if result.structured_content is not None:
            print(json.dumps(result.structured_content, ensure_ascii=False, indent=2))
        else:
            print("\n".join(getattr(c, "text", "") for c in result.content))
        return 1 if result.is_error else 0

    return anyio.run(run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description="mcp-tasks: task tools for AI agents over MCP.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve MCP over stdio (the default)")
    sub.add_parser("init-db", help="create missing tables and indexes, idempotently")
    sub.add_parser("doctor", help="check the database connection and schema")
    call = sub.add_parser("call", help="run one tool in-process: call TOOL '{json arguments}'")
    call.add_argument("tool")
    call.add_argument("arguments", nargs="?", default="{}")
    args = parser.parse_args(argv)

    try:
        config = config_from_environment()
    except TaskSystemError as exc:
        _setup_logging(None)
        log.error("%s", exc)
        return 2
    _setup_logging(config)
    try:
        if args.command == "init-db":
            return cmd_init_db(config)
        if args.command == "doctor":
            return cmd_doctor(config)
        if args.command == "call":
            return cmd_call(config, args.tool, args.arguments)
    except TaskSystemError as exc:
        log.error("%s", exc)
        return 1
    log.info("mcp-tasks %s serving on stdio, data in %s", VERSION, config.database.describe())
    build_server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
