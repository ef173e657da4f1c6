-- The shared tables mirrored for the embedded SQLite file: ENUMs become CHECKed TEXT,
-- JSON becomes TEXT CHECKed with json_valid, timestamps come from SQLite's clock with
-- microseconds in the same text form MariaDB prints.

CREATE TABLE IF NOT EXISTS tasks (
id INTEGER PRIMARY KEY AUTOINCREMENT,
uuid TEXT NOT NULL UNIQUE,
title TEXT NOT NULL CHECK (length(title) <= 255),
description TEXT DEFAULT NULL,
type TEXT NOT NULL DEFAULT 'human_task' CHECK (type IN ('human_task', 'ai_task', 'mixed')),
status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
created_by TEXT NOT NULL,
created_by_type TEXT NOT NULL DEFAULT 'human' CHECK (created_by_type IN ('human', 'ai')),
parent_task_id INTEGER DEFAULT NULL REFERENCES tasks(id) ON DELETE SET NULL,
due_date TEXT DEFAULT NULL,
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
completed_at TEXT DEFAULT NULL,
metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata))
);
CREATE INDEX IF NOT EXISTS idx_tasks_status ON tasks(status);
CREATE INDEX IF NOT EXISTS idx_tasks_created_by ON tasks(created_by);
CREATE INDEX IF NOT EXISTS idx_tasks_type ON tasks(type);
CREATE INDEX IF NOT EXISTS idx_tasks_parent ON tasks(parent_task_id);
CREATE INDEX IF NOT EXISTS idx_tasks_created_at ON tasks(created_at);
CREATE INDEX IF NOT EXISTS idx_tasks_status_created ON tasks(status, created_at);

CREATE TABLE IF NOT EXISTS task_assignments (
id INTEGER PRIMARY KEY AUTOINCREMENT,
task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
assignee TEXT NOT NULL,
assignee_type TEXT NOT NULL CHECK (assignee_type IN ('human', 'ollama', 'claude', 'anthropic_api')),
model_name TEXT DEFAULT NULL,
assigned_by TEXT NOT NULL,
assigned_by_type TEXT NOT NULL DEFAULT 'human' CHECK (assigned_by_type IN ('human', 'ai')),
status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected', 'in_progress', 'completed')),
assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
accepted_at TEXT DEFAULT NULL,
completed_at TEXT DEFAULT NULL,
notes TEXT DEFAULT NULL
);
CREATE INDEX IF NOT EXISTS idx_assignments_task ON task_assignments(task_id);
CREATE INDEX IF NOT EXISTS idx_assignments_assignee ON task_assignments(assignee);
CREATE INDEX IF NOT EXISTS idx_assignments_status ON task_assignments(status);

CREATE TABLE IF NOT EXISTS task_results (
id INTEGER PRIMARY KEY AUTOINCREMENT,
task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
assignment_id INTEGER DEFAULT NULL REFERENCES task_assignments(id) ON DELETE SET NULL,
executor TEXT NOT NULL,
executor_type TEXT NOT NULL CHECK (executor_type IN ('human', 'ollama', 'claude', 'anthropic_api')),
model_name TEXT DEFAULT NULL,
request TEXT DEFAULT NULL,
response TEXT DEFAULT NULL,
request_timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
response_timestamp TEXT DEFAULT NULL,
duration_ms INTEGER DEFAULT NULL CHECK (duration_ms IS NULL OR duration_ms >= 0),
tokens_input INTEGER DEFAULT NULL CHECK (tokens_input IS NULL OR tokens_input >= 0),
tokens_output INTEGER DEFAULT NULL CHECK (tokens_output IS NULL OR tokens_output >= 0),
tokens_total INTEGER DEFAULT NULL CHECK (tokens_total IS NULL OR tokens_total >= 0),
cost_usd REAL DEFAULT NULL,
status TEXT NOT NULL DEFAULT 'success' CHECK (status IN ('success', 'error', 'partial')),
error_message TEXT DEFAULT NULL,
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_results_task ON task_results(task_id);
CREATE INDEX IF NOT EXISTS idx_results_assignment ON task_results(assignment_id);
CREATE INDEX IF NOT EXISTS idx_results_model ON task_results(model_name, executor_type);

CREATE TABLE IF NOT EXISTS task_comments (
id INTEGER PRIMARY KEY AUTOINCREMENT,
task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
author TEXT NOT NULL,
author_type TEXT NOT NULL DEFAULT 'human' CHECK (author_type IN ('human', 'ai')),
comment_type TEXT NOT NULL DEFAULT 'comment',
content TEXT NOT NULL,
metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata)),
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_comments_task ON task_comments(task_id);
CREATE INDEX IF NOT EXISTS idx_comments_created ON task_comments(created_at);
