"""The board as a Starlette app: routes, the request guard, and the actions.

build_board(config, security) makes it; server_commands serves it alone (`server.py board`)
or beside /mcp (`--transport http`, attach_board). Every action calls the repository methods
the tools call, with the same argument rules (validators/input_rules.py) and history; a refusal is
shown on the page, with what the person typed kept in the form.
"""
from __future__ import annotations

import functools
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from config import Config
from domain.errors import TaskSystemError
from domain.secrets import scrub
from validators.roles import ADMIN, BOARD_SCOPES, WRITE
from web import actions
from web.actions import ascii_number
from web.html import Safe
from web.live import TOO_MANY_STREAMS, StreamBudget
from web.login_throttle import LoginThrottle
from web.refusals import for_people
from web.when import parse as parse_time
from web.pages import (
    LIST_PARAMS, NOTICES, View, board_page, layout, login_page, login_throttled_page, message_page, new_task_page,
    stats_page, task_page,
)
from web.oauth_login import PERSON_COOKIE, provider_callback, provider_start
from web.security import CSRF_COOKIE, NAME_COOKIE, SESSION_COOKIE, SESSION_SECONDS, BoardSecurity, clean_name, local_path

log = logging.getLogger("mcp-tasks.board")
STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {"board.css": "text/css; charset=utf-8", "board.js": "text/javascript; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
COLUMN_LIMIT = 25  # cards per status column; "more…" pages on
MAX_FORM_BYTES = 256 * 1024  # a comment or description is at most 64 KiB; a form is never bigger than this
HTTP_STATUS = {"invalid_argument": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "unavailable": 503}
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" on its own form posts.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def signed_in(page: Callable[[Any, Request, View], Awaitable[Response]]) -> Callable[[Any, Request], Awaitable[Response]]:
    """A page handler given its viewer; with keys and no session, the login form instead
    (status 401), and the handler does not run: not one byte of task data."""

    @functools.wraps(page)
    async def handler(self: Any, request: Request) -> Response:
        view = await self.view(request)
        if view.who is None:
            return self.login_required(request, view)
        return await page(self, request, view)

    return handler


class Guard:
    """Host check for every request, security headers on every answer, a cap on POST bodies."""

    def __init__(self, app: ASGIApp, security: BoardSecurity):
        self.app, self.security = app, security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.security.host_allowed(headers.get("host")):
            log.warning("board: refused a request with Host %r (not one this server answers to)", headers.get("host"))
            await PlainTextResponse("Invalid Host header", status_code=421)(scope, receive, send)
            return
        if scope["method"] == "POST":
            length = headers.get("content-length")
            if ascii_number(length, MAX_FORM_BYTES) is None:  # missing, not ASCII digits, or too large
                await PlainTextResponse("The form is too large (or has no Content-Length).", status_code=413)(scope, receive, send)
                return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Board:
    def __init__(self, config: Config, security: BoardSecurity, shared: Callable[[], Any] | None = None,
                 throttle: LoginThrottle | None = None, sign_in: Any = None):
        self.config, self.security = config, security
        self.sign_in = sign_in  # web.oauth_login.OAuthSignIn: people sign in through the identity provider
        self.throttle = throttle or LoginThrottle()  # failed sign-ins, per client address and overall
        self.shared = shared  # the MCP server's running AppState, when served beside /mcp
        self.db: Any = None
        self.repository: Any = None
        self.sessions: Any = None  # infrastructure.board_sessions.BoardSessions, once the database is open
        self.streams = StreamBudget()  # open and recently opened /events streams, per session
        self.hub: Any = None
        routes = [
            Route("/", self.board, methods=["GET"]),
            Route("/tasks/{task_id:int}", self.task, methods=["GET"]),
            Route("/tasks/{task_id:int}/{action}", self.task_action, methods=["POST"]),
            Route("/new", self.new_task, methods=["GET", "POST"]),
            Route("/stats", self.stats, methods=["GET"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/oauth/start", self.oauth_start, methods=["GET"]),
            Route("/oauth/callback", self.oauth_callback, methods=["GET"]),
            Route("/name", self.set_name, methods=["POST"]),
            Route("/events", self.events, methods=["GET"]),
            Route("/static/{name}", self.static, methods=["GET"]),
            Route("/favicon.ico", self.favicon, methods=["GET"]),  # asked for by browsers whatever the page says
        ]
        self.app = Guard(Starlette(routes=routes, lifespan=self._starlette_lifespan), security)

    # ---- lifecycle -----------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        from infrastructure.board_sessions import BoardSessions

        """Beside /mcp: the MCP server's repository and its change watcher (services["changes"]),
        which its lifespan opened and will close. Alone: a database and a watcher of its own."""
        if self.shared is not None:
            state = self.shared()
            self.repository, self.db = state.repository, state.repository.db
            self.sessions = BoardSessions(self.db)
            shared_hub = self.hub = state.services.get("changes")
            try:
                yield
            finally:
                if self.hub is not shared_hub:  # one the board had to start itself
                    await self._close_hub()
            return
        from infrastructure.database import Database
        from infrastructure.task_repository import TaskRepository

        config = self.config
        self.db = Database(config.database, config.database_source, read_only=config.read_only)
        self.repository = TaskRepository(
            self.db, quality_gate=config.quality_gate, lease_minutes=config.lease_minutes, max_attempts=config.max_attempts
        )
        self.sessions = BoardSessions(self.db)
        try:
            yield
        finally:
            await self._close_hub()
            self.db.close()

    async def _close_hub(self) -> None:
        if self.hub is not None:
            await self.hub.aclose()  # ends every open event stream
            self.hub = None

    @asynccontextmanager
    async def _starlette_lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.lifespan():
            yield

    async def run(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(fn)

    # ---- who is looking -----------------------------------------------------------------------

    def _csrf_cookie(self, request: Request) -> str:
        cookie = request.cookies.get(CSRF_COOKIE)
        if not cookie or len(cookie) > 64:
            cookie = getattr(request.state, "new_csrf", None) or self.security.new_csrf_cookie()
            request.state.new_csrf = cookie
        return cookie

    async def view(self, request: Request) -> View:
        """The viewer; who is None when keys are set and no signed-in session's cookie came
        (a well-signed cookie whose session was signed out, here or on another instance, too)."""
        security = self.security
        scopes = None
        if security.needs_login:
            who = None
            claim = security.session_claim(request.cookies.get(SESSION_COOKIE))
            if claim is not None:
                try:
                    if await self.run(lambda: self.sessions.active(claim[1], claim[0])):
                        who = claim[0]
                        request.state.session = claim[1]
                except TaskSystemError as exc:
                    log.warning("board: cannot check a session (%s); shown the sign-in form", scrub(str(exc)))
            scopes = security.scopes_of(who) if who else None
            person = self.sign_in.person(request.cookies.get(PERSON_COOKIE)) if who is None and self.sign_in else None
            if person:
                who, scopes = person
        else:
            who = clean_name(request.cookies.get(NAME_COOKIE)) or security.default_actor
        # A key whose role cannot write sees the board as a read-only one: no forms, every POST refused.
        return View(who=who, csrf=security.csrf_token(self._csrf_cookie(request)),
                    read_only=security.read_only or (scopes is not None and WRITE not in scopes), keys=security.needs_login,
                    scopes=scopes)

    def html(self, request: Request, view: View, title: str, body: Safe, status: int = 200, **messages: Any) -> Response:
        """The page; `here` is the address it belongs at, when that is not the one it answers
        (a refused POST): board.js puts it in the address bar, so a reload reads, never re-sends."""
        response = HTMLResponse(layout(view, title, body, **messages), status_code=status, headers={"Cache-Control": "no-store"})
        self._set_csrf(request, response)
        return response

    def _set_csrf(self, request: Request, response: Response) -> None:
        new = getattr(request.state, "new_csrf", None)
        if new:
            response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")

    def login_required(self, request: Request, view: View) -> Response:
        """With keys and no session: the login form, and not one byte of task data."""
        path = request.url.path if request.method == "GET" else "/"
        return self.html(request, view, "Sign in", self.login_form(view, path), status=401)

    def login_form(self, view: View, path: str) -> Safe:
        return login_page(view, path, keys=bool(self.security.keys), provider=self.sign_in is not None)

    async def live(self, view: View) -> View:
        """The page's SSE URL, starting after the feed's head when the page was read, and the
        database's clock its times are told against."""
        from infrastructure.change_feed import ChangeFeed

        try:
            # settle=0: a page read may not wait on a hole; a change it already shows only reloads it.
            head, now = await self.run(lambda: (ChangeFeed(self.db).head(settle=0), self.repository.clock()))
        except TaskSystemError as exc:  # the page is still worth showing (or its read's own refusal)
            log.warning("board: no live updates for this page: %s", scrub(str(exc)))
            return view
        view.events, view.now = f"/events?after={int(head)}", parse_time(now)
        return view

    # ---- pages -------------------------------------------------------------------------------

    @signed_in
    async def board(self, request: Request, view: View) -> Response:
        try:
            f = actions.parse_filters(request.query_params)
        except TaskSystemError as exc:
            return self.refused(request, view, exc, "Board", Safe(""))
        view = await self.live(view)

        def read() -> dict[str, dict[str, Any]]:
            columns = {}
            for status in ("pending", "in_progress", "completed", "failed", "cancelled"):
                offset = f["offset"] if f.get("status") == status else 0
                chosen = dict(type=f.get("type"), assignee=f.get("assignee"), priority=f.get("priority"), label=f.get("label"),
                              ready=f.get("ready"), limit=COLUMN_LIMIT, offset=offset)
                if f.get("search"):  # a search's own order (relevance), with the cards' facts read after
                    page = self.repository.list_tasks(status=status, search=f["search"], **chosen)
                    facts = self.repository.card_facts([row["id"] for row in page["tasks"]])
                    for row in page["tasks"]:
                        row.update(facts[row["id"]])
                else:  # claim order for the open columns (the urgent task on top), newest first for the rest
                    page = self.repository.column_page(status, **chosen)
                columns[status] = page
            return columns

        try:
            columns = await self.run(read)
        except TaskSystemError as exc:
            return self.refused(request, view, exc, "Board", Safe(""))
        return self.html(request, view, "Board", board_page(columns, f, view.now))

    @signed_in
    async def task(self, request: Request, view: View) -> Response:
        task_id = request.path_params["task_id"]
        view = await self.live(view)
        try:
            query = actions.parse_list_offsets(request.query_params, LIST_PARAMS)
            task = await self.run(lambda: self.repository.board_task(task_id, query))
        except TaskSystemError as exc:
            return self.refused(request, view, exc, f"Task {task_id}", Safe(""))
        notice = NOTICES.get(request.query_params.get("ok", ""))
        return self.html(request, view, f"#{task['id']} {task['title']}", task_page(view, task, query=query), notice=notice)

    @signed_in
    async def stats(self, request: Request, view: View) -> Response:
        from infrastructure.status_history import status_history

        view = await self.live(view)
        try:
            stats, history = await self.run(lambda: (self.repository.statistics(), status_history(self.db)))
        except TaskSystemError as exc:
            return self.refused(request, view, exc, "Statistics", Safe(""))
        return self.html(request, view, "Statistics", stats_page(stats, history))

    @signed_in
    async def new_task(self, request: Request, view: View) -> Response:
        if request.method == "GET":
            if view.read_only:
                return self.html(request, view, "Read-only", message_page("This board is read-only: it shows, it changes nothing."), 403)
            return self.html(request, view, "New task", new_task_page(view, {}))
        form, refusal = await self.checked_post(request, view)
        if refusal:
            return refusal
        try:
            task = await self.run(lambda: actions.create(self.repository, form, view.who))
        except TaskSystemError as exc:
            return self.refused(request, view, exc, "New task", new_task_page(view, form), here="/new")
        return RedirectResponse(f"/tasks/{task['id']}?ok=created", status_code=303)

    @signed_in
    async def task_action(self, request: Request, view: View) -> Response:
        task_id, action = request.path_params["task_id"], request.path_params["action"]
        act = actions.ACTIONS.get(action)
        if act is None:
            return self.html(request, view, "Not found", message_page(f"There is no action {action[:40]!r}."), 404)
        form, refusal = await self.checked_post(request, view, needs=BOARD_SCOPES.get(action, ADMIN))
        if refusal:
            return refusal
        try:
            done = await self.run(lambda: act(self.repository, task_id, form, view.who))
        except TaskSystemError as exc:
            kept = {"comment": form.get("content", "")} if action == "comment" else {"send_back": form.get("content", "")}
            try:
                task = await self.run(lambda: self.repository.board_task(task_id))
                body = task_page(view, task, kept)
            except TaskSystemError:
                body = Safe("")
            return self.refused(request, view, exc, f"Task {task_id}", body, here=f"/tasks/{task_id}")
        return RedirectResponse(f"/tasks/{task_id}?ok={done}", status_code=303)

    def refused(self, request: Request, view: View, exc: TaskSystemError, title: str, body: Safe, here: str | None = None) -> Response:
        if exc.code not in HTTP_STATUS:
            log.error("board: %s", scrub(str(exc)), exc_info=exc)
        return self.html(request, view, title, body, status=HTTP_STATUS.get(exc.code, 500), error=for_people(exc), here=here)

    # ---- POST checks ---------------------------------------------------------------------------

    async def checked_post(self, request: Request, view: View, *, writes: bool = True,
                           needs: str = WRITE) -> tuple[dict[str, str], Response | None]:
        """The form of a POST that passed the read-only, role, Origin and CSRF checks; else the refusal."""
        if writes and self.security.read_only:
            return {}, self.html(request, view, "Read-only", message_page(
                "This board is read-only (READ_ONLY=true): it shows tasks and changes nothing."), 403)
        if writes and not view.may(needs):
            log.warning("board: refused a POST to %s by %s: it needs %s", request.url.path, view.who, needs)
            return {}, self.html(request, view, "Refused", message_page(
                f"This needs {needs}, and your role does not include it; nothing was changed."), 403)
        origin = request.headers.get("origin")
        if not self.security.origin_allowed(origin):
            log.warning("board: refused a POST to %s from Origin %r", request.url.path, origin)
            return {}, self.html(request, view, "Refused", message_page(
                "This form was not sent from this board (its Origin is not one this server answers to); nothing was changed."), 403)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not self.security.csrf_ok(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
            return {}, self.html(request, view, "Refused", message_page(
                "The form's security token is missing or out of date; nothing was changed. Reload the page and try again."), 403)
        return form, None

    # ---- login and name ----------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        view = await self.view(request)
        if not self.security.needs_login:
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            return self.login_required(request, view) if view.who is None else RedirectResponse("/", status_code=303)
        # The client's address as uvicorn gives it (behind a proxy on this host: X-Forwarded-For).
        address = request.client.host if request.client else ""
        wait, everyone = self.throttle.retry_after(address)
        if wait:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + wait))
            response = self.html(request, view, "Sign-in paused", login_throttled_page(wait, until, everyone), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        form, refusal = await self.checked_post(request, view, writes=False)
        if refusal:
            return refusal
        name = self.security.key_name(form.get("key", ""))
        if name is None:
            self.throttle.failed(address)
            log.warning("board: a sign-in with an unknown key from %s was refused%s", address,
                        "; its sign-ins are paused" if self.throttle.retry_after(address)[0] else "")
            return self.html(request, view, "Sign in", self.login_form(view, form.get("next", "/")), 401,
                             error="That key is not one of this server's API keys (MCP_API_KEYS).")
        target = local_path(form.get("next", "/"))
        cookie, token = self.security.session_cookie(name)
        try:
            await self.run(lambda: self.sessions.start(token, name, SESSION_SECONDS))
        except TaskSystemError as exc:
            return self.html(request, view, "Sign in", self.login_form(view, target), HTTP_STATUS.get(exc.code, 500), error=for_people(exc))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https", path="/")
        self._set_csrf(request, response)
        return response

    async def logout(self, request: Request) -> Response:
        view = await self.view(request)
        form, refusal = await self.checked_post(request, view, writes=False)
        if refusal:
            return refusal
        token = getattr(request.state, "session", None)
        if token:  # ended on the server: the same cookie, copied elsewhere, is refused from now on
            await self.run(lambda: self.sessions.end(token))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        response.delete_cookie(PERSON_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # ---- sign-in through the identity provider (web/oauth_login.py) ----------------------------

    async def oauth_start(self, request: Request) -> Response:
        return await provider_start(self, request)

    async def oauth_callback(self, request: Request) -> Response:
        return await provider_callback(self, request)

    async def set_name(self, request: Request) -> Response:
        view = await self.view(request)
        if self.security.needs_login:
            return self.html(request, view, "Refused", message_page("With API keys, your key's name is who you are here."), 403)
        form, refusal = await self.checked_post(request, view, writes=False)
        if refusal:
            return refusal
        name = clean_name(form.get("name"))
        if name is None:
            return self.html(request, view, "Name", message_page(
                "A name is 1 to 100 letters, digits, spaces or . @ : / + - characters. Go back and give another."), 400)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(NAME_COOKIE, name, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    # ---- live updates and static files ---------------------------------------------------------

    async def events(self, request: Request) -> Response:
        """Server-sent events from the change feed (web/live.py). The browser's Last-Event-ID
        (on reconnect) or the page's `after` (the feed's head when the page was read) is where
        it resumes, so nothing is lost or sent twice; a resume point past the head (a restored
        database) starts at the head. Bounded per session: see web/live.py."""
        view = await self.view(request)
        if view.who is None:
            return PlainTextResponse("Sign in first.", status_code=401)
        from sse_starlette.sse import EventSourceResponse

        from infrastructure.change_feed import ChangeFeed, ChangeHub

        raw = request.headers.get("last-event-id") or request.query_params.get("after")
        after = ascii_number(raw, 2**63 - 1) if raw else None
        if raw and after is None:
            return PlainTextResponse(f"after={raw[:20]!r} is not a change number (a whole number in ASCII digits); "
                                     "reload the page.", status_code=400)
        session = getattr(request.state, "session", None)
        holder = session or f"address {request.client.host if request.client else ''}"
        # The open-rate bound is per signed-in session; without keys (loopback, one person) every
        # tab shares one address, and only the number of open streams is bounded.
        if self.streams.full(holder) or (session is not None and not self.streams.may_open(holder)):
            return PlainTextResponse(TOO_MANY_STREAMS, status_code=429, headers={"Retry-After": "30"})
        try:
            head = await self.run(lambda: ChangeFeed(self.db).head(settle=0))  # opened by the hundred: never wait
        except TaskSystemError as exc:
            return PlainTextResponse(for_people(exc), status_code=HTTP_STATUS.get(exc.code, 500))
        if after is not None and after > head:
            after = head  # a recreated or restored database: its new changes come from its own head
        if self.hub is None:
            self.hub = ChangeHub(self.db, interval=0.5, keep_seconds=self.config.change_feed_keep_seconds)
        return EventSourceResponse(self.streams.stream(self.hub, holder, after, head), ping=15,
                                   headers={"Cache-Control": "no-store"})

    async def favicon(self, request: Request) -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_TYPES:
            return PlainTextResponse("Not found", status_code=404)
        return Response((STATIC / name).read_bytes(), media_type=STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})


def build_board(
    config: Config, *, allowed_hosts: list[str], allowed_origins: list[str], shared: Callable[[], Any] | None = None,
    sign_in: Any = None,
) -> Board:
    """The board for this config, answering to these Host and Origin values; `shared` gives
    the running AppState of the MCP server it is served beside."""
    import getpass

    default = config.actor if config.actor != "mcp-tasks" else None
    if default is None:
        try:
            default = clean_name(getpass.getuser())
        except Exception:  # noqa: BLE001 - no user name on this system: the fallback below
            default = None
    security = BoardSecurity(
        keys=tuple(config.api_keys), allowed_hosts=tuple(allowed_hosts), allowed_origins=tuple(allowed_origins),
        default_actor=default or "board", read_only=config.read_only, roles=config.api_key_roles, people=sign_in is not None,
    )
    return Board(config, security, shared, sign_in=sign_in)


def attach_board(app: Starlette, board: Board) -> None:
    """Serve the board at / beside the MCP endpoint of the SDK's app: the board's routes come
    after /mcp, and its lifespan runs inside the app's (the MCP session manager's)."""
    app.router.routes.append(Mount("", app=board.app))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[Any]:
        async with inner(a) as state, board.lifespan():
            yield state

    app.router.lifespan_context = lifespan
