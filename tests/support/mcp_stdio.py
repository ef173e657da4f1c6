"""The server as a subprocess, driven by the SDK's real client over stdio."""
from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import Implementation

SERVER = Path(__file__).resolve().parents[2] / "server.py"


@asynccontextmanager
async def stdio_session(
    env: dict[str, str], errlog=None, client_name: str | None = None, **session_options
) -> AsyncIterator[ClientSession]:
    """client_name: the clientInfo.name the client gives in initialize (default: the SDK's);
    session_options go to the SDK's ClientSession (e.g. elicitation_callback=...)."""
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env, cwd=str(SERVER.parent))
    info = Implementation(name=client_name, version="1.0") if client_name else None
    async with stdio_client(params, errlog=errlog or sys.stderr) as (read, write):
        async with ClientSession(read, write, client_info=info, **session_options) as session:
            await session.initialize()
            yield session
