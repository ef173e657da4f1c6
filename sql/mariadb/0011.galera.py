"""What a Galera cluster needs (issue 24; README "Deployments", infrastructure/change_feed.py).

- task_graph_lock.changes: every graph change (a parent, a dependency) increments it. Galera
  certifies writes only, never a SELECT ... FOR UPDATE, so the graph lock must be a write
  for two graph changes on two nodes to collide (one is refused with 1213 and retried).
- task_changes.pos and task_feed_position: on Galera the feed's order is `pos`, handed out
  after commit by a sequencer (ChangeFeed.sequence) from the one row of task_feed_position,
  so positions are contiguous and become visible in order on every node. Rows already
  there keep their seq as their pos, so a resume point from before stays valid. On one
  server pos stays unused (the feed reads seq there).

MySQL 8 has no ADD COLUMN IF NOT EXISTS, hence the look in information_schema.
"""
from yoyo import step

COLUMNS = {
    ("task_graph_lock", "changes"): "ALTER TABLE task_graph_lock ADD COLUMN changes BIGINT UNSIGNED NOT NULL DEFAULT 0",
    ("task_changes", "pos"): "ALTER TABLE task_changes ADD COLUMN pos BIGINT UNSIGNED DEFAULT NULL, ADD UNIQUE INDEX idx_changes_pos (pos)",
}


def apply(conn):
    cursor = conn.cursor()
    for (table, column), ddl in COLUMNS.items():
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s AND column_name = %s",
            (table, column),
        )
        if cursor.fetchone()[0] == 0:
            cursor.execute(ddl)
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS task_feed_position (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, "
        "pos BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB"
    )
    cursor.execute("UPDATE task_changes SET pos = seq WHERE pos IS NULL")
    cursor.execute("INSERT IGNORE INTO task_feed_position (id, pos) SELECT 1, COALESCE(MAX(seq), 0) FROM task_changes")


steps = [step(apply)]
