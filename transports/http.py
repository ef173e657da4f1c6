"""Streamable HTTP: the Host and Origin headers a server answers to, and the MCP endpoint's
app with what guards it (sign-in metadata, the per-key session cap). The composition root
(bootstrap.py) puts the board beside it and the key throttle in front of it; serving it
(uvicorn) is the command line's job (server_commands.py).
"""
from __future__ import annotations

import logging
from typing import Any

from config import Config

log = logging.getLogger("mcp-tasks")  # the name its lines had when server_commands.py logged them

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: treat it as reachable from outside


def transport_security(config: Config, host: str, port: int):
    """The Host and Origin headers the server answers to (DNS rebinding protection)."""
    import socket

    from mcp.server.transport_security import TransportSecuritySettings

    bare = host.strip("[]")
    if is_loopback(host):
        names = ["127.0.0.1", "localhost", "[::1]"]
    elif bare in ("0.0.0.0", "::", ""):
        # Every interface: this machine's names and addresses. Names a load balancer uses go in MCP_ALLOWED_HOSTS.
        names = ["127.0.0.1", "localhost", "[::1]", socket.gethostname(), socket.getfqdn()]
        try:
            names += socket.gethostbyname_ex(socket.gethostname())[2]
        except OSError:
            pass
    else:
        names = [f"[{bare}]" if ":" in bare else bare]
    hosts = [f"{n}:{port}" for n in dict.fromkeys(names)]
    origins = [f"{scheme}://{n}:{port}" for n in dict.fromkeys(names) for scheme in ("http", "https")]
    for extra in config.allowed_hosts:
        # A name without a port (what a client sends through a proxy on 80/443) allows any port.
        hosts += [extra] if ":" in extra.rsplit("]", 1)[-1] else [extra, f"{extra}:*"]
    origins += list(config.allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def mcp_http_app(mcp: Any, config: Config, host: str, url: str, stateless: bool, security: Any) -> Any:
    """The SDK's streamable HTTP app for `mcp` at /mcp, with the RFC 9728 metadata route of
    sign-in placed before the SDK's own, and, with sessions, the per-key session cap."""
    app = mcp.streamable_http_app(
        stateless_http=stateless, transport_security=security, host=host, max_sessions=config.http_max_sessions,
        session_idle_timeout=config.http_session_idle_timeout,
    )
    if config.oauth_issuer:
        from transports.oauth import audience, protected_resource_route

        app.router.routes.insert(0, protected_resource_route(config, url))
        log.info("OAuth: tokens from %s for the audience %s are let in (README \"Sign-in and roles\")",
                 config.oauth_issuer, audience(config, url))
    if not stateless:
        from transports.http_sessions import cap_sessions_per_key

        cap_sessions_per_key(mcp.session_manager, config.http_max_sessions_per_key)
    return app
