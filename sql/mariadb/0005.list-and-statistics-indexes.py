"""Indexes for tasks_list filters and tasks_statistics at a million rows (bench/RESULTS.md).

- idx_status_type_created: status+type filter pages in index order, the capped count of
  such a page from the index alone, and GROUP BY status, type as an index scan (without it
  MariaDB intersects idx_status and idx_type and sorts ~130,000 rows: 2 s a page).
- idx_results_usage: the per-model sums of tasks_statistics from a covering index
  (3.2 s full-table scan → 0.28 s).
"""
from yoyo import step

INDEXES = {
    ("tasks", "idx_status_type_created"): "CREATE INDEX idx_status_type_created ON tasks (status, type, created_at)",
    ("task_results", "idx_results_usage"): "CREATE INDEX idx_results_usage ON task_results "
    "(model_name, executor_type, tokens_input, tokens_output, tokens_total, cost_usd, duration_ms)",
}


def apply(conn):
    cursor = conn.cursor()
    for (table, name), ddl in INDEXES.items():
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = %s AND index_name = %s",
            (table, name),
        )
        if cursor.fetchone()[0] == 0:
            cursor.execute(ddl)


steps = [step(apply)]
