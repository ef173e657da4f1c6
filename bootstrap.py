"""The composition root: the one module that knows how the parts fit together.

It builds, in this order, and serves nothing:
  Config (config.py, made by the caller) → the database and the repository
  (infrastructure/, opened in the MCP server's lifespan, never at import time) → the change
  hub (infrastructure/change_feed.py, one per process) → the MCP server with its tools,
  resources, prompts and subscriptions (tools/) → for HTTP, the Starlette app with the MCP
  endpoint (transports/http.py) and the board (web/) sharing that repository and hub.

Serving is the command line's job (server.py: stdio; server_commands.py: HTTP, the board,
init-db, doctor, call). Tests and scripts build a server here with a dict-made Config.
The heavy imports (the SDK, the tools) happen inside the builders, so `server.py --help`
and the commands that need no MCP server never pay for them.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator

from config import Config
from domain.errors import TaskSystemError

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

VERSION = "0.1.0"  # the package's version too (pyproject.toml reads it here)

INSTRUCTIONS = """Task system shared by people and AI agents (MariaDB/SQLite).
Workflow: pending → in_progress → completed | failed | cancelled; in_progress → pending releases a task; failed → pending retries; completed and cancelled are final.
Typical loop: tasks_claim(assignee, assignee_type) takes the most urgent pending task atomically (safer than tasks_list → tasks_status(id, "in_progress") when several agents work) → work → quality_check(path, task_id) for code → tasks_result(...) → tasks_status(id, "completed").
Every change is recorded in the task's history (tasks_get shows it). Refusals say what to do next."""
READ_ONLY_NOTE = "\nThis server is read-only: it lists, reads and reports; it changes nothing."


def with_options(config: Config, *, read_only: bool = False, tools: str | None = None) -> Config:
    """The Config with the command line's --read-only and --tools, which win over the environment."""
    changes: dict[str, Any] = {}
    if read_only:
        changes["read_only"] = True
    if tools:
        from tools.profiles import parse

        changes["tool_profile"] = parse(tools)
    if not changes:
        return config
    from dataclasses import replace

    return replace(config, **changes)


def build_server(config: Config, *, http_url: str | None = None, stateless: bool = False):
    """The MCP server for this config; tests build it in-process with a dict-made Config.

    http_url: the server's own URL when it is going to serve streamable HTTP; with
    MCP_API_KEYS or MCP_OAUTH_ISSUER set, every HTTP request must then carry one of the keys or
    a signed-in access token as a bearer token (transports/oauth.py).
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
    from transports.sdk_private import tool_manager

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
        from transports.oauth import auth_options

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
    offered = select_tools(config.tool_profile, [tool.name for tool in tool_manager(mcp).list_tools()])
    for tool in tool_manager(mcp).list_tools():
        if tool.name not in offered:
            mcp.withhold_tool(tool.name, (
                f"MCP_TASKS_TOOLS={describe_tools(config.tool_profile)} leaves it out; add {tool.name} to "
                "MCP_TASKS_TOOLS (or use all) and restart the server."
            ))
        elif config.read_only and not (tool.annotations and tool.annotations.read_only_hint):
            mcp.withhold_tool(tool.name, "this server is read-only (READ_ONLY=true); it lists, reads and reports.")
    tools = tool_manager(mcp).list_tools()
    for tool in tools:
        if tool.name in CORE_TOOLS:
            tool.meta = {**(tool.meta or {}), ALWAYS_LOAD: True}
    register_prompts(mcp, {tool.name for tool in tools})  # each only where the tools its steps name are offered
    for tool in tools:
        strip_titles(tool.parameters)
        lean_input_schema(tool.parameters)
    publish_output_schemas(tools)
    return mcp


@dataclass(frozen=True)
class HttpApp:
    """What `build_http_app` made: the ASGI app to serve, the MCP server inside it, the URL
    it answers at, and the Host and Origin headers it accepts."""

    served: Any
    mcp: Any
    url: str
    security: TransportSecuritySettings


def build_http_app(config: Config, host: str, port: int, stateless: bool) -> HttpApp:
    """Streamable HTTP at /mcp (bearer keys or sign-in, session caps) and the board at /,
    sharing one repository and one change watcher: one pool, one poller per process."""
    from transports.http import mcp_http_app, transport_security
    from transports.key_throttle import throttle_bearer_keys
    from web.app import attach_board, build_board

    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{port}"
    security = transport_security(config, host, port)
    mcp = build_server(config, http_url=url, stateless=stateless)
    app = mcp_http_app(mcp, config, host, url, stateless, security)
    # The board for people at / (same keys, Host and Origin rules); /mcp stays the MCP endpoint.
    sign_in = None
    if config.oauth_issuer and config.oauth_client_id:  # people sign in to the board through the provider
        from transports.oauth import audience, principal_check
        from web.oauth_login import OAuthSignIn

        sign_in = OAuthSignIn(config.oauth_issuer, config.oauth_client_id, audience(config, url), principal_check(config, url))
    board = build_board(config, allowed_hosts=security.allowed_hosts, allowed_origins=security.allowed_origins,
                        shared=mcp.current_state, sign_in=sign_in)
    attach_board(app, board)
    served = app
    if config.api_keys:  # a signed token cannot be guessed; an expired one must not lock out its address
        # Guessing keys at /mcp is paused as at the board's sign-in, by the same count: one throttle for both doors.
        served = throttle_bearer_keys(app, board.throttle)
    return HttpApp(served=served, mcp=mcp, url=url, security=security)


def build_board_app(config: Config, port: int) -> Any:
    """The board alone, on loopback, without /mcp (`server.py board`)."""
    from transports.http import transport_security
    from web.app import build_board

    security = transport_security(config, "127.0.0.1", port)
    return build_board(config, allowed_hosts=security.allowed_hosts, allowed_origins=security.allowed_origins)
