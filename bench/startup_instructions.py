"""Start-up in instructions: valgrind (callgrind) counts what each server executes.

    python bench/startup_instructions.py [--database-url sqlite:///$PWD/bench/data/bench_1k.db] [--also LABEL=PATH]

On this shared 2-core machine the wall time of the same spawn varies by ±20% within
minutes, so a start-up ratio of 1.08 or 1.12 can be the same code. valgrind counts the
instructions a process executes, which do not depend on how fast the CPU is at the moment:
the same code gives the same count to within 0.1%. Each server is started once under
`valgrind --tool=callgrind`, answers `initialize` and `tools/list` (raw JSON-RPC lines, as
in startup_bench.py), and exits when its stdin closes; the count runs from exec to exit.
About 40 s per server (valgrind runs Python ~50× slower). Needs Debian's valgrind.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from startup_bench import BENCH, INITIALIZE, LIST_TOOLS, REPO


def instructions(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """(instructions executed, tools listed) for one spawn through tools/list to exit."""
    with tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(REPO),
        )
        proc.stdin.write(INITIALIZE)
        proc.stdin.flush()
        if b'"result"' not in proc.stdout.readline():
            raise RuntimeError(f"{argv}: initialize failed")
        proc.stdin.write(LIST_TOOLS)
        proc.stdin.flush()
        tools = len(json.loads(proc.stdout.readline())["result"]["tools"])
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.wait()
    found = re.search(r"Collected : (\d+)", err)
    if not found:
        raise RuntimeError(f"{argv}: no callgrind total in its output: {err[-500:]}")
    return int(found.group(1)), tools


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=f"sqlite:///{BENCH / 'data' / 'bench_1k.db'}")
    parser.add_argument("--server", default=str(REPO / "server.py"))
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=PATH", help="one more server.py to count")
    args = parser.parse_args(argv)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": args.database_url, "LOG_LEVEL": "WARNING"}
    servers = {"bare MCPServer (bench/bare_server.py)": [sys.executable, str(BENCH / "bare_server.py")],
               "mcp-tasks (server.py)": [sys.executable, args.server]}
    for extra in args.also:
        label, _, path = extra.partition("=")
        servers[label] = [sys.executable, path]
    counts = {}
    print("| server | tools | instructions, spawn to exit | ratio to bare |\n|---|---:|---:|---:|")
    for label, command in servers.items():
        counts[label], tools = instructions(command, env)
        bare = next(iter(counts.values()))
        print(f"| {label} | {tools} | {counts[label]:,} | {counts[label] / bare:.3f}× |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
