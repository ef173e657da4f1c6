"""How long a call waits for its [unavailable] when the database drops packets (a partition:
nothing refused, nothing answered), with the pool's connections idle as between an agent's calls.

    .venv/bin/python bench/partition_bench.py [--database-url mysql://root@127.0.0.1:3306/mysql] [--connect-timeout 5] [--query-timeout 30]

A loopback forwarder (tests/support/tcp_proxy.py) stands between the Database and MariaDB;
after one read and an idle spell it drops every byte, then one more read is timed.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import parse_database_url  # noqa: E402
from infrastructure.database import PING_IDLE_SECONDS, Database  # noqa: E402
from tests.support.tcp_proxy import TcpProxy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql://root@127.0.0.1:3306/mysql")
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--query-timeout", type=float, default=30.0)
    args = parser.parse_args()
    real = parse_database_url(args.database_url)
    proxy = TcpProxy(real.host, real.port).start()
    settings = replace(real, port=proxy.port, connect_timeout=args.connect_timeout, query_timeout=args.query_timeout)
    db = Database(settings, "DATABASE_URL")
    try:
        db.read(lambda tx: tx.value("SELECT 1 AS one"))
        time.sleep(PING_IDLE_SECONDS + 1)
        proxy.drop()
        began = time.monotonic()
        try:
            db.read(lambda tx: tx.value("SELECT 1 AS one"))
            print("the read succeeded: nothing was dropped")
            return 1
        except Exception as exc:  # noqa: BLE001 - the refusal is what is measured
            print(f"refused after {time.monotonic() - began:.1f} s "
                  f"(DB_CONNECT_TIMEOUT={args.connect_timeout:g}, DB_QUERY_TIMEOUT={args.query_timeout:g}): {str(exc)[:160]}")
    finally:
        db.close()
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
