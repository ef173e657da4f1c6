"""Generated files stay in step with the code: the README tool table, the stored output schemas."""
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


def test_stored_output_schemas_match_the_result_models():
    sys.path.insert(0, str(ROOT / "docs"))
    from output_schemas import all_tools

    from tools.output_schemas import SCHEMA_FILE, generate

    assert SCHEMA_FILE.read_text() == generate(all_tools()), (
        "tools/output_schemas.json is stale: run .venv/bin/python docs/output_schemas.py"
    )
