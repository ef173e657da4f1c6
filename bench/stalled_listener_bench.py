"""Issue 22: the notification latency a healthy listener sees while a stalled one holds 1,000
subscriptions on the same HTTP server process.

    python bench/stalled_listener_bench.py [--database-url URL] [--server PATH/server.py]

One server process (streamable HTTP, sessions) and, on it:
- a stalled session: subscribed to task://1 .. task://N (--subscriptions, 1,000), its GET
  stream opened on a socket with a 4 KB receive buffer and never read (tests/support/stalled_session.py);
- a healthy handshake-era session (the SDK's client) subscribed to task://PROBE;
- a healthy 2026-07-28 `subscriptions/listen` stream on task://PROBE.
A writer adds --burst changes to tasks 1..N every --every seconds (rows in task_changes, as
every write of any process leaves; 4,000 a second fill the stalled socket within --warmup),
then --calm-burst while probing. Every --interval seconds a probe change to task PROBE is
written, and the time until each healthy listener is told of it is taken (a probe not heard
of within --timeout counts as lost). --server points at another checkout's server.py to
measure its code (the "before" figures: a worktree of main at 0579c51).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import anyio  # noqa: E402

from config import parse_database_url  # noqa: E402
from infrastructure.database import Database  # noqa: E402
from tests.support.mcp_http import http_server  # noqa: E402
from tests.support.stalled_session import probe_latencies  # noqa: E402


async def run(args: argparse.Namespace) -> dict:
    db = Database(parse_database_url(args.database_url), "DATABASE_URL")
    db.migrate()
    home = tempfile.mkdtemp(prefix="stalled-bench-")
    env = {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": args.database_url}
    try:
        with http_server(env, server=Path(args.server).resolve()) as server:
            return await probe_latencies(
                server.url, db, subscriptions=args.subscriptions, stall=not args.no_stall, burst=args.burst,
                every=args.every, samples=args.samples, interval=args.interval, timeout=args.timeout,
                warmup=args.warmup, calm_burst=args.calm_burst,
            )
    finally:
        db.close()


def summary(values: list[float | None]) -> str:
    got = sorted(v for v in values if v is not None)
    lost = len(values) - len(got)
    if not got:
        return f"none heard of {len(values)} (lost {lost})"
    p90 = got[min(len(got) - 1, int(0.9 * len(got)))]
    return (f"median {statistics.median(got) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max {got[-1] * 1000:.0f} ms; "
            f"heard {len(got)} of {len(values)}, lost {lost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--server", default=str(REPO / "server.py"), help="the server.py to run (another checkout for 'before')")
    parser.add_argument("--subscriptions", type=int, default=1000, help="the stalled session's subscriptions (and the tasks written to)")
    parser.add_argument("--no-stall", action="store_true", help="the same writes, without the stalled session (the baseline)")
    parser.add_argument("--burst", type=int, default=1000, help="changes the writer adds at a time while warming up")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between the writer's bursts")
    parser.add_argument("--calm-burst", type=int, default=100, help="changes the writer adds at a time while probing")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between probes")
    parser.add_argument("--timeout", type=float, default=15.0, help="a probe not heard of in this many seconds is lost")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of writing before the first probe (fills the stalled socket)")
    args = parser.parse_args()
    if args.database_url is None:
        args.database_url = f"sqlite://{tempfile.mkdtemp(prefix='stalled-bench-db-')}/tasks.db"
    out = anyio.run(run, args)
    print(f"server {args.server}; {args.database_url.split('://')[0]}; {'no stalled session' if args.no_stall else f'stalled subscriptions {args.subscriptions}'}; "
          f"{out['changes']:,} changes written ({args.burst}, then {args.calm_burst}, every {args.every} s)")
    for name, label in (("session", "handshake session (resources/subscribe)"), ("listen", "subscriptions/listen stream")):
        print(f"  {label}: {summary(out[name])}")


if __name__ == "__main__":
    main()
