-- See sql/mariadb/0012.mcp-task-runs.sql.
CREATE TABLE IF NOT EXISTS mcp_task_runs (
task_key TEXT NOT NULL PRIMARY KEY,
principal TEXT NOT NULL,
tool TEXT NOT NULL,
status TEXT NOT NULL CHECK (status IN ('working', 'completed', 'failed', 'cancelled')),
status_message TEXT DEFAULT NULL,
outcome TEXT DEFAULT NULL CHECK (outcome IS NULL OR json_valid(outcome)),
cancel_requested INTEGER NOT NULL DEFAULT 0,
runner TEXT DEFAULT NULL,
run_lease_until TEXT DEFAULT NULL,
ttl_ms INTEGER NOT NULL,
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mcp_task_runs_expires ON mcp_task_runs (expires_at);
CREATE INDEX IF NOT EXISTS mcp_task_runs_lease ON mcp_task_runs (status, run_lease_until);
