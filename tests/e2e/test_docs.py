"""The README's tool table is generated from tools/list; this keeps them in step."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_tool_table_matches_tools_list():
    generated = subprocess.run([sys.executable, str(ROOT / "docs" / "tool_table.py")], capture_output=True, text=True, check=True).stdout
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n", readme.index("<!-- tool-table:start")) + 1
    end = readme.index("<!-- tool-table:end")
    assert readme[start:end] == generated, "README tool table is stale: run docs/tool_table.py and paste its output"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = "python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt && .venv/bin/python -m pytest"
    assert readme.count(command) >= 1
    assert command in (ROOT / ".ci" / "run").read_text()
