"""Replay an agent's transcript of tool calls through the MCP Inspector CLI (issue 26).

    python scripts/inspector_replay.py [--transcript tests/support/worker_transcript.json]

Each step is one `npx @modelcontextprotocol/inspector --cli` run against `server.py` on one
SQLite file in a scratch directory: a separate client (the Inspector's TypeScript SDK
client, which checks each structuredContent against the tool's outputSchema) and a fresh
server process each time, as an agent that reconnects would. The lead's steps run on the
default profile, the worker's with MCP_TASKS_TOOLS=core. A step fails when the Inspector
exits non-zero, the answer is an error it did not expect, or an expected value differs.
Prints one line per step with the bytes of its answer's text. Needs npm (Node.js 18+).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
PROFILES = {"lead": "standard", "worker": "core"}
STEP_SECONDS = 180  # one npx start, a server start and one call, on a loaded machine


def inspector(home: Path, profile: str, method: str, tool: str | None = None, args: dict | None = None) -> dict:
    command = [
        shutil.which("npx") or "npx", "-y", INSPECTOR, "--cli",
        "-e", f"DATABASE_URL=sqlite:///{home}/tasks.db", "-e", f"HOME={home}", "-e", f"MCP_TASKS_TOOLS={profile}",
        "-e", f"QUALITY_ALLOWED_PATHS={home / 'project'}", "-e", "MCP_TASKS_ACTOR=replay",
        sys.executable, str(ROOT / "server.py"), "--method", method,
    ]
    if tool:
        command += ["--tool-name", tool]
        for key, value in (args or {}).items():
            command += ["--tool-arg", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=STEP_SECONDS, cwd=home / "project")
    if done.returncode != 0:
        raise AssertionError(f"the Inspector failed ({done.returncode}): {done.stderr[-2000:] or done.stdout[-2000:]}")
    return json.loads(done.stdout)


def replay(transcript: Path, home: Path) -> list[str]:
    (home / "project").mkdir(parents=True, exist_ok=True)
    (home / "project" / "importer.py").write_text('"""Shipment importer."""\n\n\ndef retries() -> int:\n    return 3\n')
    steps = json.loads(transcript.read_text())["steps"]
    claimed: int | None = None
    lines = []
    for number, step in enumerate(steps, 1):
        profile = PROFILES[step["as"]]
        if step.get("method") == "tools/list":
            answer = inspector(home, profile, "tools/list")
            names = sorted(t["name"] for t in answer["tools"])
            assert names == step["expect_tools"], (number, names)
            lines.append(f"{number:2}. {step['as']:6} tools/list: {len(names)} tools, {len(json.dumps(answer)):,} bytes (pretty)")
            continue
        args = {k: (claimed if v == "$claimed" else v) for k, v in step["args"].items()}
        answer = inspector(home, profile, "tools/call", step["tool"], args)
        text = "".join(c.get("text", "") for c in answer.get("content", []))
        if "expect_refusal" in step:
            assert answer.get("isError") and text.startswith(step["expect_refusal"]), (number, text)
            lines.append(f"{number:2}. {step['as']:6} {step['tool']}: refused as expected: {text[:90]}")
            continue
        assert not answer.get("isError"), (number, step["tool"], text)
        data = answer["structuredContent"]
        assert json.loads(text) == data, (number, "text and structuredContent differ")
        for key in step.get("expect_keys", []):
            assert key in data, (number, key)
        for key, value in step.get("expect", {}).items():
            assert data.get(key) == value, (number, key, data.get(key))
        if step["tool"] == "tasks_claim":
            claimed = data["task"]["id"]
        lines.append(f"{number:2}. {step['as']:6} {step['tool']}: ok, {len(text.encode()):,} bytes of text")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transcript", type=Path, default=ROOT / "tests" / "support" / "worker_transcript.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for line in replay(args.transcript, Path(tmp)):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
