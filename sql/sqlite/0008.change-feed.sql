-- See sql/mariadb/0008.change-feed.sql. AUTOINCREMENT: a seq is never used twice, even after
-- the newest rows are deleted, so a consumer resuming from a seq cannot skip a reused one.
-- SQLite lets one writer in at a time (BEGIN IMMEDIATE), so seqs commit in order here.
CREATE TABLE IF NOT EXISTS task_changes (
seq INTEGER PRIMARY KEY AUTOINCREMENT,
task_id INTEGER NOT NULL,
kind TEXT NOT NULL,
actor TEXT DEFAULT NULL,
changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
