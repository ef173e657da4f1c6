-- The shared tables exactly as the web app's installation guide creates them
-- (../shared/spec/000_*.txt), plus task_comments from DESIGN.md §2.
-- IF NOT EXISTS: on a database the web app made, this changes nothing.

CREATE TABLE IF NOT EXISTS tasks (
id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
uuid VARCHAR(36) NOT NULL,
title VARCHAR(255) NOT NULL,
description TEXT DEFAULT NULL,
type ENUM('human_task', 'ai_task', 'mixed') NOT NULL DEFAULT 'human_task',
status ENUM('pending', 'in_progress', 'completed', 'failed', 'cancelled') NOT NULL DEFAULT 'pending',
created_by VARCHAR(100) NOT NULL,
created_by_type ENUM('human', 'ai') NOT NULL DEFAULT 'human',
parent_task_id BIGINT UNSIGNED DEFAULT NULL,
due_date DATETIME DEFAULT NULL,
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
completed_at DATETIME(6) DEFAULT NULL,
metadata LONGTEXT CHECK (JSON_VALID(metadata)),
UNIQUE KEY uk_uuid (uuid),
INDEX idx_status (status),
INDEX idx_created_by (created_by),
INDEX idx_type (type),
INDEX idx_parent_task (parent_task_id),
INDEX idx_created_at (created_at),
INDEX idx_status_created (status, created_at),
CONSTRAINT fk_parent_task FOREIGN KEY (parent_task_id) REFERENCES tasks(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS task_assignments (
id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
task_id BIGINT UNSIGNED NOT NULL,
assignee VARCHAR(100) NOT NULL,
assignee_type ENUM('human', 'ollama', 'claude', 'anthropic_api') NOT NULL,
model_name VARCHAR(100) DEFAULT NULL,
assigned_by VARCHAR(100) NOT NULL,
assigned_by_type ENUM('human', 'ai') NOT NULL DEFAULT 'human',
status ENUM('pending', 'accepted', 'rejected', 'in_progress', 'completed') NOT NULL DEFAULT 'pending',
assigned_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
accepted_at DATETIME(6) DEFAULT NULL,
completed_at DATETIME(6) DEFAULT NULL,
notes TEXT DEFAULT NULL,
INDEX idx_task_id (task_id),
INDEX idx_assignee (assignee),
INDEX idx_assignee_type (assignee_type),
INDEX idx_status (status),
INDEX idx_assigned_at (assigned_at),
CONSTRAINT fk_assignment_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS task_results (
id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
task_id BIGINT UNSIGNED NOT NULL,
assignment_id BIGINT UNSIGNED DEFAULT NULL,
executor VARCHAR(100) NOT NULL,
executor_type ENUM('human', 'ollama', 'claude', 'anthropic_api') NOT NULL,
model_name VARCHAR(100) DEFAULT NULL,
request TEXT DEFAULT NULL,
response LONGTEXT DEFAULT NULL,
request_timestamp DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
response_timestamp DATETIME(6) DEFAULT NULL,
duration_ms INT UNSIGNED DEFAULT NULL,
tokens_input INT UNSIGNED DEFAULT NULL,
tokens_output INT UNSIGNED DEFAULT NULL,
tokens_total INT UNSIGNED DEFAULT NULL,
cost_usd DECIMAL(10,6) DEFAULT NULL,
status ENUM('success', 'error', 'partial') NOT NULL DEFAULT 'success',
error_message TEXT DEFAULT NULL,
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
INDEX idx_task_id (task_id),
INDEX idx_assignment_id (assignment_id),
INDEX idx_executor (executor),
INDEX idx_executor_type (executor_type),
INDEX idx_model (model_name),
INDEX idx_status (status),
INDEX idx_created_at (created_at),
CONSTRAINT fk_result_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE,
CONSTRAINT fk_result_assignment FOREIGN KEY (assignment_id) REFERENCES task_assignments(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS task_comments (
id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
task_id BIGINT UNSIGNED NOT NULL,
author VARCHAR(100) NOT NULL,
author_type ENUM('human', 'ai') NOT NULL DEFAULT 'human',
comment_type VARCHAR(50) NOT NULL DEFAULT 'comment',
content TEXT NOT NULL,
metadata LONGTEXT CHECK (JSON_VALID(metadata)),
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
INDEX idx_task_id (task_id),
INDEX idx_created_at (created_at),
CONSTRAINT fk_comment_task FOREIGN KEY (task_id) REFERENCES tasks(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
