"""Start-up benchmark: spawn → `initialize` answered → `tools/list` answered, and idle RSS.

    python bench/startup_bench.py [--runs 20] [--database-url sqlite:///bench/data/bench_1k.db]

Our server (`server.py`) and the bare SDK server (`bench/bare_server.py`, one trivial tool)
are started alternately in the same run (rotating order, so neither always goes first), with
the same interpreter and a minimal environment, as an MCP client starts them. The client
side is raw JSON-RPC lines on the pipes (no SDK client in the timed path): the clock starts
just before `Popen` and stops when the response line is read. After `tools/list` the
process's VmRSS is read from /proc/<pid>/status (the idle resident size of a server that
has answered, before any tool call; the database is not touched by either request), and
its CPU time so far from /proc/<pid>/task/*/schedstat: on a shared machine wall time
swings with the load, CPU time much less, so both are reported.
The ratio that the target is checked against is the median of the per-round ratios: each
round starts every server once, back to back, so a round's ratio compares spawns made
under the same conditions. On this shared 2-core machine the same server's medians drift
by ±20% within minutes (the CPU itself runs faster or slower), and a ratio of two medians
then depends on which spawns happened to land in a slow phase.
Two untimed spawns of each first warm the page cache.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PROTOCOL = "2025-11-25"  # the newest handshake revision of mcp 2.x


def _rss_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def _cpu_ms(pid: int) -> float:
    """CPU time of all the process's threads so far (schedstat: ns on CPU), robust to a busy machine."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e6


# What a client sends first: initialize, then (after its answer) initialized and tools/list.
INITIALIZE = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "startup-bench", "version": "1"}}}) + "\n").encode()
LIST_TOOLS = b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n'


def measure(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO))
    try:
        proc.stdin.write(INITIALIZE)
        proc.stdin.flush()
        line = proc.stdout.readline()
        t_init = time.perf_counter() - t0
        if b'"result"' not in line:
            raise RuntimeError(f"{argv}: initialize failed: {line[:300]!r}")
        proc.stdin.write(LIST_TOOLS)
        proc.stdin.flush()
        line = proc.stdout.readline()
        t_list = time.perf_counter() - t0
        reply = json.loads(line)
        tools = len(reply["result"]["tools"])
        size = len(line)
        rss = _rss_kb(proc.pid)
        cpu = _cpu_ms(proc.pid)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"initialize_ms": t_init * 1000, "tools_list_ms": t_list * 1000, "rss_kb": rss["VmRSS"],
            "hwm_kb": rss["VmHWM"], "cpu_ms": cpu, "tools": tools, "tools_list_bytes": size}


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    out = {}
    for key in ("initialize_ms", "tools_list_ms", "cpu_ms", "rss_kb", "hwm_kb"):
        values = [s[key] for s in samples]
        out[key] = statistics.median(values)
        out[key + "_min"] = min(values)
        out[key + "_max"] = max(values)
    out["tools"] = samples[0]["tools"]
    out["tools_list_bytes"] = samples[0]["tools_list_bytes"]
    return out


def _paired(ours: list[dict[str, float]], bare: list[dict[str, float]], key: str) -> tuple[float, float, float]:
    """Quartiles of ours/bare over the rounds (the same round's spawns of each)."""
    ratios = [o[key] / b[key] for o, b in zip(ours, bare)]
    q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return q1, median, q3


def _fmt(quartiles: tuple[float, float, float]) -> str:
    q1, median, q3 = quartiles
    return f"{median:.2f}× ({q1:.2f}–{q3:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default=f"sqlite:///{BENCH / 'data' / 'bench_1k.db'}")
    parser.add_argument("--server", default=str(REPO / "server.py"), help="the server.py to measure (e.g. a scratch copy with a change)")
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=PATH",
                        help="one more server.py in the same interleaved run (before/after of a change)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    python = sys.executable
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": args.database_url, "LOG_LEVEL": "WARNING"}
    servers = {
        "mcp-tasks (server.py)": [python, args.server],
        "bare MCPServer (bench/bare_server.py)": [python, str(BENCH / "bare_server.py")],
    }
    for extra in args.also:
        label, _, path = extra.partition("=")
        servers[label] = [python, path]
    floor = {"python -c pass": [python, "-c", "pass"], "python -c 'import mcp.server.mcpserver'": [python, "-c", "import mcp.server.mcpserver"]}
    names = list(servers)
    for name in names:  # warm the page cache
        for _ in range(2):
            measure(servers[name], env)
    samples: dict[str, list] = {name: [] for name in names}
    for i in range(args.runs):
        order = names[i % len(names):] + names[:i % len(names)]  # rotate: nobody always goes first
        if i % 2:
            order = order[::-1]
        for name in order:
            samples[name].append(measure(servers[name], env))
    floors = {}
    for name, cmd in floor.items():
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, check=True)
            times.append((time.perf_counter() - t) * 1000)
        floors[name] = statistics.median(times)

    result = {name: summarise(s) for name, s in samples.items()}
    ours, bare = result[names[0]], result[names[1]]
    print(f"start-up, {args.runs} runs each, interleaved; median (min–max); load average {_loadavg()}\n")
    print("| server | tools | tools/list bytes | initialize ms | tools/list ms | CPU ms to tools/list | idle VmRSS MB | VmHWM MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in result.items():
        print(
            f"| {name} | {r['tools']} | {r['tools_list_bytes']:,} | {r['initialize_ms']:.0f} ({r['initialize_ms_min']:.0f}–{r['initialize_ms_max']:.0f}) "
            f"| {r['tools_list_ms']:.0f} ({r['tools_list_ms_min']:.0f}–{r['tools_list_ms_max']:.0f}) "
            f"| {r['cpu_ms']:.0f} ({r['cpu_ms_min']:.0f}–{r['cpu_ms_max']:.0f}) "
            f"| {r['rss_kb'] / 1024:.1f} | {r['hwm_kb'] / 1024:.1f} |"
        )
    ratio_init = ours["initialize_ms"] / bare["initialize_ms"]
    ratio_list = ours["tools_list_ms"] / bare["tools_list_ms"]
    ratio_cpu = ours["cpu_ms"] / bare["cpu_ms"]
    ratio_rss = ours["rss_kb"] / bare["rss_kb"]
    print(f"| **ratio ours/bare** | | | **{ratio_init:.2f}×** | **{ratio_list:.2f}×** | **{ratio_cpu:.2f}×** | **{ratio_rss:.2f}×** | |")
    for name in names[2:]:
        r = result[name]
        print(f"| ratio {name}/bare | | | {r['initialize_ms'] / bare['initialize_ms']:.2f}× | {r['tools_list_ms'] / bare['tools_list_ms']:.2f}× "
              f"| {r['cpu_ms'] / bare['cpu_ms']:.2f}× | {r['rss_kb'] / bare['rss_kb']:.2f}× | |")
    for name, ms in floors.items():
        print(f"| floor: `{name}` | | | {ms:.0f} (process exit) | | | | |")
    paired = {key: _paired(samples[names[0]], samples[names[1]], key) for key in ("initialize_ms", "tools_list_ms", "cpu_ms")}
    print(f"| **median of per-round ratios ours/bare** (quartiles) | | | **{_fmt(paired['initialize_ms'])}** "
          f"| **{_fmt(paired['tools_list_ms'])}** | **{_fmt(paired['cpu_ms'])}** | | |")
    for name in names[2:]:
        print(f"| median of per-round ratios {name}/bare | | | {_fmt(_paired(samples[name], samples[names[1]], 'initialize_ms'))} "
              f"| {_fmt(_paired(samples[name], samples[names[1]], 'tools_list_ms'))} | {_fmt(_paired(samples[name], samples[names[1]], 'cpu_ms'))} | | |")
    ratio_target = paired["tools_list_ms"][1]
    print(f"\ntargets: cold start ≤ 1.10× → {'PASS' if ratio_target <= 1.10 else 'MISS'} ({ratio_target:.2f}× per-round wall, "
          f"{paired['cpu_ms'][1]:.2f}× per-round CPU; ratio of medians {ratio_list:.2f}×); "
          f"idle RSS ≤ 1.15× → {'PASS' if ratio_rss <= 1.15 else 'MISS'} ({ratio_rss:.2f}×)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": args.runs, "servers": result, "floors_ms": floors,
                                         "ratio": {"initialize": ratio_init, "tools_list": ratio_list, "cpu": ratio_cpu, "rss": ratio_rss},
                                         "per_round_ratio_quartiles": paired}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
