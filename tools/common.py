"""What every tool module shares: the app state, error mapping, compact results.

- `app(ctx)` is the lifespan state (config, repository, ...) built in server.py.
- `@tool_errors` turns our domain errors into `ToolError` (the message reaches the agent
  unchanged, as `isError: true`); anything else is a bug, and the SDK logs its traceback
  on stderr while the agent sees only that the tool failed.
- `respond(model)` returns a `CallToolResult` with the typed `structuredContent` and a
  compact JSON text block: the SDK's default pretty-printed copy is about twice the size,
  and agents pay for every byte of it in their context.
"""

import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from config import Config
from domain.errors import TaskSystemError
from domain.models import ActorType
from tools.http_auth import authenticated_name

F = TypeVar("F", bound=Callable[..., Any])


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


def app(ctx: Context) -> AppState:
    return ctx.request_context.lifespan_context


def tool_errors(fn: F) -> F:
    """Map domain errors to ToolError, for sync and async tools alike."""
    if _is_async(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except TaskSystemError as exc:
                raise ToolError(str(exc)) from exc

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TaskSystemError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _is_async(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


def respond(model: BaseModel) -> CallToolResult:
    data = model.model_dump(mode="json")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def actor(state: AppState, name: str | None, kind: str | None) -> tuple[str, ActorType]:
    """Who acts: the caller's name if given, else the HTTP request's API-key name, else the configured default."""
    return (name or authenticated_name() or state.config.actor), ActorType(kind or state.config.actor_type)


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
