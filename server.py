"""mcp-tasks: an MCP server for the human–AI task system.

The one place where things are wired: config → database → repository → tools. Nothing
connects at import time; the database is opened on the first call that needs it, so the
server answers `initialize` and `tools/list` at once even when the database is down.
stdout belongs to the protocol: every log line goes to stderr.
"""
from __future__ import annotations

import json
import logging
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, AsyncIterator

from config import Config, config_from_environment
from domain.errors import TaskSystemError

if TYPE_CHECKING:
    import argparse

VERSION = "0.1.0"
log = logging.getLogger("mcp-tasks")

INSTRUCTIONS = """Task system shared by people and AI agents (MariaDB/SQLite).
Workflow: pending → in_progress → completed | failed | cancelled; in_progress → pending releases a task; failed → pending retries; completed and cancelled are final.
Typical loop: tasks_claim(assignee, assignee_type) takes the most urgent pending task atomically (safer than tasks_list → tasks_status(id, "in_progress") when several agents work) → work → quality_check(path, task_id) for code → tasks_result(...) → tasks_status(id, "completed").
Every change is recorded in the task's history (tasks_get shows it). Refusals say what to do next."""


def build_server(config: Config, *, http_url: str | None = None):
    """The MCP server for this config; tests build it in-process with a dict-made Config.

    http_url: the server's own URL when it is going to serve streamable HTTP; with
    MCP_API_KEYS set, every HTTP request must then carry one of the keys as a bearer token.
    """
    from mcp.server.mcpserver import MCPServer

    from infrastructure.database import Database
    from infrastructure.task_repository import TaskRepository
    from tools.common import AppState, strip_titles
    from tools.lean_schema import lean_input_schema
    from tools.output_schemas import publish as publish_output_schemas
    from tools.quality_tools import register_quality_tools
    from tools.resources import register_prompts, register_resources
    from tools.task_tools import register_agent_tools, register_task_tools

    live: dict[str, AppState] = {}  # the running state, for the one resource without a request context

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[AppState]:
        db = Database(config.database, config.database_source, read_only=config.read_only)
        state = AppState(config=config, repository=TaskRepository(
                db, quality_gate=config.quality_gate, lease_minutes=config.lease_minutes, max_attempts=config.max_attempts
            ), services={})
        live["state"] = state
        try:
            yield state
        finally:
            live.pop("state", None)
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
    if http_url and config.api_keys:
        from mcp.server.auth.settings import AuthSettings

        from tools.http_auth import ApiKeyVerifier

        auth = {
            "token_verifier": ApiKeyVerifier(config.api_keys),
            "auth": AuthSettings(issuer_url=http_url, resource_server_url=None),
        }
    mcp = MCPServer(
        "mcp-tasks", version=VERSION, instructions=INSTRUCTIONS + (READ_ONLY_NOTE if config.read_only else ""),
        lifespan=lifespan, **auth,
    )
    register_task_tools(mcp)
    register_agent_tools(mcp)
    register_quality_tools(mcp)
    register_resources(mcp, current_state)
    if config.read_only:
        # Not even listed: an agent cannot call, or spend context on, what it may not use.
        for tool in mcp._tool_manager.list_tools():
            if not (tool.annotations and tool.annotations.read_only_hint):
                mcp.remove_tool(tool.name)
    else:
        register_prompts(mcp)  # both prompts walk an agent through writes
    tools = mcp._tool_manager.list_tools()
    for tool in tools:
        strip_titles(tool.parameters)
        lean_input_schema(tool.parameters)
    publish_output_schemas(tools)
    return mcp


READ_ONLY_NOTE = "\nThis server is read-only: it lists, reads and reports; it changes nothing."


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
    from infrastructure.contract_loader import load_contracts
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
    catalog = load_contracts(config.contracts_dirs)
    problems = [f"{e['file']}: {e['reason']}" for e in catalog.load_errors]
    lines.append(
        (not problems, f"contracts: {len(catalog.contracts)} loaded from {', '.join(map(str, config.contracts_dirs))}"
         + (f"; problems: {'; '.join(problems)} (fix the file or CONTRACTS_DIR)" if problems else ""))
    )
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


LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: treat it as reachable from outside


def transport_security(config: Config, host: str, port: int):
    """The Host and Origin headers the server answers to (DNS rebinding protection)."""
    import socket

    from mcp.server.transport_security import TransportSecuritySettings

    bare = host.strip("[]")
    if is_loopback(host):
        names = ["127.0.0.1", "localhost", "[::1]"]
    elif bare in ("0.0.0.0", "::", ""):
        # Every interface: this machine's names and addresses. Names a load balancer uses go in MCP_ALLOWED_HOSTS.
        names = ["127.0.0.1", "localhost", "[::1]", socket.gethostname(), socket.getfqdn()]
        try:
            names += socket.gethostbyname_ex(socket.gethostname())[2]
        except OSError:
            pass
    else:
        names = [f"[{bare}]" if ":" in bare else bare]
    hosts = [f"{n}:{port}" for n in dict.fromkeys(names)]
    origins = [f"{scheme}://{n}:{port}" for n in dict.fromkeys(names) for scheme in ("http", "https")]
    for extra in config.allowed_hosts:
        # A name without a port (what a client sends through a proxy on 80/443) allows any port.
        hosts += [extra] if ":" in extra.rsplit("]", 1)[-1] else [extra, f"{extra}:*"]
    origins += list(config.allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def cmd_serve_http(config: Config, host: str, port: int, stateless: bool) -> int:
    """Streamable HTTP at http://host:port/mcp, with bearer API keys from MCP_API_KEYS."""
    if not config.api_keys and not is_loopback(host):
        log.error(
            "Refusing to serve HTTP on %s without an API key: anyone who reaches the port could read and change every "
            "task. Set MCP_API_KEYS=name:key[,name:key...] (make a key with python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or bind to 127.0.0.1.", host,
        )
        return 2
    import uvicorn

    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{port}"
    security = transport_security(config, host, port)
    app = build_server(config, http_url=url).streamable_http_app(
        stateless_http=stateless, transport_security=security, host=host
    )
    log.info(
        "mcp-tasks %s serving streamable HTTP at %s/mcp (%s%s), %s; data in %s; Host headers allowed: %s",
        VERSION, url, "stateless" if stateless else "sessions", ", read-only" if config.read_only else "",
        f"API keys for {', '.join(name for name, _ in config.api_keys)}" if config.api_keys
        else "no API key (loopback only)", config.database.describe(), ", ".join(security.allowed_hosts),
    )
    # log_config=None: uvicorn's loggers go to our stderr handler (its own config prints access lines on stdout).
    uvicorn.run(app, host=host, port=port, log_config=None, log_level=config.log_level.lower(), timeout_graceful_shutdown=5)
    return 0


def cmd_serve(config: Config, args: argparse.Namespace | None) -> int:
    changes = {}
    if getattr(args, "read_only", False):
        changes["read_only"] = True
    if changes:
        from dataclasses import replace

        config = replace(config, **changes)
    transport = getattr(args, "transport", None) or config.transport
    if transport == "http":
        port = getattr(args, "port", None) or config.http_port
        stateless = getattr(args, "stateless", False) or config.http_stateless
        return cmd_serve_http(config, getattr(args, "host", None) or config.http_host, port, stateless)
    log.info(
        "mcp-tasks %s serving on stdio%s, data in %s", VERSION, " (read-only)" if config.read_only else "",
        config.database.describe(),
    )
    build_server(config).run()
    return 0


HELP_EPILOG = """examples:
  server.py                                  serve MCP over stdio (what Claude Code and Claude Desktop start)
  server.py --transport http --port 8765     serve streamable HTTP at http://127.0.0.1:8765/mcp
  server.py serve --transport http --host 0.0.0.0 --stateless   (needs MCP_API_KEYS)
  server.py init-db                          create missing tables and indexes
  server.py doctor                           check database, Ollama and contracts
  server.py call tasks_list '{"status": "pending"}'

Settings come from the environment and .env beside server.py; see .env.example."""


def _port(text: str) -> int:
    import argparse

    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1 to 65535)")
    return int(text)


def _serve_options(parser: argparse.ArgumentParser) -> None:
    import argparse

    # SUPPRESS: an option given before `serve` is not reset by the subcommand's own default.
    parser.add_argument("--transport", choices=("stdio", "http"), default=argparse.SUPPRESS,
                        help="stdio (default; MCP_TRANSPORT) or streamable HTTP")
    parser.add_argument("--host", default=argparse.SUPPRESS,
                        help="HTTP: address to bind (default 127.0.0.1; MCP_HTTP_HOST). Other than loopback needs MCP_API_KEYS")
    parser.add_argument("--port", type=_port, default=argparse.SUPPRESS, help="HTTP: port (default 8765; MCP_HTTP_PORT)")
    parser.add_argument("--stateless", action="store_true", default=argparse.SUPPRESS,
                        help="HTTP: no sessions, so several instances can share one database behind a load balancer "
                             "(MCP_HTTP_STATELESS)")
    parser.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                        help="list only the read tools and open the database read-only (READ_ONLY)")


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="server.py", description="mcp-tasks: task tools for AI agents over MCP.",
        usage="%(prog)s [serve] [--transport {stdio,http}] [--host HOST] [--port PORT] [--stateless] [--read-only]\n"
              "       %(prog)s init-db | doctor | call TOOL [JSON]",
        epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _serve_options(parser)
    sub = parser.add_subparsers(dest="command", title="commands (serve when none is given)", metavar="COMMAND")
    serve = sub.add_parser("serve", help="(default) serve MCP over stdio, or streamable HTTP with --transport http")
    _serve_options(serve)
    sub.add_parser("init-db", help="create missing tables and indexes, idempotently")
    sub.add_parser("doctor", help="check the database, the schema, Ollama and the contracts")
    call = sub.add_parser("call", help="call TOOL [JSON]: run one tool in-process and print its result")
    call.add_argument("tool", metavar="TOOL", help="tool name, e.g. tasks_list")
    call.add_argument("arguments", metavar="JSON", nargs="?", default="{}",
                      help="the arguments as one JSON object, e.g. '{\"status\": \"pending\"}' (default {})")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = None  # plain `server.py`, what MCP clients start: no argparse (its import and parser are ~7 ms of a cold start)
    if argv:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command not in (None, "serve") and any(
            hasattr(args, option) for option in ("transport", "host", "port", "stateless", "read_only")
        ):
            parser.error("--transport, --host, --port, --stateless and --read-only belong to serve")
    command = getattr(args, "command", None)

    try:
        config = config_from_environment()
    except TaskSystemError as exc:
        _setup_logging(None)
        log.error("%s", exc)
        return 2
    _setup_logging(config)
    try:
        if command == "init-db":
            return cmd_init_db(config)
        if command == "doctor":
            return cmd_doctor(config)
        if command == "call":
            return cmd_call(config, args.tool, args.arguments)
        return cmd_serve(config, args)
    except TaskSystemError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
