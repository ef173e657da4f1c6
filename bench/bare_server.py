"""The floor: a bare SDK server with one trivial tool, for start-up and latency baselines.

`--page` adds a second tool, `page`: a list result of n rows (default 50) with the same
twelve fields as a tasks_list row, declared the SDK's default way (a pydantic model as the
return type: the SDK builds the output schema and the structured result). It is the floor
for what a page of 50 costs the server and a validating client (bench/call_cost.py). It is
off by default so the start-up floor (bench/startup_bench.py) stays the one-tool server.
"""
import sys
from typing import Optional

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

mcp = MCPServer("bare")


@mcp.tool()
def ping(text: str = "ping") -> str:
    """Echo the text back."""
    return text


class Row(BaseModel):
    id: int
    title: str
    description_preview: str
    type: str
    status: str
    priority: str
    labels: list[str]
    created_by: str
    parent_task_id: Optional[int]
    due_date: Optional[str]
    created_at: Optional[str]
    updated_at: Optional[str]


class Page(BaseModel):
    rows: list[Row]
    total: int


def page(n: int = 50) -> Page:
    """n rows shaped like a task list page."""
    rows = [
        Row(id=i, title=f"Row {i}: migrate the billing webhook to the new queue", description_preview="Move the handler "
            "off the request path so a slow customer endpoint cannot hold a worker; keep the retries.", type="ai_task",
            status="pending", priority="normal", labels=["billing", "queue"], created_by="bench", parent_task_id=None,
            due_date=None, created_at="2026-12-02T09:00:00Z", updated_at="2026-12-02T09:00:00Z")
        for i in range(1, n + 1)
    ]
    return Page(rows=rows, total=1000)


if "--page" in sys.argv:
    mcp.tool()(page)

if __name__ == "__main__":
    mcp.run()
