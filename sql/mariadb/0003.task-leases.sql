-- Claims with leases (tasks_claim, tasks_status → in_progress, tasks_execute): a side table,
-- so the shared tables' columns stay as the web app made them. One row per task that was
-- ever claimed; holder and expires_at are NULL while nobody holds it, attempts survives.
CREATE TABLE IF NOT EXISTS task_leases (
task_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
holder VARCHAR(100) DEFAULT NULL,
holder_type VARCHAR(20) DEFAULT NULL,
assignment_id BIGINT UNSIGNED DEFAULT NULL,
lease_seconds INT UNSIGNED NOT NULL DEFAULT 1800,
expires_at DATETIME(6) DEFAULT NULL,
attempts INT UNSIGNED NOT NULL DEFAULT 0,
INDEX idx_expires (expires_at),
CONSTRAINT fk_lease_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
