"""OAuth 2.1 resource server: access tokens (JWTs) from the team's authorization server.

`JwtVerifier` is a `mcp.server.auth.provider.TokenVerifier`. The SDK's bearer middleware only
checks `expires_at`; everything else is checked here, with PyJWT (never crypto by hand):
- algorithm RS256 or ES256, bound to the key (so `alg: none` and HS256-with-a-public-key fail);
- `typ` at+jwt (RFC 9068) or JWT, when the header carries one;
- the signature, against the issuer's key for the token's `kid` (infrastructure/jwks.py keeps
  the set, and fetches it again, off the event loop, when an unknown kid appears);
- `iss` equal to MCP_OAUTH_ISSUER, `aud` containing the audience, `exp`, `nbf` (30 s leeway).
A refusal is logged at INFO with its reason (never the token) and the caller gets 401.

`EitherVerifier` tries the API keys first (an exact match, no parsing) and then the JWT
verifier, so keys and sign-in work side by side.

The AccessToken: subject = `sub` (the principal), client_id = the token's client (`client_id`
or `azp`, else `sub`), scopes = the `scope` claim's words, claims = what tools.principal reads:
`iss`, the display name, and whether a person or a client (ai) signed in.
"""
from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.auth.provider import AccessToken

from domain.models import NAME_MAX
from infrastructure.jwks import KeySet, KeyUnavailable
from transports.http_auth import PRINCIPAL

log = logging.getLogger("mcp-tasks.oauth")
ALGORITHMS = ("RS256", "ES256")
TYPES = ("at+jwt", "application/at+jwt", "jwt")
LEEWAY_SECONDS = 30


class JwtVerifier:
    """Verifies JWT access tokens of one issuer for one audience."""

    def __init__(self, issuer: str, audience: str, jwks_url: str | None = None):
        self.issuer, self.audience = issuer, audience
        self.keys = KeySet(issuer, jwks_url)

    async def verify_token(self, token: str) -> AccessToken | None:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None  # not a JWT at all (a wrong API key, say): nothing worth a log line
        reason = _header_problem(header)
        if reason:
            log.info("OAuth: refused a token: %s", reason)
            return None
        try:
            key = self.keys.cached(header.get("kid"))
            if key is None:
                # Unknown key: fetch the set again (off the event loop; at most once per REFETCH_SECONDS).
                key = await anyio.to_thread.run_sync(self.keys.find, header.get("kid"))
        except KeyUnavailable as exc:
            log.warning("OAuth: cannot check a token: %s", exc)
            return None
        if key is None:
            log.info("OAuth: refused a token signed with the unknown key %r", header.get("kid"))
            return None
        try:
            claims = jwt.decode(
                token, key, algorithms=list(ALGORITHMS), audience=self.audience, issuer=self.issuer, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            log.info("OAuth: refused a token: %s", exc)
            return None
        return token_for(claims)


def _header_problem(header: dict[str, Any]) -> str | None:
    if header.get("alg") not in ALGORITHMS:
        return f"algorithm {header.get('alg')!r} is not one of {', '.join(ALGORITHMS)}"
    typ = header.get("typ")
    if typ is not None and str(typ).lower() not in TYPES:
        return f"typ {typ!r} is not at+jwt or JWT"
    return None


def token_for(claims: dict[str, Any]) -> AccessToken:
    """The SDK's AccessToken for verified claims, with who the principal is."""
    subject = str(claims["sub"])
    named_client = claims.get("client_id") or claims.get("azp")
    client = str(named_client or subject)
    scope = claims.get("scope") or claims.get("scp") or ""
    scopes = scope.split() if isinstance(scope, str) else [str(s) for s in scope if isinstance(s, str)]
    name = next((claims[k] for k in ("name", "preferred_username") if isinstance(claims.get(k), str) and claims[k].strip()), subject)
    name = " ".join(name.split())[:NAME_MAX]  # the history's author column holds 100 characters, one line
    kind = "ai" if _client_credential(claims, subject, named_client) else "human"
    return AccessToken(
        token="oauth", client_id=client, subject=subject, scopes=scopes, expires_at=int(claims["exp"]),
        claims={"iss": claims.get("iss"), PRINCIPAL: {"name": name, "kind": kind, "via": "oauth"}},
    )


def _client_credential(claims: dict[str, Any], subject: str, client: Any) -> bool:
    """A token with no person behind it (client credentials): its subject is the client itself
    (RFC 9068 §2.2; Okta), or the issuer says so in its own way: Auth0's `gty`, Entra ID's
    `idtyp: app`, Keycloak's service-account user. Any other subject is a person."""
    username = claims.get("preferred_username")
    return (
        str(client) == subject or claims.get("gty") == "client-credentials" or claims.get("idtyp") == "app"
        or (isinstance(username, str) and username.startswith("service-account-"))
    )


class EitherVerifier:
    """API keys first (exact match), then signed-in tokens."""

    def __init__(self, *verifiers: Any):
        self.verifiers = [v for v in verifiers if v is not None]

    async def verify_token(self, token: str) -> AccessToken | None:
        for verifier in self.verifiers:
            found = await verifier.verify_token(token)
            if found is not None:
                return found
        return None


def audience(config: Any, http_url: str) -> str:
    """The `aud` tokens must carry: MCP_OAUTH_AUDIENCE, else exactly this server's /mcp URL."""
    return config.oauth_audience or f"{http_url}/mcp"


def resource_url(config: Any, http_url: str) -> str:
    """This resource's URL in its metadata (RFC 9728 `resource`): the audience when it is a URL
    (a public https name behind a proxy), else the /mcp URL the server listens on."""
    aud = audience(config, http_url)
    return aud if aud.startswith(("https://", "http://")) else f"{http_url}/mcp"


def auth_options(config: Any, http_url: str) -> dict[str, Any]:
    """MCPServer's `token_verifier=` and `auth=` for API keys and/or an issuer (README "Sign-in and roles").

    required_scopes stays empty: the SDK would demand all of them on every request. Scopes are
    checked per call (tools.common.require_scope), and the metadata that lists them is served
    by protected_resource_route(). validate_token_resource=False: the verifier checks `aud`."""
    from mcp.server.auth.settings import AuthSettings

    from transports.http_auth import ApiKeyVerifier

    keys = ApiKeyVerifier(config.api_keys, dict(config.api_key_roles)) if config.api_keys else None
    if not config.oauth_issuer:
        return {"token_verifier": keys, "auth": AuthSettings(issuer_url=http_url, resource_server_url=None)}
    tokens = JwtVerifier(config.oauth_issuer, audience(config, http_url), config.oauth_jwks_url)
    return {
        "token_verifier": EitherVerifier(keys, tokens),
        "auth": AuthSettings(issuer_url=config.oauth_issuer, resource_server_url=resource_url(config, http_url),
                             validate_token_resource=False),
    }


def principal_check(config: Any, http_url: str) -> Any:
    """For the board's sign-in (web/oauth_login.py): an access token -> (name, scopes), or None
    when refused, by the same checks as a token sent to /mcp."""
    verifier = JwtVerifier(config.oauth_issuer, audience(config, http_url), config.oauth_jwks_url)

    async def check(token: str) -> tuple[str, list[str]] | None:
        found = await verifier.verify_token(token)
        return None if found is None else ((found.claims or {})[PRINCIPAL]["name"], found.scopes)

    return check


def protected_resource_route(config: Any, http_url: str) -> Any:
    """RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp, naming the issuer and the
    four scopes. The SDK serves the same path with the (empty) required scopes; this route goes first."""
    from mcp.server.auth.routes import create_protected_resource_routes

    from validators.roles import SCOPES

    return create_protected_resource_routes(
        resource_url=resource_url(config, http_url), authorization_servers=[config.oauth_issuer],
        scopes_supported=list(SCOPES), resource_name="mcp-tasks",
    )[0]
