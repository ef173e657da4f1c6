"""The `mcp-tasks` command (and `python -m mcp_tasks`) of the installed package.

The code imports its parts as top-level modules (`from config import ...`), as it does when
`python server.py` runs in a clone. Installed, those parts live inside the one package
`mcp_tasks` (see pyproject.toml), so nothing called `domain` or `tools` sits in
site-packages beside other distributions' modules. Here that package's own directory goes
first on sys.path, for this process only, and server.py's main runs: the same command line.
"""
import os
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path[:1]:
        sys.path.insert(0, here)
    from server import main as server_main

    return server_main()


if __name__ == "__main__":
    sys.exit(main())
