"""Where a cold start's instructions go, stage by stage (callgrind; see startup_instructions.py).

    mkdir -p /tmp/stages && DATABASE_URL=sqlite:///$PWD/bench/data/bench_1k.db \\
      valgrind --tool=callgrind --dump-before='*getppid*' --callgrind-out-file=/tmp/stages/cg.%p \\
      .venv/bin/python bench/startup_stages.py
    for f in $(ls /tmp/stages/cg.*.* | sort -t. -k3 -n); do grep -m1 '^summary:' $f; done

Each `os.getppid()` below is a marker: callgrind writes one profile part at each call, so
the parts' totals are the stages in order (each marker makes two parts; the second, a few
hundred instructions, is the marker itself; the file without a suffix is what ran after the
last marker: interpreter exit). `callgrind_annotate --inclusive=yes <part>` then names the C
functions of a stage (e.g. gc_collect_main, or builtin_compile when a .pyc was missing: run
once without valgrind first). `--bare` stages the bare SDK server instead. Unlike server.py,
this keeps the cyclic collector on throughout, so it shows what the SDK and our code cost.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
mark = os.getppid

mark()  # 1: interpreter up (site, the venv's .pth files)
if "--bare" in sys.argv:
    from mcp.server.mcpserver import MCPServer

    mark()  # 2: the SDK imported
    bare = MCPServer("bare")

    @bare.tool()
    def ping(text: str = "ping") -> str:
        """Echo the text back."""
        return text

    mark()  # 3: the server and its one tool
    import asyncio  # already imported by the SDK

    asyncio.run(bare.list_tools())
    mark()  # 4: tools/list (in-process)
else:
    import server

    mark()  # 2: server.py's own imports (config, domain)
    config = server.config_from_environment()
    mark()  # 3: config read
    from mcp.server.mcpserver import MCPServer  # noqa: F401

    mark()  # 4: the SDK imported
    mcp = server.build_server(config)
    mark()  # 5: build_server: our tool modules imported, 15 tools, 2 prompts, resources registered
    import asyncio  # already imported by the SDK

    asyncio.run(mcp.list_tools())
    mark()  # 6: tools/list (in-process)
