-- The order of work (issue 12): dependencies, priority, labels. Side tables, so the shared
-- tables keep their columns exactly.
-- task_dependencies: task_id may start only when depends_on_id is completed. The primary key
-- answers "what blocks this task" (the ready check of a claim); the second index "what does
-- this task block" (tasks_get's blocks list).
CREATE TABLE IF NOT EXISTS task_dependencies (
task_id BIGINT UNSIGNED NOT NULL,
depends_on_id BIGINT UNSIGNED NOT NULL,
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
PRIMARY KEY (task_id, depends_on_id),
INDEX idx_dependencies_blocker (depends_on_id, task_id),
CONSTRAINT fk_dependency_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE,
CONSTRAINT fk_dependency_blocker FOREIGN KEY (depends_on_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- task_priorities: a row only for a task whose priority is not normal (0 low, 2 high, 3 urgent),
-- so a task the web app made is normal without a row. queued is 1 while the task is pending
-- (kept by every status change the server makes), and due_sort/created_at copy the task's
-- order (due date, undated last, then age): a claim's urgent, high and low passes walk
-- idx_priority_queue in claim order and stop at the first ready task, reading only pending
-- tasks' rows, not every priority ever set (bench/RESULTS.md).
CREATE TABLE IF NOT EXISTS task_priorities (
task_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
priority TINYINT UNSIGNED NOT NULL,
queued TINYINT UNSIGNED NOT NULL DEFAULT 1,
due_sort DATETIME NOT NULL DEFAULT '9999-12-31 23:59:59',
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
INDEX idx_priority_queue (queued, priority, due_sort, created_at, task_id),
CONSTRAINT fk_priority_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS task_labels (
task_id BIGINT UNSIGNED NOT NULL,
label VARCHAR(50) NOT NULL,
PRIMARY KEY (task_id, label),
INDEX idx_label (label, task_id),
CONSTRAINT fk_label_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One row that every change of the task graph (a parent, a dependency) locks first, so two
-- concurrent changes that each look fine alone cannot close a cycle together.
CREATE TABLE IF NOT EXISTS task_graph_lock (
id TINYINT UNSIGNED NOT NULL PRIMARY KEY
) ENGINE=InnoDB;
INSERT IGNORE INTO task_graph_lock (id) VALUES (1);
