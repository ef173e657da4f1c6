-- Another program (the sqlite3 shell, a script) deleting a task that others depend on: each
-- dependent's history says its blocker went, and so why it may be ready now, as tasks_delete
-- says it for this server's own deletions (MariaDB's twin: infrastructure/foreign_writes.py,
-- mcp_tasks_feed_blocker_delete). The comment trigger of 0009 puts it on the change feed.
-- The edge is deleted here too: the sqlite3 shell runs with foreign keys off by default, so
-- no cascade would take it, and the dependent would wait for ever on a task that is gone.
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_blocker_delete BEFORE DELETE ON tasks
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_comments (task_id, author, author_type, comment_type, content, metadata)
SELECT task_id, 'another program', 'human', 'update',
'Blocker task ' || OLD.id || ' was deleted by another program; the dependency on it is gone',
'{"deleted_blocker": ' || OLD.id || '}'
FROM task_dependencies WHERE depends_on_id = OLD.id;
DELETE FROM task_dependencies WHERE depends_on_id = OLD.id;
END;
