-- The MCP Tasks extension (io.modelcontextprotocol/tasks, issue 27): one row per tool call
-- that became an MCP task. Written before the server answers CreateTaskResult, so tasks/get
-- on any instance finds it; the instance running it renews run_lease_until while it works,
-- and any instance reports a run whose lease ran out as failed. `principal` is who may see it
-- (an API key's name, a stdio process). No foreign key to tasks: a run of quality_check has
-- no task, and a run's record outlives a deleted task until its ttl ends.
CREATE TABLE IF NOT EXISTS mcp_task_runs (
task_key VARCHAR(64) NOT NULL PRIMARY KEY,
principal VARCHAR(200) NOT NULL,
tool VARCHAR(100) NOT NULL,
status VARCHAR(20) NOT NULL,
status_message TEXT DEFAULT NULL,
outcome LONGTEXT DEFAULT NULL,
cancel_requested TINYINT NOT NULL DEFAULT 0,
runner VARCHAR(100) DEFAULT NULL,
run_lease_until DATETIME(6) DEFAULT NULL,
ttl_ms BIGINT NOT NULL,
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
expires_at DATETIME(6) NOT NULL,
INDEX mcp_task_runs_expires (expires_at),
INDEX mcp_task_runs_lease (status, run_lease_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
