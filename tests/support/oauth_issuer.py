"""A real OAuth authorization server on loopback, for the sign-in tests: discovery documents,
a JWKS, and tokens minted with PyJWT from keys made here (RSA and EC).

    with oauth_issuer() as issuer:          # http://127.0.0.1:<port>/realm
        token = issuer.mint(sub="alice", scope="tasks:write", aud=audience)
        issuer.jwks_fetches                  # how often the key set was read
        issuer.rotate()                      # a new signing key; the old one leaves the set

It also serves the authorization-code flow with PKCE (S256) for one person, auto-approved,
so a browser sign-in can be driven end to end: /authorize redirects back with a code, /token
exchanges it for an access token once the verifier matches the challenge.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class Issuer:
    def __init__(self, base: str, path: str = "/realm"):
        self.url = f"{base}{path}"
        self.path = path
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.kids = {"rsa": f"rsa-{secrets.token_hex(3)}", "ec": f"ec-{secrets.token_hex(3)}"}
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.codes: dict[str, dict[str, Any]] = {}  # authorization code -> what it was issued for
        self.used_codes: dict[str, dict[str, Any]] = {}  # the codes exchanged, for the tests to inspect
        self.person = {"sub": "u-1001", "name": "Alice Example", "scope": "tasks:write"}  # who /authorize signs in
        self.audience: str | None = None  # the aud of tokens the code flow issues

    def jwks(self) -> dict[str, Any]:
        keys = []
        for name, private in (("rsa", self.rsa), ("ec", self.ec)):
            algorithm = jwt.algorithms.RSAAlgorithm if name == "rsa" else jwt.algorithms.ECAlgorithm
            jwk = json.loads(algorithm.to_jwk(private.public_key()))
            jwk.update(kid=self.kids[name], use="sig", alg="RS256" if name == "rsa" else "ES256")
            keys.append(jwk)
        return {"keys": keys}

    def rotate(self) -> None:
        """A new RSA key under a new kid: tokens signed with it are unknown until the set is read again."""
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kids["rsa"] = f"rsa-{secrets.token_hex(3)}"

    def mint(self, *, key: str = "rsa", headers: dict[str, Any] | None = None, lifetime: int = 300,
             omit: tuple[str, ...] = (), **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "u-1001", "iat": now, "exp": now + lifetime, "nbf": now - 5, **claims}
        for name in omit:
            body.pop(name, None)
        head = {"kid": self.kids[key], "typ": "at+jwt", **(headers or {})}
        private = self.rsa if key == "rsa" else self.ec
        return jwt.encode(body, private, algorithm="RS256" if key == "rsa" else "ES256", headers=head)

    def metadata(self, base: str) -> dict[str, Any]:
        return {
            "issuer": self.url, "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize", "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["code"], "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"], "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["tasks:read", "tasks:write", "tasks:review", "tasks:admin"],
        }


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the test output stays readable
            pass

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            if url.path == f"{issuer.path}/.well-known/openid-configuration":
                issuer.discovery_fetches += 1
                return self._json(200, issuer.metadata(""))
            if url.path == f"{issuer.path}/jwks":
                issuer.jwks_fetches += 1
                return self._json(200, issuer.jwks())
            if url.path == f"{issuer.path}/authorize":
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                    return self._json(400, {"error": "invalid_request", "error_description": "code + PKCE S256 only"})
                code = secrets.token_urlsafe(16)
                issuer.codes[code] = {**q, "at": time.time()}
                target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', ''), 'iss': issuer.url})}"
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if url.path != f"{issuer.path}/token":
                return self._json(404, {"error": "not_found"})
            grant = issuer.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("grant_type") != "authorization_code":
                return self._json(400, {"error": "invalid_grant"})
            issuer.used_codes[form["code"]] = grant
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if challenge != grant["code_challenge"] or form.get("redirect_uri") != grant["redirect_uri"] \
                    or form.get("client_id") != grant.get("client_id"):
                return self._json(400, {"error": "invalid_grant", "error_description": "PKCE or redirect_uri mismatch"})
            token = issuer.mint(aud=issuer.audience or grant.get("resource"), client_id=grant["client_id"], **issuer.person)
            return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                    "scope": issuer.person.get("scope", "")})

    return Handler


@contextmanager
def oauth_issuer(path: str = "/realm") -> Iterator[Issuer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    issuer = Issuer(f"http://127.0.0.1:{server.server_address[1]}", path)
    server.RequestHandlerClass = _handler(issuer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
