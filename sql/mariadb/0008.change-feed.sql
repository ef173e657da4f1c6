-- The change feed (issue 14): one row per change, written in the same transaction as the
-- history row that describes it (and one for a deletion, whose history the cascade removes).
-- Watchers in every process read it by primary key: WHERE seq > last ORDER BY seq, an index
-- range scan whose cost does not grow with the table (bench/RESULTS.md). No foreign key:
-- a deleted task's "deleted" row must outlive the task. infrastructure/change_feed.py says
-- how a watcher copes with AUTO_INCREMENT values that commit out of order.
CREATE TABLE IF NOT EXISTS task_changes (
seq BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
task_id BIGINT UNSIGNED NOT NULL,
kind VARCHAR(20) NOT NULL,
actor VARCHAR(100) DEFAULT NULL,
changed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
