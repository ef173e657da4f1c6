"""The cost of a call in instructions: valgrind (callgrind) counts what a server executes per call.

    python bench/call_instructions.py --database-url sqlite:///$PWD/bench/data/bench_1k.db [--also before=/tmp/old/server.py]

call_cost.py measures server CPU time per call; on this shared 2-core machine that moves by
±20% with the load, and the ratio to the bare server with it. Instructions do not depend on
how busy the machine is. Each server runs under `valgrind --tool=callgrind` and is driven
over its pipes in raw JSON-RPC (as startup_bench.py does): initialize, tools/list,
`--warmup` calls of a case, then the counters are zeroed (`callgrind_control -z`), `--calls`
calls are made one after another, each waiting for its answer, and the counters dumped
(`callgrind_control -d`): instructions per call, every thread of the process included.
Cases as in call_cost.py: tasks_get (ids 1..1000 in turn) against the bare server's ping,
tasks_list page of 50 against the bare server's `page` (`bare_server.py --page`); and
tasks_get against `ping_db` too, the ping plus one `SELECT 1` round trip (`--db`).
Valgrind runs Python ~50x slower: about a minute per server with the defaults.
"""
from __future__ import annotations

import argparse
import glob
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from startup_bench import BENCH, INITIALIZE, LIST_TOOLS, REPO


def _count(path: str) -> int:
    text = Path(path).read_text(errors="replace")
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if not match:
        raise RuntimeError(f"no instruction total in {path}")
    return int(match.group(1))


def measure(argv: list[str], env: dict[str, str], cases: list[tuple[str, str, callable]], calls: int, warmup: int) -> dict[str, float]:
    """Instructions per call for each (case, tool, arguments(i)) on one server process."""
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO),
        )
        next_id = [10]

        def call(tool: str, args: dict) -> None:
            next_id[0] += 1
            proc.stdin.write((json.dumps({"jsonrpc": "2.0", "id": next_id[0], "method": "tools/call",
                                          "params": {"name": tool, "arguments": args}}) + "\n").encode())
            proc.stdin.flush()
            reply = json.loads(proc.stdout.readline())
            if "error" in reply or reply["result"].get("isError"):
                raise RuntimeError(f"{argv}: {tool} failed: {str(reply)[:300]}")

        def control(flag: str) -> None:
            subprocess.run(["callgrind_control", flag, str(proc.pid)], check=True, capture_output=True, timeout=120)

        out: dict[str, float] = {}
        try:
            proc.stdin.write(INITIALIZE)
            proc.stdin.flush()
            proc.stdout.readline()
            proc.stdin.write(LIST_TOOLS)
            proc.stdin.flush()
            proc.stdout.readline()
            for dump, (name, tool, make) in enumerate(cases, start=1):
                for i in range(warmup):
                    call(tool, make(i))
                control("-z")
                for i in range(calls):
                    call(tool, make(i))
                control("-d")
                deadline = time.monotonic() + 60
                while not glob.glob(f"{scratch}/out.{dump}") and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(0.5)  # the dump is written before the file is complete
                out[name] = _count(f"{scratch}/out.{dump}") / calls
        finally:
            proc.stdin.close()
            proc.wait(timeout=120)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--also", action="append", default=[], help="label=path/to/server.py: another server to count")
    args = parser.parse_args(argv)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LOG_LEVEL": "WARNING", "DATABASE_URL": args.database_url}
    bare = measure([sys.executable, str(BENCH / "bare_server.py"), "--page", "--db"], env,
                   [("ping", "ping", lambda i: {"text": "ping"}), ("page", "page", lambda i: {"n": 50}),
                    ("ping_db", "ping_db", lambda i: {"text": "ping"})], args.calls, args.warmup)
    ours = [("HEAD", REPO / "server.py")] + [(a.split("=", 1)[0], Path(a.split("=", 1)[1]).resolve()) for a in args.also]
    cases = [("tasks_get", "tasks_get", lambda i: {"id": 1 + (i * 7919) % 1000}),
             ("tasks_list page 50", "tasks_list", lambda i: {"limit": 50})]
    floors = {"tasks_get": "ping", "tasks_list page 50": "page"}
    results = {label: measure([sys.executable, str(path)], env, cases, args.calls, args.warmup) for label, path in ours}
    print(f"\n{args.database_url.split('://')[0]}; instructions per call (callgrind), {args.calls} calls after {args.warmup} warm-up\n")
    print("| case | instructions per call | ratio to the bare floor |\n|---|---:|---:|")
    for name, floor in floors.items():
        print(f"| bare {floor} (floor for {name}) | {bare[floor]:,.0f} | 1 |")
        for label, counts in results.items():
            print(f"| {label} {name} | {counts[name]:,.0f} | **{counts[name] / bare[floor]:.3f}** |")
    print(f"| bare ping_db (ping + one `SELECT 1` round trip: the floor of a call that reads the database) "
          f"| {bare['ping_db']:,.0f} | {bare['ping_db'] / bare['ping']:.3f} |")
    for label, counts in results.items():
        print(f"| {label} tasks_get against bare ping_db | | **{counts['tasks_get'] / bare['ping_db']:.3f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
