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
-- so a task the web app made is normal without a row, and a claim's urgent and high passes
-- read only the few rows there are.
CREATE TABLE IF NOT EXISTS task_priorities (
task_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
priority TINYINT UNSIGNED NOT NULL,
INDEX idx_priority (priority, task_id),
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
