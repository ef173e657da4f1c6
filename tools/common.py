"""What every tool module shares: the app state, refusals, identities, compact results.

- `app(ctx)` is the lifespan state (config, repository, ...) built in server.py.
- `TaskServer` is the SDK's MCPServer with one change at its single `call_tool` door
  (and, over HTTP, the X-MCP-Tools header's choice of tools applied to tools/list and calls):
  every tool's arguments are strict (unknown names refused, no "5" or true for an id) and
  every failure becomes one kind of refusal (`refusal()`): text `[code] message`, the same
  code and `retryable` in `_meta["mcp-tasks/error"]`, secrets scrubbed. Unexpected
  exceptions are logged with their traceback on stderr and reach the caller as `[internal]`.
- Over HTTP with keys or sign-in, `call_tool` first checks the principal's scopes
  (validators/roles.py): a call beyond them is refused `[forbidden]` naming the scope, and
  tools/list shows that principal only the tools its scopes allow.
- `actor()` says who acts (see its docstring): the principal when there is one; `own_name()`
  is the session's own name, which holds what the session takes.
- `respond(model)` returns a `CallToolResult` with the typed `structuredContent` and a
  compact JSON text block: the SDK's default pretty-printed copy is about twice the size,
  and agents pay for every byte of it in their context.
"""

import contextvars
import logging
import re
import secrets
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_json

from config import Config
from domain.errors import Forbidden, InvalidInput, TaskSystemError
from domain.models import NAME_MAX, ActorType
from domain.secrets import scrub
from tools import profiles
from transports.http_auth import current_principal
from transports.sdk_private import request_context, tool_manager
from validators.roles import READ, REVIEW, require, tool_scope
from validators.arguments import argument_errors_text

log = logging.getLogger("mcp-tasks")
ERROR_META = "mcp-tasks/error"  # _meta key of a refusal: {"code": ..., "retryable": ...}
DEFAULT_ACTOR = "mcp-tasks"  # config.actor when MCP_TASKS_ACTOR is not set


@dataclass
class AppState:
    """Everything a tool needs, built once per server process (see server.py)."""

    config: Config
    repository: Any  # infrastructure.task_repository.TaskRepository
    services: dict[str, Any]  # lazily built helpers (ollama client, contracts, ...), keyed by name
    lock: threading.RLock = field(default_factory=threading.RLock)  # builders may build other services

    def service(self, name: str, build: Callable[[], Any]) -> Any:
        """Build a helper on first use (its imports stay off the start-up path), then reuse it."""
        with self.lock:
            if name not in self.services:
                self.services[name] = build()
            return self.services[name]


class ResultModel(BaseModel):
    """A tool's result (structuredContent). Its validator and serializer are built on first
    use, not at import: ~23 result models cost every cold start instructions for tools a
    session may never call (bench/RESULTS.md "Start-up after issues 14 and 16"). tools/list
    does not need them either: the published output schemas come from output_schemas.json."""

    model_config = ConfigDict(defer_build=True)


def app(ctx: Context) -> AppState:
    return request_context(ctx).lifespan_context


def refusal(error: TaskSystemError) -> CallToolResult:
    """The error result every refusal takes. Never structuredContent: clients check it against
    the tool's outputSchema even on errors and would replace our message with their own."""
    return CallToolResult(
        content=[TextContent(type="text", text=scrub(f"[{error.code}] {error}"))],
        is_error=True,
        _meta={ERROR_META: {"code": error.code, "retryable": bool(error.retryable)}},
    )


class TaskServer(MCPServer):
    """MCPServer whose tools take strict arguments and answer every failure with `refusal()`."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.withheld: dict[str, str] = {}  # tool name -> why this server does not offer it
        self._properties: dict[str, dict[str, Any]] = {}  # full input-schema properties, built on first refusal

    def withhold_tool(self, name: str, reason: str) -> None:
        """Remove a tool; a call to it is refused as forbidden, with the reason."""
        self.remove_tool(name)
        self.withheld[name] = reason

    async def _handle_list_tools(self, ctx: Any, params: Any) -> Any:
        # The SDK's own handler (it has the request, which list_tools() does not), narrowed.
        listed = await super()._handle_list_tools(ctx, params)
        try:
            chosen = self._connection_tools(ctx)
        except InvalidInput as exc:
            raise MCPError(code=INVALID_PARAMS, message=f"[{exc.code}] {exc}") from exc
        if chosen is not None:
            listed.tools = [tool for tool in listed.tools if tool.name in chosen]
        principal = current_principal()
        if principal is not None:
            # A reader's model should not be shown (and pay context for) tools it would only be
            # refused: list what the principal's scopes allow. call_tool still checks each call.
            listed.tools = [tool for tool in listed.tools if tool_scope(tool.name) in principal.scopes]
        return listed

    def _connection_tools(self, ctx: Any) -> set[str] | None:
        """HTTP: the tools this request's X-MCP-Tools header picks among the server's own
        (it narrows, never widens, what MCP_TASKS_TOOLS offers); None without the header."""
        headers = getattr(getattr(ctx, "request", None), "headers", None)
        raw = headers.get(profiles.HEADER) if headers is not None else None
        if raw is None:
            return None
        offered = [tool.name for tool in tool_manager(self).list_tools()]
        return profiles.select(profiles.parse(raw), offered, setting="The X-MCP-Tools header")

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        token = _session_actor.set(_session_name(context))
        try:
            if name in self.withheld:
                raise Forbidden(f"{name} is not offered: {self.withheld[name]}")
            chosen = self._connection_tools(_request_context_or_none(context))
            if chosen is not None and name not in chosen:
                raise Forbidden(f"{name} is not offered on this connection: its X-MCP-Tools header leaves it out.")
            require_scope(tool_scope(name), name)
            tool = tool_manager(self).get_tool(name)
            if tool is None:
                raise InvalidInput(_unknown_tool(name, [t.name for t in tool_manager(self).list_tools()]))
            _make_strict(tool)
            return await super().call_tool(name, arguments, context)
        except MCPError:
            raise
        except Exception as exc:  # noqa: BLE001 - each failure becomes a refusal; bugs are logged below
            return refusal(self._as_refusal(name, exc))
        finally:
            _session_actor.reset(token)

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        try:
            require_scope(READ, f"Reading {str(uri)[:80]}")
        except Forbidden as exc:
            raise ResourceError(f"[forbidden] {exc}") from exc
        return await super().read_resource(uri, context)

    def _as_refusal(self, name: str, exc: Exception) -> TaskSystemError:
        if isinstance(exc, TaskSystemError):
            return exc
        if isinstance(exc, ToolError) and not isinstance(exc, UnexpectedToolError) and isinstance(exc.__cause__, ValidationError):
            log.info("Tool %r refused arguments: %s", name, sorted({str(e["loc"][0]) for e in exc.__cause__.errors() if e["loc"]}))
            return InvalidInput(argument_errors_text(name, exc.__cause__.errors(), self._input_properties(name)))
        cause: BaseException | None = exc
        while cause is not None:  # a domain error raised in a tool arrives wrapped by the SDK
            if isinstance(cause, TaskSystemError):
                log.info("Tool %r refused: [%s] %s", name, cause.code, scrub(str(cause)))
                return cause
            cause = cause.__cause__
        log.error("Tool %r raised an unexpected exception", name, exc_info=exc)
        return TaskSystemError(
            f"{name} failed unexpectedly; the server log has the details. "
            "Check with tasks_get whether anything changed before you retry."
        )

    def _input_properties(self, name: str) -> dict[str, Any]:
        if name not in self._properties:
            tool = tool_manager(self).get_tool(name)
            schema = tool.fn_metadata.arg_model.model_json_schema() if tool else {}
            self._properties[name] = schema.get("properties") or {}
        return self._properties[name]


def _request_context_or_none(context: Any) -> Any:
    try:
        return request_context(context) if context is not None else None
    except Exception:  # noqa: BLE001 - an in-process call has no request
        return None


def _make_strict(tool: Any) -> None:
    """Every argument model is strict before its first call: the one door all calls pass
    (call_tool) swaps it in. Made here rather than at registration: 15 strict models cost
    ~55M instructions, 1.7% of a cold start (bench/RESULTS.md "Start-up after issues 14 and
    16"), for tools a session may never call; tools/list uses the SDK's own model's schema."""
    config = tool.fn_metadata.arg_model.model_config
    if not (config.get("strict") and config.get("extra") == "forbid"):
        tool.fn_metadata.arg_model = _strict(tool.fn_metadata.arg_model)


def _strict(model: type[BaseModel]) -> type[BaseModel]:
    """The tool's argument model with unknown names refused and no type coercion: JSON true,
    "5" and 5.0 are not the id 5 (pydantic's lax mode takes all three)."""
    config = ConfigDict(**{**model.model_config, "strict": True, "extra": "forbid"})
    return type(model.__name__, (model,), {"model_config": config, "__module__": model.__module__})


def _unknown_tool(name: str, offered: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, offered, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"There is no tool {name[:60]!r}.{hint} Tools: {', '.join(sorted(offered))}."


# ---- who acts ------------------------------------------------------------------------------

_session_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcp_tasks_session_actor", default=None)
_suffixes: dict[int, tuple[weakref.ref, str]] = {}  # id(client's initialize params) -> (ref, name with suffix)
_suffix_lock = threading.Lock()
STATELESS_PROTOCOL = "2026-07-28"
_UNPRINTABLE = re.compile(r"[^\w.@:/+\- ]+")


def _session_name(context: Any) -> str | None:
    """The client's own name (initialize's clientInfo.name) plus a suffix for this session,
    e.g. "claude-code#3fa2": two sessions of the same client are two actors. Worked out once
    per session (keyed by its initialize params) and then looked up: it runs on every call."""
    try:
        params = request_context(context).session.client_params
    except Exception:  # noqa: BLE001 - no request (in-process call): no session name
        return None
    entry = _suffixes.get(id(params))
    if entry is not None and entry[0]() is params:
        return entry[1]
    try:
        name = params.client_info.name
    except Exception:  # noqa: BLE001 - no clientInfo: no session name
        return None
    name = _UNPRINTABLE.sub("", name or "").strip()[: NAME_MAX - 5]
    if not name:
        return None
    if str(getattr(params, "protocol_version", "")) >= STATELESS_PROTOCOL:
        # The 2026-07-28 protocol has no session: each request stands alone (its params are new
        # each time, so nothing is kept for it), and a per-session suffix would name the same
        # agent anew on every call. The client's name it is.
        return name
    with _suffix_lock:
        entry = _suffixes.get(id(params))
        if entry is None or entry[0]() is not params:
            named = f"{name}#{secrets.token_hex(2)}"
            entry = (weakref.ref(params, lambda _r, key=id(params): _suffixes.pop(key, None)), named)
            _suffixes[id(params)] = entry
    return entry[1]


def respond(model: BaseModel, exclude_unset: bool = False) -> CallToolResult:
    """The result with `structuredContent` and, as its text, the same data as compact JSON
    (what the MCP spec asks of a tool with structured results, for clients that read only
    text; bench/RESULTS.md "Cost of a call" has the figures behind keeping it whole).
    Serialised once, on the worker thread that ran the tool: the model to plain data, and
    that data to JSON by pydantic's encoder (3x faster than json.dumps; the same JSON values).
    exclude_unset: leave out the fields the result did not set (tasks_list's compact rows)."""
    data = model.model_dump(mode="json", exclude_unset=exclude_unset)
    text = to_json(data).decode("utf-8")
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def actor(state: AppState, name: str | None, kind: str | None) -> tuple[str, ActorType]:
    """Who acts. Over HTTP with an API key or a signed-in token, the principal: a call that
    names someone else is recorded as `name (via principal)`, never as that someone alone; the
    kind is the call's, else the principal's (a signed-in person is human, a client ai).
    Without a principal: the name the call gives; else MCP_TASKS_ACTOR when set; else the
    session's client name with its suffix; else mcp-tasks."""
    principal = current_principal()
    if principal is not None:
        return via(name, principal.name), ActorType(kind or principal.kind or state.config.actor_type)
    configured = state.config.actor if state.config.actor != DEFAULT_ACTOR else None
    who = name or configured or _session_actor.get() or state.config.actor
    return who, ActorType(kind or state.config.actor_type)


def via(name: str | None, principal: str) -> str:
    """`name (via principal)` for a name that is not the principal's, within the 100 characters
    of the history's author column (the name is shortened, never the principal)."""
    if not name or name == principal:
        return principal
    suffix = f" (via {principal})"
    if name.endswith(suffix) or len(suffix) >= NAME_MAX:
        return name if name.endswith(suffix) else principal
    return name[: NAME_MAX - len(suffix)] + suffix


def require_scope(needed: str, what: str) -> None:
    """Refuse (Forbidden, naming the scope) when the request's principal lacks `needed`."""
    principal = current_principal()
    if principal is not None:
        require(principal.scopes, needed, what, principal.name)


def may_review() -> bool:
    """Whether this call may cancel a task another agent holds (tasks:review; always without a principal)."""
    principal = current_principal()
    return principal is None or REVIEW in principal.scopes


def own_name(state: AppState) -> str:
    """The calling session's own name (its default actor): counts as the holder of what it took."""
    return actor(state, None, None)[0]


def principal(state: AppState, session: Any) -> str:
    """Who owns what a request creates that others must not see (an MCP task's record): the
    API key's name (`key:<name>`) or a signed-in token's subject (`oauth:<sub>`) over HTTP; else the name this caller acts under by default, MCP_TASKS_ACTOR
    or the client's own name (on stdio that is the one client of the process, and the same
    name after a restart, so a client can still ask about a run its last process left). OAuth
    subject (`oauth:<sub>`). `session`: the request's ServerSession."""
    who = current_principal()
    if who is not None:
        return f"{who.via}:{who.subject}"
    configured = state.config.actor if state.config.actor != DEFAULT_ACTOR else None
    try:
        client = session.client_params.client_info.name
    except Exception:  # noqa: BLE001 - no clientInfo (it is optional on 2026-07-28)
        client = None
    return f"name:{configured or _UNPRINTABLE.sub('', client or '').strip()[:NAME_MAX] or state.config.actor}"


def strip_titles(schema: dict[str, Any]) -> None:
    """pydantic puts a `title` on every property; across all tools that is ~15% of tools/list."""
    if isinstance(schema, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for prop in props.values():
                if isinstance(prop, dict):
                    prop.pop("title", None)
                    strip_titles(prop)
        for key in ("items", "anyOf", "oneOf", "allOf"):
            sub = schema.get(key)
            if isinstance(sub, dict):
                strip_titles(sub)
            elif isinstance(sub, list):
                for item in sub:
                    strip_titles(item)
        for sub in (schema.get("$defs") or {}).values():
            sub.pop("title", None)
            strip_titles(sub)
