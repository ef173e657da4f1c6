"""Who may see the board, who acts, and which requests are refused: the same rules as MCP
over HTTP (transports/http_auth.py, transports/http.py transport_security), for a browser.

- Host: every request's Host header must be one the server answers to (DNS rebinding: a
  page on another site whose name resolves to 127.0.0.1 must not read the board).
- Keys (MCP_API_KEYS): without a signed-in session nothing is shown but the login form. The
  login takes a key and sets a session cookie (HttpOnly, SameSite=Strict) that names the
  key's owner and a random token, signed with that key, so removing or changing the key ends
  its sessions. The token's hash is kept in the database (board_sessions): signing out
  deletes it, so the cookie stops working on every instance that shares the database.
  The key itself is never stored in the cookie. The key's name is the actor in history, and
  its role (name:key:role) decides what the board offers and accepts (validators/roles.py).
  Failed sign-ins are counted and, past a limit, paused (web/login_throttle.py).
- Without keys (loopback only): the actor is a name the person gives (a cookie), else the
  default name.
- Every POST must come from one of the allowed Origins and carry a CSRF token: an HMAC of
  a random per-browser cookie, so another site can neither read nor forge it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Iterable

from validators.roles import ROLES, granted

SESSION_COOKIE = "board_session"
CSRF_COOKIE = "board_csrf"
NAME_COOKIE = "board_name"
SESSION_SECONDS = 12 * 3600
NAME_MAX = 100
_NAME = re.compile(r"^[\w.@:/+\- ]{1,100}$")  # the characters a session name may have in tools/common.py


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _allowed(value: str, allowed: Iterable[str]) -> bool:
    """Exact, or `base:*` for any port (the SDK's TransportSecurityMiddleware's rule)."""
    for entry in allowed:
        if value == entry or (entry.endswith(":*") and value.startswith(entry[:-1]) and re.fullmatch(r"[0-9]{1,5}", value[len(entry) - 1:])):
            return True
    return False


def local_path(target: str) -> str:
    """A path on this board to go on to after a sign-in; anything else (another site) is /."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def clean_name(text: str | None) -> str | None:
    """A person's name as the actor in history, or None when it is unusable."""
    name = (text or "").strip()
    return name if _NAME.match(name) else None


@dataclass
class BoardSecurity:
    keys: tuple[tuple[str, str], ...]
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    default_actor: str
    read_only: bool = False
    roles: tuple[tuple[str, str], ...] = ()  # (key name, role) of the keys given a role (MCP_API_KEYS name:key:role)
    people: bool = False  # people sign in through the identity provider (web/oauth_login.py)
    _secret: bytes = field(default=b"", repr=False)

    def scopes_of(self, name: str) -> frozenset[str] | None:
        """The scopes a signed-in key's role grants; None for a key without a role (every right)."""
        role = dict(self.roles).get(name)
        return granted([ROLES[role]]) if role else None

    def __post_init__(self) -> None:
        if self.keys:
            # Shared by every instance that has the same keys; changes when a key changes.
            material = "\0".join(f"{n}\0{k}" for n, k in sorted(self.keys)).encode("utf-8", "surrogatepass")
            self._secret = hashlib.sha256(b"mcp-tasks board csrf\0" + material).digest()
        else:
            self._secret = secrets.token_bytes(32)

    # ---- Host and Origin -------------------------------------------------------------------

    def host_allowed(self, host: str | None) -> bool:
        return bool(host) and _allowed(host, self.allowed_hosts)

    def origin_allowed(self, origin: str | None) -> bool:
        """A POST must name its origin: browsers send Origin on every form POST."""
        return bool(origin) and _allowed(origin, self.allowed_origins)

    # ---- keys and sessions ---------------------------------------------------------------

    @property
    def needs_login(self) -> bool:
        return bool(self.keys) or self.people

    def key_name(self, presented: str) -> str | None:
        """The name of the key presented, compared in constant time against every key."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found = None
        for name, key in self.keys:
            if hmac.compare_digest(digest, hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()) and found is None:
                found = name
        return found

    def _session_mac(self, name: str, expires: int, token: str) -> str | None:
        for key_name, key in self.keys:
            if key_name == name:
                signing = hashlib.sha256(b"mcp-tasks board session\0" + key.encode("utf-8", "surrogatepass")).digest()
                return hmac.new(signing, f"{_b64(name.encode())}.{expires}.{token}".encode(), hashlib.sha256).hexdigest()
        return None

    def session_cookie(self, name: str) -> tuple[str, str]:
        """A new session's cookie and its random token (which the server keeps a hash of:
        infrastructure/board_sessions.py, so signing out ends the session everywhere)."""
        expires, token = int(time.time()) + SESSION_SECONDS, secrets.token_urlsafe(24)
        return f"{_b64(name.encode())}.{expires}.{token}.{self._session_mac(name, expires, token)}", token

    def session_claim(self, cookie: str | None) -> tuple[str, str] | None:
        """(key name, token) of a well-signed, unexpired session cookie; whether the session is
        still signed in is the server's to say (BoardSessions.active)."""
        if not cookie or cookie.count(".") != 3 or len(cookie) > 400:
            return None
        encoded, expires_text, token, mac = cookie.split(".")
        if not re.fullmatch(r"[0-9]{1,12}", expires_text):
            return None
        try:
            name, expires = _unb64(encoded).decode(), int(expires_text)
        except (ValueError, UnicodeDecodeError):
            return None
        if expires < time.time():
            return None
        wanted = self._session_mac(name, expires, token)
        return (name, token) if wanted is not None and hmac.compare_digest(wanted, mac) else None

    # ---- CSRF -------------------------------------------------------------------------------

    @staticmethod
    def new_csrf_cookie() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._secret, cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie) and bool(token) and hmac.compare_digest(self.csrf_token(cookie), token)
