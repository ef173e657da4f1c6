"""Bearer API keys for the HTTP transport, and who the current request acts for.

`MCP_API_KEYS=alice:<key>,ci-bot:<key>`: a request that presents one of the keys as
`Authorization: Bearer <key>` is let in as that key's name; any other request gets 401
from the SDK's bearer middleware before the MCP layer sees it, so it reads and writes
nothing. The name is the request's principal (the access token's client_id and subject):
the SDK binds an HTTP session to the principal that opened it, and `tools.common.actor`
records it as created_by / updated_by / author when a call names nobody.

A key with a role (`name:key:read|write|review|admin`, validators/roles.py) carries that
role's scope; a key without one carries all four, the full rights keys had before roles.
Signed-in people and clients come through transports/oauth.py; `current_principal()` reads either.

Keys are compared in constant time: both sides are hashed to equal length first and
every configured key is compared, so neither the timing nor an early exit tells a
caller how much of a key was right or which key came close.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable, Mapping

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from validators.roles import ROLES, SCOPES, granted

PRINCIPAL = "mcp-tasks/principal"  # AccessToken.claims key: {"name": ..., "kind": "human"|"ai"|None, "via": "key"|"oauth"}


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class ApiKeyVerifier:
    """A `mcp.server.auth.provider.TokenVerifier` over a fixed set of named keys."""

    def __init__(self, keys: Iterable[tuple[str, str]], roles: Mapping[str, str] | None = None):
        self._keys = [(name, _digest(key)) for name, key in keys]
        self._roles = dict(roles or {})
        if not self._keys:
            raise ValueError("ApiKeyVerifier needs at least one (name, key) pair")

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = _digest(token)
        found: str | None = None
        for name, key in self._keys:
            if hmac.compare_digest(presented, key) and found is None:
                found = name
        if found is None:
            return None
        # The key itself is not kept on the token: nothing downstream can log it.
        role = self._roles.get(found)
        scopes = [ROLES[role]] if role else list(SCOPES)
        return AccessToken(token=f"api-key:{found}", client_id=found, subject=found, scopes=scopes,
                           claims={PRINCIPAL: {"name": found, "kind": None, "via": "key"}})


@dataclass(frozen=True)
class Principal:
    """Who the HTTP request acts for: an API key's name, or a signed-in subject's display name."""

    name: str
    kind: str | None  # "human" or "ai" for a signed-in token; None for a key (MCP_TASKS_ACTOR_TYPE decides)
    scopes: frozenset[str]  # the tasks:* scopes it holds, each including those below it
    via: str  # "key" or "oauth"
    subject: str = ""  # the key's name, or the token's `sub` (stable where the display name is not)


def current_principal() -> Principal | None:
    """The principal of the HTTP request being served; None over stdio, in-process, or on
    loopback without keys or an issuer (where every call has every right, as before)."""
    token = get_access_token()
    if token is None:
        return None
    info = (token.claims or {}).get(PRINCIPAL) or {"name": token.client_id, "kind": None, "via": "key"}
    return Principal(name=info["name"], kind=info["kind"], scopes=granted(token.scopes), via=info["via"],
                     subject=token.subject or info["name"])


def authenticated_name() -> str | None:
    """The key name of the HTTP request being served; None over stdio or in-process.

    The SDK's auth middleware puts the verified token in a context variable that the
    request's handler task (and the worker thread of a sync tool) inherits.
    """
    principal = current_principal()
    return principal.name if principal is not None else None
