"""mcp-tasks: an MCP server for the human–AI task system.

The one place where things are wired: config → database → repository → tools. Nothing
connects at import time; the database is opened on the first call that needs it, so the
server answers `initialize` and `tools/list` at once even when the database is down.
stdout belongs to the protocol: every log line goes to stderr.
The other commands (init-db, doctor, call, HTTP, --help) are in server_commands.py, so
that the file every MCP session starts, and Python compiles anew each time, stays short.
"""
from __future__ import annotations

import gc
import logging
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, AsyncIterator

from config import Config, config_from_environment
from domain.errors import TaskSystemError
from domain.secrets import scrub

if TYPE_CHECKING:
    import argparse

VERSION = "0.1.0"
log = logging.getLogger("mcp-tasks")

INSTRUCTIONS = """Task system shared by people and AI agents (MariaDB/SQLite).
Workflow: pending → in_progress → completed | failed | cancelled; in_progress → pending releases a task; failed → pending retries; completed and cancelled are final.
Typical loop: tasks_claim(assignee, assignee_type) takes the most urgent pending task atomically (safer than tasks_list → tasks_status(id, "in_progress") when several agents work) → work → quality_check(path, task_id) for code → tasks_result(...) → tasks_status(id, "completed").
Every change is recorded in the task's history (tasks_get shows it). Refusals say what to do next."""


def build_server(config: Config, *, http_url: str | None = None, stateless: bool = False):
    """The MCP server for this config; tests build it in-process with a dict-made Config.

    http_url: the server's own URL when it is going to serve streamable HTTP; with
    MCP_API_KEYS or MCP_OAUTH_ISSUER set, every HTTP request must then carry one of the keys or
    a signed-in access token as a bearer token (tools/oauth.py).
    stateless: stateless HTTP, where no session outlives a request (so no resources/subscribe).
    """
    from mcp.server.mcpserver import MCPServer

    from infrastructure.change_feed import ChangeHub
    from infrastructure.database import Database
    from infrastructure.task_repository import TaskRepository
    from tools.agent_tools import register_agent_tools
    from tools.common import AppState, TaskServer, strip_titles
    from tools.lean_schema import lean_input_schema
    from tools.output_schemas import publish as publish_output_schemas
    from tools.profiles import ALWAYS_LOAD
    from tools.profiles import CORE as CORE_TOOLS
    from tools.profiles import describe as describe_tools
    from tools.profiles import select as select_tools
    from tools.quality_tools import register_quality_tools
    from tools.resources import register_prompts, register_resources
    from tools.subscriptions import SubscriptionRelay, register_subscriptions
    from tools.task_tools import register_task_tools

    live: dict[str, AppState] = {}  # the running state, for the one resource without a request context
    relay = SubscriptionRelay()  # resource subscriptions, fed by the process's one change watcher

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[AppState]:
        db = Database(config.database, config.database_source, read_only=config.read_only)
        state = AppState(config=config, repository=TaskRepository(
                db, quality_gate=config.quality_gate, lease_minutes=config.lease_minutes, max_attempts=config.max_attempts
            ), services={})
        live["state"] = state
        # The process's one change watcher; it polls only while somebody listens. The board's live
        # updates listen to it too: state.services["changes"].
        relay.hub = state.services["changes"] = ChangeHub(db, keep_seconds=config.change_feed_keep_seconds)
        try:
            yield state
        finally:
            live.pop("state", None)
            await relay.aclose()
            relay.hub = None
            for service in state.services.values():
                close = getattr(service, "close", None)
                if close:
                    close()
            db.close()

    def current_state() -> AppState:
        if "state" not in live:
            raise TaskSystemError("The server is starting or stopping; read the resource again in a moment.")
        return live["state"]

    auth: dict = {}
    if http_url and (config.api_keys or config.oauth_issuer):
        from tools.oauth import auth_options

        auth = auth_options(config, http_url)
    extensions = []
    if not config.read_only:  # its two tools write; a read-only server offers neither
        from tools.task_extension import TasksExtension

        extensions.append(TasksExtension())
    mcp = TaskServer(
        "mcp-tasks", version=VERSION, instructions=INSTRUCTIONS + (READ_ONLY_NOTE if config.read_only else ""),
        lifespan=lifespan, subscriptions=relay, extensions=extensions, **auth,
    )
    register_task_tools(mcp)
    register_agent_tools(mcp)
    register_quality_tools(mcp)
    register_resources(mcp, current_state)
    register_subscriptions(mcp, relay, sessions=not stateless)
    mcp.subscription_relay = relay  # for tests: who is subscribed, whether the watcher runs
    mcp.current_state = current_state  # the board served beside /mcp shares the repository and the change watcher
    # Not even listed: an agent cannot call, or spend context on, what it may not use.
    offered = select_tools(config.tool_profile, [tool.name for tool in mcp._tool_manager.list_tools()])
    for tool in mcp._tool_manager.list_tools():
        if tool.name not in offered:
            mcp.withhold_tool(tool.name, (
                f"MCP_TASKS_TOOLS={describe_tools(config.tool_profile)} leaves it out; add {tool.name} to "
                "MCP_TASKS_TOOLS (or use all) and restart the server."
            ))
        elif config.read_only and not (tool.annotations and tool.annotations.read_only_hint):
            mcp.withhold_tool(tool.name, "this server is read-only (READ_ONLY=true); it lists, reads and reports.")
    tools = mcp._tool_manager.list_tools()
    for tool in tools:
        if tool.name in CORE_TOOLS:
            tool.meta = {**(tool.meta or {}), ALWAYS_LOAD: True}
    register_prompts(mcp, {tool.name for tool in tools})  # each only where the tools its steps name are offered
    for tool in tools:
        strip_titles(tool.parameters)
        lean_input_schema(tool.parameters)
    publish_output_schemas(tools)
    return mcp


READ_ONLY_NOTE = "\nThis server is read-only: it lists, reads and reports; it changes nothing."


class ScrubbingFormatter(logging.Formatter):
    """Every log line, traceback included, leaves through scrub(): no password or API key
    reaches stderr, whichever module logged it. uvicorn's access lines lose their query
    string: a client that puts a key in the URL must not have it written to the log."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            path = str(record.args[2])
            if "?" in path:
                record.args = (*record.args[:2], path.split("?", 1)[0] + "?<query not logged>", *record.args[3:])
        return scrub(super().format(record))


def _setup_logging(config: Config | None) -> None:
    level = getattr(logging, config.log_level if config else "INFO", logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def cmd_serve(config: Config, args: argparse.Namespace | None) -> int:
    changes: dict = {}
    if getattr(args, "read_only", False):
        changes["read_only"] = True
    if getattr(args, "tools", None):
        from tools.profiles import parse

        changes["tool_profile"] = parse(args.tools)
    if changes:
        from dataclasses import replace

        config = replace(config, **changes)
    transport = getattr(args, "transport", None) or config.transport
    if transport == "http":
        port = getattr(args, "port", None) or config.http_port
        stateless = getattr(args, "stateless", False) or config.http_stateless
        from server_commands import cmd_serve_http

        return cmd_serve_http(config, getattr(args, "host", None) or config.http_host, port, stateless)
    # No cyclic garbage collection while starting: importing the SDK and building the tools
    # leave ~130,000 tracked objects (about 2,000 of them garbage), and the collector walked
    # the survivors again and again, ~100M instructions, 3% of a cold start (bench/RESULTS.md
    # "Start-up after issues 14 and 16"). It is back on before the first message is read.
    gc.disable()
    try:
        import anyio

        from tools.stdio_transport import serve_stdio

        mcp = build_server(config)  # refuses an unknown MCP_TASKS_TOOLS name before anything is served
    finally:
        gc.enable()
    log.info(
        "mcp-tasks %s serving on stdio%s, tools: %s, data in %s", VERSION, " (read-only)" if config.read_only else "",
        ",".join(config.tool_profile), config.database.describe(),
    )
    anyio.run(serve_stdio, mcp)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = None  # plain `server.py`, what MCP clients start: no argparse (its import and parser are ~7 ms of a cold start)
    if argv:
        from server_commands import build_parser

        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command not in (None, "serve") and any(
            hasattr(args, option) for option in ("transport", "host", "port", "stateless", "read_only", "tools")
        ):
            parser.error("--transport, --host, --port, --stateless, --read-only and --tools belong to serve")
    command = getattr(args, "command", None)

    try:
        config = config_from_environment()
    except TaskSystemError as exc:
        _setup_logging(None)
        log.error("%s", exc)
        return 2
    _setup_logging(config)
    try:
        if command in ("init-db", "doctor", "call", "board"):
            import server_commands

            return server_commands.run(command, config, args)
        return cmd_serve(config, args)
    except TaskSystemError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
