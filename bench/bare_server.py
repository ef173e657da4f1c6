"""The floor: a bare SDK server with one trivial tool, for start-up and latency baselines.

`--page` adds a second tool, `page`: a list result of n rows (default 50) with the same
twelve fields as a tasks_list row, declared the SDK's default way (a pydantic model as the
return type: the SDK builds the output schema and the structured result). It is the floor
for what a page of 50 costs the server and a validating client (bench/call_cost.py). It is
off by default so the start-up floor (bench/startup_bench.py) stays the one-tool server.

`--db` adds `ping_db`: the ping plus one `SELECT 1` round trip to the database in
DATABASE_URL, on one connection opened at the first call (PyMySQL or sqlite3, as the server
uses). It is the floor of a tool that reads the database once, which a trivial ping is not:
on MariaDB the round trip is a socket send, a blocking receive and the wake-up after it.
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


_connection = []


def ping_db(text: str = "ping") -> str:
    """Echo the text back after one SELECT 1 round trip to the database."""
    if not _connection:
        import os

        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        from config import parse_database_url

        s = parse_database_url(os.environ["DATABASE_URL"])
        if s.kind == "mysql":
            import pymysql

            _connection.append(pymysql.connect(host=s.host, port=s.port, user=s.user, password=s.password,
                                               database=s.name, autocommit=True,
                                               ssl_disabled=s.tls_disabled))
        else:
            import sqlite3

            _connection.append(sqlite3.connect(str(s.sqlite_path), check_same_thread=False))
    cursor = _connection[0].cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    return text


if "--page" in sys.argv:
    mcp.tool()(page)
if "--db" in sys.argv:
    mcp.tool()(ping_db)

if __name__ == "__main__":
    mcp.run()
