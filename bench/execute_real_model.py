"""tasks_execute's own overhead against a real model (issue 29).

    python bench/execute_real_model.py [--runs 5] [--long 128]

The chain of tests/support/real_model.py (llama-server with SmolLM2-135M, ollama-proxy-plus
in front; built once into ~/.cache/mcp-tasks-build/real-model) and the server as a
subprocess on an SQLite file, driven by the official MCP client over stdio with progress.
Each run is one tasks_execute call on a fresh task; the runs alternate between
max_tokens=1 and max_tokens=--long, after one warm-up of each.

- first progress: from sending tools/call to the first progress notification ("<model>
  started on task N"): our preflight (GET /api/tags through the proxy), the start
  transaction and the notification, before the model is asked anything;
- first text: to the first "N characters from" notification (adds the proxy, the prompt's
  evaluation and the first token);
- our CPU per streamed chunk: the server process's CPU (utime+stime from /proc) per call,
  long minus short, divided by the tokens llama-server generated more (its /metrics). One
  token is one NDJSON record from the proxy (empty ones aside), so this is the cost of
  reading, decoding, keeping and reporting one record. The server's idle CPU over the
  longer call's extra seconds (measured for --idle seconds first) is shown beside it; /proc
  counts in 10 ms ticks, so use a --long of a few hundred tokens.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import server_env  # noqa: E402
from tests.support.mcp_stdio import stdio_session  # noqa: E402
from tests.support.real_model import ensure_chain, serve  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def server_pid() -> int:
    """The server subprocess: our child whose command line runs server.py."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"server.py" in cmdline:
            return int(entry.name)
    raise RuntimeError("the server subprocess was not found")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def one_run(session, pid: int, backend, max_tokens: int) -> dict:
    task = (await session.call_tool("tasks_create", {"title": "Write a 2,000-word story about a lighthouse."})).structured_content
    marks: list[tuple[float, str]] = []

    async def on_progress(value, total, message):
        marks.append((time.perf_counter(), message or ""))

    tokens, cpu = backend.tokens_predicted(), cpu_seconds(pid)
    started = time.perf_counter()
    result = await session.call_tool("tasks_execute", {"id": task["id"], "max_tokens": max_tokens}, progress_callback=on_progress)
    ended = time.perf_counter()
    assert not result.is_error, result.content
    first_text = next((t for t, m in marks if "characters from" in m), None)
    return {
        "first_progress_ms": (marks[0][0] - started) * 1000 if marks else None,
        "first_text_ms": (first_text - started) * 1000 if first_text else None,
        "call_ms": (ended - started) * 1000,
        "cpu_ms": (cpu_seconds(pid) - cpu) * 1000,
        "tokens": backend.tokens_predicted() - tokens,
    }


async def main(runs: int, long: int, idle: float) -> None:
    chain = ensure_chain()
    with tempfile.TemporaryDirectory() as scratch, serve(chain, Path(scratch) / "chain") as backend:
        env = server_env(f"sqlite://{scratch}/bench.db", Path(scratch), OLLAMA_HOST=backend.ollama_url,
                         OLLAMA_MODEL=backend.model, OLLAMA_MAX_TOKENS="4096", LOG_LEVEL="WARNING")
        async with stdio_session(env) as session:
            pid = server_pid()
            before = cpu_seconds(pid)
            await anyio.sleep(idle)
            idle_ms_per_s = (cpu_seconds(pid) - before) * 1000 / idle
            await one_run(session, pid, backend, 1)
            await one_run(session, pid, backend, long)  # warm-up: imports, the model's caches
            short, longer = [], []
            for _ in range(runs):
                short.append(await one_run(session, pid, backend, 1))
                longer.append(await one_run(session, pid, backend, long))

    def med(rows, key):
        values = [row[key] for row in rows if row[key] is not None]
        return statistics.median(values) if values else float("nan")

    extra_tokens = max(1e-9, med(longer, "tokens") - med(short, "tokens"))
    per_chunk = (med(longer, "cpu_ms") - med(short, "cpu_ms")) / extra_tokens
    idle_share = idle_ms_per_s * (med(longer, "call_ms") - med(short, "call_ms")) / 1000 / extra_tokens
    print(f"runs={runs} per size, medians; load average {os.getloadavg()[0]:.1f}")
    print("| max_tokens | tokens generated | first progress (ms) | first text (ms) | whole call (ms) | server CPU (ms) |")
    print("|---|---|---|---|---|---|")
    for size, rows in ((1, short), (long, longer)):
        print(f"| {size} | {med(rows, 'tokens'):.0f} | {med(rows, 'first_progress_ms'):.1f} | {med(rows, 'first_text_ms'):.1f} "
              f"| {med(rows, 'call_ms'):.0f} | {med(rows, 'cpu_ms'):.1f} |")
    print(f"server idle: {idle_ms_per_s:.2f} ms CPU per second; of the per-chunk figure below, idle time is "
          f"{idle_share * 1000:.0f} µs")
    print(f"our CPU per streamed chunk: {per_chunk * 1000:.0f} µs "
          f"(first progress min/max over all runs: {min(r['first_progress_ms'] for r in short + longer):.1f}/"
          f"{max(r['first_progress_ms'] for r in short + longer):.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--long", type=int, default=384)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    anyio.run(main, args.runs, args.long, args.idle)
