"""How requests reach the MCP server: stdio, streamable HTTP, bearer keys and sign-in, session caps.
No MCP tool lives here; tools/ holds those."""
