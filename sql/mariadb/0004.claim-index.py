"""The index tasks_claim walks: pending tasks by due date, then age (one per status)."""
from yoyo import step


def apply(conn):
    cursor = conn.cursor()
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name = 'tasks' AND index_name = 'idx_status_due_created'"
    )
    if cursor.fetchone()[0] == 0:
        cursor.execute("CREATE INDEX idx_status_due_created ON tasks (status, due_date, created_at)")


steps = [step(apply)]
