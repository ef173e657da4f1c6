"""Build the Claude Desktop bundle (MCPB): dist/mcp-tasks-<version>-<platform>-py<XY>.mcpb.

    python scripts/build_mcpb.py [--wheel WHEEL] [--out DIR] [--mcpb PATH]

A `python` bundle (manifest.json, server.type "python"): the wheel and every dependency are
installed into the bundle's server/lib, which the manifest puts on PYTHONPATH, so Desktop
needs only a Python 3 (`python3`, `python` on Windows) and no network. pydantic-core and a
few others are compiled, so a bundle runs on the platform and Python minor version that
built it; this script narrows the packed manifest's `compatibility` to exactly those (run
it once per platform to publish several). The `mcpb` CLI (npm @anthropic-ai/mcpb) validates
the manifest and packs; without --mcpb it is installed once into a cache directory.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MCPB_PACKAGE = "@anthropic-ai/mcpb@2.1.2"


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mcp-tasks-build"


def npm_tool(package: str, binary: str) -> Path:
    """`binary` from an npm package installed once under the cache directory (no global install)."""
    prefix = cache_dir() / "npm" / package.replace("/", "+").replace("@", "")
    found = prefix / "node_modules" / ".bin" / binary
    if not found.exists():
        npm = shutil.which("npm")
        if not npm:
            raise SystemExit(f"npm is needed to install {package} (Node.js 18 or newer); install Node.js, or pass --mcpb")
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(prefix), package],
                       check=True, stdout=subprocess.DEVNULL)
    return found


def build_wheel(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    # setuptools copies into build/lib and never deletes there: a file removed from the tree would live on in the wheel.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], check=True)
    return max(out.glob("mcp_tasks-*.whl"), key=lambda p: p.stat().st_mtime)


def stage_bundle(wheel: Path, stage: Path) -> dict:
    """The directory `mcpb pack` packs; returns the manifest written into it."""
    if stage.exists():
        shutil.rmtree(stage)
    lib = stage / "server" / "lib"
    lib.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(lib), str(wheel)], check=True)
    shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts with this machine's paths in them
    manifest = json.loads((ROOT / "manifest.json").read_text())
    major, minor = sys.version_info[:2]
    manifest["compatibility"] = {
        **manifest.get("compatibility", {}),
        "platforms": [sys.platform],
        "runtimes": {"python": f">={major}.{minor} <{major}.{minor + 1}"},
    }
    (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for name in ("LICENSE", "README.md", "CHANGELOG.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, stage / name)
    return manifest


def pack(stage: Path, out: Path, mcpb: Path) -> Path:
    manifest = json.loads((stage / "manifest.json").read_text())
    major, minor = sys.version_info[:2]
    bundle = out / f"mcp-tasks-{manifest['version']}-{sys.platform}-py{major}{minor}.mcpb"
    subprocess.run([str(mcpb), "validate", str(stage / "manifest.json")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([str(mcpb), "pack", str(stage), str(bundle)], check=True, stdout=subprocess.DEVNULL)
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="the mcp_tasks wheel to bundle (default: build one)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the .mcpb goes (default dist/)")
    parser.add_argument("--mcpb", type=Path, help="the mcpb CLI (default: npm " + MCPB_PACKAGE + ", cached)")
    args = parser.parse_args(argv)
    mcpb = args.mcpb or npm_tool(MCPB_PACKAGE, "mcpb")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mcp-tasks-mcpb-") as scratch:
        wheel = args.wheel or build_wheel(Path(scratch) / "wheel")
        stage = Path(scratch) / "bundle"
        stage_bundle(wheel, stage)
        bundle = pack(stage, args.out.resolve(), mcpb)
    print(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
