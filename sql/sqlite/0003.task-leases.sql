-- Claims with leases; see sql/mariadb/0003.task-leases.sql.
CREATE TABLE IF NOT EXISTS task_leases (
task_id INTEGER NOT NULL PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
holder TEXT DEFAULT NULL,
holder_type TEXT DEFAULT NULL,
assignment_id INTEGER DEFAULT NULL,
lease_seconds INTEGER NOT NULL DEFAULT 1800,
expires_at TEXT DEFAULT NULL,
attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_leases_expires ON task_leases(expires_at);
