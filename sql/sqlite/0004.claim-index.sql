CREATE INDEX IF NOT EXISTS idx_tasks_status_due_created ON tasks(status, due_date, created_at);
