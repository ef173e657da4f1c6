"""The columns and table sql/mariadb/0011.galera.py adds, for the same schema on both
backends. SQLite uses none of them: one writer at a time orders its feed by seq."""
from yoyo import step


def apply(conn):
    cursor = conn.cursor()
    for table, column, ddl in (
        ("task_graph_lock", "changes", "ALTER TABLE task_graph_lock ADD COLUMN changes INTEGER NOT NULL DEFAULT 0"),
        ("task_changes", "pos", "ALTER TABLE task_changes ADD COLUMN pos INTEGER DEFAULT NULL"),
    ):
        cursor.execute(f"PRAGMA table_info({table})")
        if column not in {row[1] for row in cursor.fetchall()}:
            cursor.execute(ddl)
    cursor.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_changes_pos ON task_changes (pos)")
    cursor.execute("CREATE TABLE IF NOT EXISTS task_feed_position (id INTEGER NOT NULL PRIMARY KEY, pos INTEGER NOT NULL)")
    cursor.execute("INSERT OR IGNORE INTO task_feed_position (id, pos) SELECT 1, COALESCE(MAX(seq), 0) FROM task_changes")


steps = [step(apply)]
