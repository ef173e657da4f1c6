-- Board sign-ins held by the server (issue 23), so that signing out ends a session on every
-- instance that shares the database: a copied cookie stops working. The cookie carries a
-- random token; this table keeps only its SHA-256, so reading the table signs nobody in.
-- Expired rows are deleted by the next sign-in (web/app.py); a row is tiny either way.
CREATE TABLE IF NOT EXISTS board_sessions (
token_hash CHAR(64) NOT NULL PRIMARY KEY,
name VARCHAR(100) NOT NULL,
expires_at DATETIME(6) NOT NULL,
created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
INDEX idx_board_sessions_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
