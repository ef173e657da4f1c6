"""Signing people in to the board through the identity provider: the authorization code flow
with PKCE (S256), as a public client (MCP_OAUTH_CLIENT_ID), against MCP_OAUTH_ISSUER.

- GET /oauth/start: a fresh state and code verifier go into a short-lived cookie (HttpOnly,
  SameSite=Lax: the provider's redirect back is a cross-site navigation, which a Strict cookie
  would not come with), signed so it cannot be forged; the browser goes to the provider's
  authorization endpoint with the S256 challenge and `resource` = the server's audience.
- GET /oauth/callback: the state must match the cookie's (and `iss`, when the provider sends
  it, the issuer: RFC 9207), the code is exchanged at the token endpoint with the verifier,
  and the access token is checked exactly as one sent to /mcp is (the `verify` it is given:
  transports/oauth.py's verifier, wired in server_commands; web imports no mcp). The person's
  session cookie names them and their scopes, signed with this process's secret.

Person sessions end when the server restarts (the secret is made at start); key sessions do not.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.parse
from html import escape as html_escape
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import anyio
from starlette.responses import HTMLResponse, RedirectResponse

from domain.errors import TaskSystemError
from domain.secrets import scrub
from infrastructure.jwks import FETCH_TIMEOUT, MAX_DOCUMENT_BYTES, discover
from validators.roles import READ, SCOPES, granted
from web.pages import message_page
from web.security import local_path

log = logging.getLogger("mcp-tasks.board")
FLOW_COOKIE = "board_oauth"
PERSON_COOKIE = "board_person"
FLOW_SECONDS = 600
PERSON_SECONDS = 8 * 3600
# Verified access token -> (name, scopes) of the principal, or None when refused.
Verify = Callable[[str], Awaitable["tuple[str, list[str]] | None"]]


class SignInRefused(Exception):
    """The sign-in did not complete; the message says why and what to do."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class OAuthSignIn:
    issuer: str
    client_id: str
    audience: str
    verify: Verify
    _secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _metadata: dict[str, Any] | None = None

    # ---- signed cookies --------------------------------------------------------------------

    def _seal(self, purpose: str, data: dict[str, Any]) -> str:
        body = _b64(json.dumps(data, separators=(",", ":")).encode())
        mac = hmac.new(self._secret, f"{purpose}.{body}".encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _open(self, purpose: str, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or cookie.count(".") != 1 or len(cookie) > 4096:
            return None
        body, mac = cookie.split(".")
        wanted = hmac.new(self._secret, f"{purpose}.{body}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(wanted, mac):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        return data if isinstance(data, dict) and data.get("exp", 0) > time.time() else None

    def person_cookie(self, name: str, scopes: list[str]) -> str:
        return self._seal("person", {"name": name, "scopes": sorted(granted(scopes)), "exp": int(time.time()) + PERSON_SECONDS})

    def person(self, cookie: str | None) -> tuple[str, frozenset[str]] | None:
        """(name, scopes) of a valid person session cookie; None otherwise."""
        data = self._open("person", cookie)
        if data is None or not isinstance(data.get("name"), str):
            return None
        return data["name"], frozenset(s for s in data.get("scopes", []) if s in SCOPES)

    # ---- the flow ----------------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            found = await anyio.to_thread.run_sync(discover, self.issuer)
            for needed in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(found.get(needed), str):
                    raise SignInRefused(f"The identity provider's discovery document has no {needed}; "
                                        "the board cannot sign people in through it. Sign in with an API key.")
            self._metadata = found
        return self._metadata

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """(the provider's authorization URL, the flow cookie) for a new sign-in."""
        metadata = await self.metadata()
        verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": " ".join(("openid", "profile", *SCOPES)), "state": state, "code_challenge": challenge,
            "code_challenge_method": "S256", "resource": self.audience,
        })
        cookie = self._seal("flow", {"state": state, "verifier": verifier, "next": next_path, "redirect": redirect_uri,
                                     "exp": int(time.time()) + FLOW_SECONDS})
        endpoint = metadata["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", cookie

    async def finish(self, query: dict[str, str], flow_cookie: str | None) -> tuple[str, list[str], str]:
        """The provider sent the browser back: (name, scopes, where to go next), or SignInRefused."""
        flow = self._open("flow", flow_cookie)
        if flow is None:
            raise SignInRefused("This sign-in was not started here, or took longer than 10 minutes. Start it again.")
        if "error" in query:
            raise SignInRefused(f"The identity provider refused the sign-in: {query['error'][:100]} "
                                f"{query.get('error_description', '')[:200]}".strip())
        if not hmac.compare_digest(query.get("state", ""), flow["state"]):
            raise SignInRefused("The sign-in's state does not match the one this browser started; nothing was done. Start again.")
        if "iss" in query and query["iss"].rstrip("/") != self.issuer.rstrip("/"):
            raise SignInRefused("The answer came from another issuer than MCP_OAUTH_ISSUER; nothing was done.")
        metadata = await self.metadata()
        form = {"grant_type": "authorization_code", "code": query.get("code", ""), "redirect_uri": flow["redirect"],
                "client_id": self.client_id, "code_verifier": flow["verifier"]}
        answer = await anyio.to_thread.run_sync(_post_form, metadata["token_endpoint"], form)
        token = answer.get("access_token")
        if not isinstance(token, str):
            raise SignInRefused(f"The identity provider gave no access token ({str(answer.get('error', 'no error named'))[:100]}). "
                                "Start the sign-in again.")
        principal = await self.verify(token)
        if principal is None:
            raise SignInRefused("The identity provider's access token was not accepted (issuer, audience, signature or "
                                "expiry; the server log says which). Check MCP_OAUTH_AUDIENCE and the provider's audience setting.")
        name, scopes = principal
        return name, scopes, flow["next"]


async def provider_start(board: Any, request: Any) -> Any:
    """GET /oauth/start: off to the provider, with a new state and PKCE verifier in the flow cookie."""
    view = await board.view(request)
    if board.sign_in is None:
        return board.html(request, view, "Sign in", message_page(
            "This board signs people in with API keys only (MCP_OAUTH_ISSUER and MCP_OAUTH_CLIENT_ID are not both set)."), 404)
    target = local_path(request.query_params.get("next", "/"))
    try:
        location, cookie = await board.sign_in.start(_callback_url(request), target)
    except TaskSystemError as exc:  # the provider's discovery document could not be read
        return board.refused(request, view, exc, "Sign in", board.login_form(view, target))
    except SignInRefused as exc:
        return board.html(request, view, "Sign in", board.login_form(view, target), 502, error=str(exc))
    response = RedirectResponse(location, status_code=303)
    # Lax, not Strict: it must come back with the provider's (cross-site) redirect to the callback.
    response.set_cookie(FLOW_COOKIE, cookie, max_age=FLOW_SECONDS, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/oauth")
    return response


async def provider_callback(board: Any, request: Any) -> Any:
    """GET /oauth/callback: the provider sent the browser back; sign the person in, or say why not."""
    view = await board.view(request)
    if board.sign_in is None:
        return board.html(request, view, "Sign in", message_page("This board does not sign people in through a provider."), 404)
    try:
        name, scopes, target = await board.sign_in.finish(dict(request.query_params), request.cookies.get(FLOW_COOKIE))
        if READ not in granted(scopes):
            raise SignInRefused(f"{name} signed in, but the token carries no tasks scope (it needs at least {READ}); "
                                "nothing is shown. Ask whoever runs the identity provider for tasks:read or more.")
    except (SignInRefused, TaskSystemError) as exc:
        log.warning("board: a sign-in through the identity provider failed: %s", scrub(str(exc)))
        return board.html(request, view, "Sign in", board.login_form(view, "/"), 401, error=scrub(str(exc)))
    log.info("board: %s signed in through the identity provider", name)
    # Reached by the provider's cross-site redirect: a Strict cookie set here would not come with
    # a redirect onwards, so this page sends the browser on itself (a same-site navigation).
    response = HTMLResponse(
        f'<!doctype html><meta http-equiv="refresh" content="0;url={html_escape(target)}">'
        f'<p>Signed in. <a href="{html_escape(target)}">Continue to the board</a>.</p>',
        headers={"Cache-Control": "no-store"})
    response.set_cookie(PERSON_COOKIE, board.sign_in.person_cookie(name, scopes), max_age=PERSON_SECONDS, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    response.delete_cookie(FLOW_COOKIE, path="/oauth", httponly=True, samesite="lax")
    return response


def _callback_url(request: Any) -> str:
    # The Host the browser used (the board's Guard has checked it is one this server answers to).
    return f"{request.url.scheme}://{request.headers.get('host')}/oauth/callback"


def _post_form(url: str, form: dict[str, str]) -> dict[str, Any]:
    """The token request (blocking; run off the event loop). An error answer is returned, not raised."""
    import urllib.error

    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json",
                                                              "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - URL from discovery
            body = response.read(MAX_DOCUMENT_BYTES)
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_DOCUMENT_BYTES)
    except (urllib.error.URLError, OSError) as exc:
        raise SignInRefused(f"The identity provider's token endpoint could not be reached ({exc}). Try again.") from exc
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {"error": "the token endpoint did not answer with JSON"}
