"""The authorization server's signing keys: found through its discovery document, fetched,
and kept until a token names a key the set does not have.

Blocking I/O (urllib), called off the event loop by transports/oauth.py. Bounded: every fetch has
a timeout and a size cap, and an unknown `kid` refetches at most once per REFETCH_SECONDS,
so tokens with made-up key ids cannot make the server hammer the issuer.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from domain.errors import StorageError

log = logging.getLogger("mcp-tasks.oauth")
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 512 * 1024
REFETCH_SECONDS = 5.0  # an unknown kid refetches the set at most this often
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


class KeyUnavailable(StorageError):
    """The issuer's discovery document or key set could not be fetched or read (retryable)."""


def fetch_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "mcp-tasks"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - URL from config
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KeyUnavailable(f"Could not fetch {url}: {exc}. Check that the issuer is up and reachable.") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise KeyUnavailable(f"{url} answered with more than {MAX_DOCUMENT_BYTES} bytes; that is no key set or discovery document.")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise KeyUnavailable(f"{url} did not answer with JSON.") from exc
    if not isinstance(document, dict):
        raise KeyUnavailable(f"{url} did not answer with a JSON object.")
    return document


def discover(issuer: str) -> dict[str, Any]:
    """The issuer's metadata (OpenID Connect discovery, else RFC 8414), checked to name this issuer.

    RFC 8414 puts the well-known part between host and path; OpenID Connect appends it to the
    issuer. Both spellings are tried."""
    from urllib.parse import urlsplit

    parts = urlsplit(issuer)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    candidates = []
    for well_known in DISCOVERY_PATHS:
        candidates += [f"{issuer.rstrip('/')}{well_known}", f"{base}{well_known}{path}"]
    errors = []
    for url in dict.fromkeys(candidates):
        try:
            document = fetch_json(url)
        except KeyUnavailable as exc:
            errors.append(str(exc))
            continue
        if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
            errors.append(f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}")
            continue
        return document
    raise KeyUnavailable(
        f"No discovery document of {issuer} could be read ({'; '.join(errors)}). Set MCP_OAUTH_JWKS_URL to its key set's URL, "
        "or check MCP_OAUTH_ISSUER."
    )


class KeySet:
    """The issuer's public keys by `kid`, fetched on first use and again for an unknown kid."""

    def __init__(self, issuer: str, jwks_url: str | None = None):
        self.issuer, self.jwks_url = issuer, jwks_url
        self.metadata: dict[str, Any] = {}  # the discovery document, once read
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def cached(self, kid: str | None) -> Any | None:
        """The key for `kid` if the set is already known to have it: no I/O, for the event loop."""
        return self._keys.get(kid)

    def find(self, kid: str | None) -> Any | None:
        """The key for `kid` (a jwt.PyJWK), refreshing the set once if it is not known; None if absent."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:  # one fetch for all the calls that met the same new kid
            if kid not in self._keys and time.monotonic() - self._fetched_at >= REFETCH_SECONDS:
                self._refresh()
            return self._keys.get(kid)

    def _refresh(self) -> None:
        import jwt

        self._fetched_at = time.monotonic()
        if not self.jwks_url:
            self.metadata = discover(self.issuer)
            if not isinstance(self.metadata.get("jwks_uri"), str):
                raise KeyUnavailable(f"The discovery document of {self.issuer} has no jwks_uri. Set MCP_OAUTH_JWKS_URL.")
            self.jwks_url = self.metadata["jwks_uri"]
        document = fetch_json(self.jwks_url)
        keys: dict[str | None, Any] = {}
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:  # a key type or algorithm we do not take: skip it, say so
                log.info("OAuth: skipped key %r of %s: %s", entry.get("kid"), self.jwks_url, exc)
                continue
            keys[entry.get("kid")] = key
        # A token without a kid may use the set's only key.
        if len(keys) == 1 and None not in keys:
            keys[None] = next(iter(keys.values()))
        self._keys = keys
        log.info("OAuth: %d signing key(s) from %s", len(set(map(id, keys.values()))), self.jwks_url)
