-- The order of work; see sql/mariadb/0006.work-order.sql. SQLite serialises writers
-- (BEGIN IMMEDIATE), so it needs no graph lock row; the table exists so both schemas match.
CREATE TABLE IF NOT EXISTS task_dependencies (
task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
depends_on_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
PRIMARY KEY (task_id, depends_on_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_dependencies_blocker ON task_dependencies(depends_on_id, task_id);
CREATE TABLE IF NOT EXISTS task_priorities (
task_id INTEGER NOT NULL PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
priority INTEGER NOT NULL CHECK (priority IN (0, 2, 3)),
queued INTEGER NOT NULL DEFAULT 1 CHECK (queued IN (0, 1)),
due_sort TEXT NOT NULL DEFAULT '9999-12-31 23:59:59',
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_priority_queue ON task_priorities(queued, priority, due_sort, created_at, task_id);
CREATE TABLE IF NOT EXISTS task_labels (
task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
label TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 50),
PRIMARY KEY (task_id, label)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_label ON task_labels(label, task_id);
CREATE TABLE IF NOT EXISTS task_graph_lock (id INTEGER NOT NULL PRIMARY KEY);
INSERT OR IGNORE INTO task_graph_lock (id) VALUES (1);
