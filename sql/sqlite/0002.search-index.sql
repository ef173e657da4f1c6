-- FTS5 over title and description, kept in step with tasks by triggers
-- (an external-content table: the text is stored once, in tasks).

CREATE VIRTUAL TABLE IF NOT EXISTS tasks_fts USING fts5(
title, description, content='tasks', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS tasks_fts_insert AFTER INSERT ON tasks BEGIN
INSERT INTO tasks_fts(rowid, title, description) VALUES (new.id, new.title, new.description);
END;
CREATE TRIGGER IF NOT EXISTS tasks_fts_delete AFTER DELETE ON tasks BEGIN
INSERT INTO tasks_fts(tasks_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
END;
CREATE TRIGGER IF NOT EXISTS tasks_fts_update AFTER UPDATE OF title, description ON tasks BEGIN
INSERT INTO tasks_fts(tasks_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
INSERT INTO tasks_fts(rowid, title, description) VALUES (new.id, new.title, new.description);
END;
INSERT INTO tasks_fts(tasks_fts) VALUES ('rebuild');
