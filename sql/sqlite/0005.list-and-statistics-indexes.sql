-- See sql/mariadb/0005.list-and-statistics-indexes.py.
CREATE INDEX IF NOT EXISTS idx_tasks_status_type_created ON tasks(status, type, created_at);
CREATE INDEX IF NOT EXISTS idx_results_usage ON task_results(model_name, executor_type, tokens_input, tokens_output, tokens_total, cost_usd, duration_ms);
