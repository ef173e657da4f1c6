"""What checking a signed-in token costs per call (cached key), beside an API key (issue 28).

    python bench/auth_bench.py [--calls 2000] [--http-calls 300]

Two parts:
1. In process: `verify_token` of transports/oauth.py (EitherVerifier: the key comparison misses,
   then the JWT is parsed and its RS256 or ES256 signature and claims checked with PyJWT, the
   issuer's key already cached) against ApiKeyVerifier's constant-time comparison over 2 keys.
   Median and p90 of `--calls` calls, in microseconds.
2. Over HTTP: the server as a subprocess with both keys and an issuer (a real local issuer,
   tests/support/oauth_issuer.py), the SDK's client calling tasks_get `--http-calls` times in
   a session with a key and in one with a token, alternating call by call; client-side
   round-trip p50/p90 in ms.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from tests.conftest import server_env  # noqa: E402
from tests.support.mcp_http import http_server, http_session  # noqa: E402
from tests.support.oauth_issuer import oauth_issuer  # noqa: E402

KEY = "bench-key-0123456789abcdef"
AUDIENCE = "http://127.0.0.1:8765/mcp"


def _stats(samples: list[float], scale: float) -> str:
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9)]
    return f"p50 {statistics.median(samples) * scale:8.1f}  p90 {p90 * scale:8.1f}"


async def _in_process(issuer, calls: int) -> None:
    from transports.http_auth import ApiKeyVerifier
    from transports.oauth import EitherVerifier, JwtVerifier

    keys = ApiKeyVerifier([("bench", KEY), ("other", "other-key-0123456789abcdef")])
    either = EitherVerifier(keys, JwtVerifier(issuer.url, AUDIENCE))
    tokens = {
        "signed-in token RS256": issuer.mint(aud=AUDIENCE, scope="tasks:write", name="Bench"),
        "signed-in token ES256": issuer.mint(key="ec", aud=AUDIENCE, scope="tasks:write", name="Bench"),
    }
    for token in tokens.values():
        assert await either.verify_token(token) is not None  # fetches and caches the keys
    cases = {"API key": (either, KEY), **{name: (either, token) for name, token in tokens.items()}}
    print(f"verify_token, in process, {calls} calls each (microseconds):")
    for name, (verifier, token) in cases.items():
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            found = await verifier.verify_token(token)
            samples.append(time.perf_counter() - start)
            assert found is not None
        print(f"  {name:24s} {_stats(samples, 1e6)}")


async def _over_http(issuer, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(f"sqlite:///{tmp}/bench.db", Path(tmp), MCP_API_KEYS=f"bench:{KEY}", MCP_OAUTH_ISSUER=issuer.url,
                         LOG_LEVEL="WARNING")
        with http_server(env) as server:
            token = issuer.mint(aud=server.url, scope="tasks:write", name="Bench", lifetime=3600)
            async with http_session(server.url, KEY) as client:
                task = (await client.call_tool("tasks_create", {"title": "bench"})).structured_content
            print(f"tasks_get over streamable HTTP, one session each, {calls} calls each, alternating (ms, client round trip):")
            samples: dict[str, list[float]] = {"API key": [], "signed-in token": []}
            async with http_session(server.url, KEY) as by_key, http_session(server.url, token) as by_token:
                clients = {"API key": by_key, "signed-in token": by_token}
                for _ in range(20):
                    for client in clients.values():
                        await client.call_tool("tasks_get", {"id": task["id"]})
                # Alternating call by call, so load on a shared machine falls on both alike.
                for _ in range(calls):
                    for name, client in clients.items():
                        start = time.perf_counter()
                        result = await client.call_tool("tasks_get", {"id": task["id"]})
                        samples[name].append(time.perf_counter() - start)
                        assert not result.is_error
            for name, values in samples.items():
                print(f"  {name:16s} {_stats(values, 1e3)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--http-calls", type=int, default=300)
    args = parser.parse_args()
    with oauth_issuer() as issuer:
        anyio.run(_in_process, issuer, args.calls)
        anyio.run(_over_http, issuer, args.http_calls)


if __name__ == "__main__":
    main()
