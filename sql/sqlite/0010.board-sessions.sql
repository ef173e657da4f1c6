-- See sql/mariadb/0010.board-sessions.sql.
CREATE TABLE IF NOT EXISTS board_sessions (
token_hash TEXT NOT NULL PRIMARY KEY CHECK (length(token_hash) = 64),
name TEXT NOT NULL,
expires_at TEXT NOT NULL,
created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_board_sessions_expires ON board_sessions(expires_at);
