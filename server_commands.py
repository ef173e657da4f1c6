"""The command line beside serving over stdio: init-db, doctor, call, board, streamable HTTP, --help.
What they serve is built by the composition root (bootstrap.py); here it is only run.

server.py keeps only what an MCP client's plain `python server.py` runs. Python compiles
the script it starts from source every time (about 3 ms for these 250 lines more) but
imports a module like this one from cached bytecode, and only when a command needs it.
"""
from __future__ import annotations

import argparse
import json
import os
import logging
import sys

from bootstrap import VERSION, build_board_app, build_http_app, build_server
from config import Config, bounds
from domain.errors import TaskSystemError
from domain.secrets import scrub
from infrastructure.command_name import command, init_db
from transports.http import is_loopback

log = logging.getLogger("mcp-tasks")


def run(command: str, config: Config, args: argparse.Namespace) -> int:
    if command == "init-db":
        return cmd_init_db(config)
    if command == "doctor":
        return cmd_doctor(config, strict=getattr(args, "strict", False))
    if command == "board":
        return cmd_board(config, args.board_port, args.open)
    return cmd_call(config, args.tool, args.arguments)


def cmd_init_db(config: Config) -> int:
    from infrastructure.database import Database

    if config.database.kind == "mysql":
        from infrastructure.database_admin import ensure_database

        if ensure_database(config.database, config.database_source):
            print(f"created database {config.database.name!r} (utf8mb4)")
    from infrastructure.change_feed import ChangeFeed

    db = Database(config.database, config.database_source)
    try:
        applied = db.migrate()
        pruned = ChangeFeed(db).prune(config.change_feed_keep_seconds)
    finally:
        db.close()
    print(f"{config.database.describe()}: " + (f"applied {', '.join(applied)}" if applied else "schema already up to date"))
    if pruned:
        print(f"change feed: pruned {pruned} changes older than CHANGE_FEED_KEEP_DAYS={config.change_feed_keep_days:g}")
    return 0


def cmd_doctor(config: Config, strict: bool = False) -> int:
    """One line per check: OK, WARN (an optional part: Ollama) or FAIL, with the fix.

    Exit 1 when a required part failed (with strict, also on a warning), else 0: a health
    check of an install without Ollama passes."""
    from infrastructure.contract_loader import load_contracts
    from infrastructure.database import Database
    from infrastructure.ollama_client import OllamaClient

    lines: list[tuple[bool, str]] = []
    warnings: list[str] = []
    db = Database(config.database, config.database_source)
    try:
        count, missing, triggers = db.health()
        lines.append((True, f"database: {config.database.describe()} answers ({count} tasks)"))
        lines.append(
            (not missing, "schema: all tables present" if not missing
             else f"schema: missing {', '.join(missing)}; run `{init_db()}`")
        )
        if triggers and not missing:
            from infrastructure.foreign_writes import MISSING_ADVICE

            warnings.append(f"triggers: {len(triggers)} missing ({', '.join(triggers)}): {MISSING_ADVICE}")
    except TaskSystemError as exc:
        lines.append((False, f"database: {exc}"))
    finally:
        db.close()
    if config.database.kind != "sqlite":
        from infrastructure.database_admin import galera_nodes, judge_galera

        nodes = galera_nodes(config.database)
        if nodes:  # a Galera cluster: each listed node's state, and what an operator should fix
            ok, text, galera_warnings = judge_galera(nodes)
            lines.append((ok, text))
            warnings += galera_warnings
    with OllamaClient(config.ollama_host, min(config.ollama_timeout, 10)) as client:
        ok, text = client.check(config.ollama_model)
    text = text.removeprefix("OK ").removeprefix("FAIL ")
    if ok:
        lines.append((True, text))
    else:
        warnings.append(f"{text} (optional: only tasks_execute needs it)")
    catalog = load_contracts(config.contracts_dirs)
    problems = [f"{e['file']}: {e['reason']}" for e in catalog.load_errors]
    lines.append(
        (not problems, f"contracts: {len(catalog.contracts)} loaded from {', '.join(map(str, config.contracts_dirs))}"
         + (f"; problems: {'; '.join(problems)} (fix the file or CONTRACTS_DIR)" if problems else ""))
    )
    lines.append((True, "bounds: " + "; ".join(bounds(config))))
    for ok, text in lines:
        # scrub: a driver's or Ollama's message can quote a URL with a password, or a key.
        print(scrub(f"{'OK  ' if ok else 'FAIL'} {text}"))
    for text in warnings:
        print(scrub(f"WARN {text}"))
    failed = not all(ok for ok, _ in lines) or (strict and bool(warnings))
    return 1 if failed else 0


def cmd_call(config: Config, tool: str, arguments: str) -> int:
    """Run one tool in-process and print its result: trying tools from a shell."""
    import anyio
    from mcp import Client

    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError as exc:
        print(f"The arguments are not JSON ({exc}). Example: '{{\"status\": \"pending\"}}'", file=sys.stderr)
        return 2
    if not isinstance(args, dict):
        print(f"The arguments must be a JSON object of the tool's parameters, not {type(args).__name__} {arguments.strip()[:40]}. "
              f"Example: {command('call')} {tool} '{{\"id\": 1}}'", file=sys.stderr)
        return 2

    async def run() -> int:
        from dataclasses import replace

        from mcp.types import Implementation

        # Named, so that what a shell user creates is recorded as "mcp-tasks-cli#<session>".
        # Every tool: a shell user names the one to call, so no profile needs to spare them context.
        server = build_server(replace(config, tool_profile=("all",)))
        async with Client(server, client_info=Implementation(name="mcp-tasks-cli", version=VERSION)) as client:
            result = await client.call_tool(tool, args)
        text = (json.dumps(result.structured_content, ensure_ascii=False, indent=2) if result.structured_content is not None
                else "\n".join(getattr(c, "text", "") for c in result.content))
        try:
            print(text, flush=True)
        except BrokenPipeError:
            # `call ... | head` closed the pipe: the reader has what it wanted. Later writes (the
            # interpreter's flush at exit) go nowhere instead of raising again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1 if result.is_error else 0

    return anyio.run(run)


def cmd_serve_http(config: Config, host: str, port: int, stateless: bool) -> int:
    """Streamable HTTP at http://host:port/mcp, with bearer API keys from MCP_API_KEYS."""
    if not config.api_keys and not config.oauth_issuer and not is_loopback(host):
        log.error(
            "Refusing to serve HTTP on %s without an API key: anyone who reaches the port could read and change every "
            "task. Set MCP_API_KEYS=name:key[,name:key...] (make a key with python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or MCP_OAUTH_ISSUER (README \"Sign-in and roles\"), or bind to 127.0.0.1.", host,
        )
        return 2
    import uvicorn

    built = build_http_app(config, host, port, stateless)
    who = (f"API keys for {', '.join(name for name, _ in config.api_keys)}" if config.api_keys
           else "signed-in tokens only" if config.oauth_issuer else "no API key (loopback only)")
    log.info(
        "mcp-tasks %s serving streamable HTTP at %s/mcp (%s%s) and the board at %s/, %s; data in %s; Host headers allowed: %s",
        VERSION, built.url, "stateless" if stateless else "sessions", ", read-only" if config.read_only else "", built.url,
        who, config.database.describe(), ", ".join(built.security.allowed_hosts),
    )
    # log_config=None: uvicorn's loggers go to our stderr handler (its own config prints access lines on stdout).
    uvicorn.run(built.served, host=host, port=port, log_config=None, log_level=config.log_level.lower(), timeout_graceful_shutdown=5)
    return 0


def cmd_board(config: Config, port: int, open_browser: bool) -> int:
    """The board alone, for one person on this machine: loopback only, the URL on stderr."""
    import uvicorn

    host = "127.0.0.1"
    board = build_board_app(config, port)
    url = f"http://{host}:{port}/"
    print(f"mcp-tasks board: {url}  ({config.database.describe()}{', read-only' if config.read_only else ''}"
          f"{', sign in with an API key' if config.api_keys else ''}; Ctrl+C stops it)", file=sys.stderr, flush=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    uvicorn.run(board.app, host=host, port=port, log_config=None, log_level=config.log_level.lower(), timeout_graceful_shutdown=5)
    return 0


HELP_EPILOG = """examples:
  %(prog)s                                  serve MCP over stdio (what Claude Code and Claude Desktop start)
  %(prog)s --transport http --port 8765     serve streamable HTTP at http://127.0.0.1:8765/mcp
  %(prog)s serve --transport http --host 0.0.0.0 --stateless   (needs MCP_API_KEYS)
  %(prog)s board [--port 8766] [--open]     the task board in your browser, at http://127.0.0.1:8766/
  %(prog)s init-db                          create missing tables and indexes
  %(prog)s doctor [--strict]                check database, Ollama (optional) and contracts
  %(prog)s call tasks_list '{"status": "pending"}'

Settings come from the environment, then a .env file: MCP_TASKS_ENV_FILE, else .env beside
server.py (a clone), else ~/.config/mcp-tasks/.env (installed; %%APPDATA%%\\mcp-tasks\\.env on
Windows, ~/Library/Application Support/mcp-tasks/.env on macOS). See .env.example."""


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1 to 65535)")
    return int(text)


def _serve_options(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--tools", default=argparse.SUPPRESS, metavar="PROFILE",
                        help="tools to offer: core, standard (default), all, or tool names, comma-separated (MCP_TASKS_TOOLS)")


def build_parser() -> argparse.ArgumentParser:
    # `mcp-tasks` when installed (also for `python -m mcp_tasks`), `server.py` in a clone.
    prog = "server.py" if sys.argv[0].endswith("server.py") else "mcp-tasks"
    parser = argparse.ArgumentParser(
        prog=prog, description="mcp-tasks: task tools for AI agents over MCP.",
        usage="%(prog)s [serve] [--transport {stdio,http}] [--host HOST] [--port PORT] [--stateless] [--read-only] [--tools PROFILE]\n"
              "       %(prog)s board [--port PORT] [--open]\n"
              "       %(prog)s init-db | doctor | call TOOL [JSON]",
        epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    _serve_options(parser)
    sub = parser.add_subparsers(dest="command", title="commands (serve when none is given)", metavar="COMMAND")
    serve = sub.add_parser("serve", help="(default) serve MCP over stdio, or streamable HTTP with --transport http")
    _serve_options(serve)
    board = sub.add_parser("board", help="the task board for people, in your browser (loopback only; /mcp is not served)")
    board.add_argument("--port", dest="board_port", type=_port, default=8766, help="port on 127.0.0.1 (default 8766)")
    board.add_argument("--open", action="store_true", help="open the board in your web browser")
    sub.add_parser("init-db", help="create the database (MariaDB, if missing) and missing tables and indexes, idempotently")
    doctor = sub.add_parser("doctor", help="check the database, the schema, Ollama and the contracts")
    doctor.add_argument("--strict", action="store_true", help="exit 1 on a warning too (Ollama is optional otherwise)")
    call = sub.add_parser("call", help="call TOOL [JSON]: run one tool in-process and print its result")
    call.add_argument("tool", metavar="TOOL", help="tool name, e.g. tasks_list")
    call.add_argument("arguments", metavar="JSON", nargs="?", default="{}",
                      help="the arguments as one JSON object, e.g. '{\"status\": \"pending\"}' (default {})")
    return parser
