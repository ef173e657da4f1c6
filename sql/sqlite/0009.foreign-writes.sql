-- Other programs' writes on the change feed (issue 22), as MariaDB's triggers do it there
-- (infrastructure/foreign_writes.py): the sqlite3 shell or a script that changes the tables
-- reaches subscribers and the board, and a priority task it sets back to pending is claimed
-- in its priority's turn again.
--
-- Silent for this server's own writes, which write their own feed row with its precise kind
-- and actor: each of its write transactions puts a row in mcp_tasks_writing first and deletes
-- it before it commits (infrastructure/database.py). SQLite lets one writer in at a time, so
-- while the row exists only that transaction can write, and no other ever sees it.
CREATE TABLE IF NOT EXISTS mcp_tasks_writing (
writer INTEGER NOT NULL PRIMARY KEY
);
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_task_insert AFTER INSERT ON tasks
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor) VALUES (NEW.id, 'created', NULL);
END;
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_task_update AFTER UPDATE ON tasks
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor)
VALUES (NEW.id, CASE WHEN NEW.status IS OLD.status THEN 'updated' ELSE 'status' END, NULL);
UPDATE task_priorities SET queued = (NEW.status = 'pending'), due_sort = COALESCE(NEW.due_date, '9999-12-31 23:59:59')
WHERE task_id = NEW.id AND NOT (NEW.status IS OLD.status AND NEW.due_date IS OLD.due_date);
END;
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_task_delete AFTER DELETE ON tasks
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor) VALUES (OLD.id, 'deleted', NULL);
END;
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_comment AFTER INSERT ON task_comments
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor) VALUES (NEW.task_id, 'comment', substr(NEW.author, 1, 100));
END;
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_assignment AFTER INSERT ON task_assignments
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor) VALUES (NEW.task_id, 'assigned', substr(NEW.assignee, 1, 100));
END;
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_assignment_update AFTER UPDATE ON task_assignments
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor) VALUES (NEW.task_id, 'assigned', substr(NEW.assignee, 1, 100));
END;
CREATE TRIGGER IF NOT EXISTS mcp_tasks_feed_result AFTER INSERT ON task_results
WHEN NOT EXISTS (SELECT 1 FROM mcp_tasks_writing) BEGIN
INSERT INTO task_changes (task_id, kind, actor) VALUES (NEW.task_id, 'result', substr(NEW.executor, 1, 100));
END;
