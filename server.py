"""mcp-tasks: an MCP server for the human–AI task system. The command line.

It reads the arguments and the Config, sets up logging, and asks the composition root
(bootstrap.py, the one place where things are wired: config → database → repository →
change hub → MCP server → HTTP app) for what to serve; plain `server.py` serves MCP over
stdio. Nothing connects at import time; the database is opened on the first call that needs
it, so the server answers `initialize` and `tools/list` at once even when the database is down.
stdout belongs to the protocol: every log line goes to stderr.
The other commands (init-db, doctor, call, board, HTTP, --help) are in server_commands.py,
so that the file every MCP session starts, and Python compiles anew each time, stays short.
`VERSION` and `build_server` are bootstrap's, importable from here as before.
"""
from __future__ import annotations

import gc
import logging
import sys
from typing import TYPE_CHECKING

from bootstrap import VERSION, build_server, with_options
from config import Config, config_from_environment
from domain.errors import TaskSystemError
from domain.secrets import scrub

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("mcp-tasks")


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
    if getattr(args, "read_only", False) or getattr(args, "tools", None):
        config = with_options(config, read_only=getattr(args, "read_only", False), tools=getattr(args, "tools", None))
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

        from transports.stdio_transport import serve_stdio

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
