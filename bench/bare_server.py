"""The floor: a bare SDK server with one trivial tool, for start-up and latency baselines."""
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
def ping(text: str = "ping") -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    mcp.run()
