"""The four scopes a principal may hold, and the API-key role names that stand for them.
The rules over them (what each tool needs, what each scope includes) are validators/roles.py."""

READ, WRITE, REVIEW, ADMIN = "tasks:read", "tasks:write", "tasks:review", "tasks:admin"
SCOPES = (READ, WRITE, REVIEW, ADMIN)  # lowest first: each includes those before it
ROLES = {"read": READ, "write": WRITE, "review": REVIEW, "admin": ADMIN}  # MCP_API_KEYS role -> scope
