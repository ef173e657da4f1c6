"""The board's sign-ins, held in the database (sql/*/0010.board-sessions.sql): a session is
live while its row is, so signing out on one instance ends it on all of them.

Only a token's SHA-256 is stored; the token itself lives in the browser's cookie, signed
by web/security.py. Times are on the database clock, like every other timestamp.
"""
from __future__ import annotations

import hashlib

from domain.errors import StorageError
from infrastructure.command_name import init_db
from infrastructure.database import Database
from infrastructure.tx import Tx

PRUNE_BATCH = 100  # expired rows one sign-in deletes on its way


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class BoardSessions:
    def __init__(self, db: Database):
        self.db = db
        self._present = False  # once seen, the table stays (init-db never drops it); until then, asked each time

    def _has_table(self, tx: Tx) -> bool:
        self._present = self._present or tx.has_table("board_sessions")
        return self._present

    def _expires(self, tx: Tx) -> str:
        if tx.dialect == "mysql":
            return "NOW(6) + INTERVAL %s SECOND"
        return "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || %s || ' seconds')"

    def _require(self, tx: Tx) -> None:
        if not self._has_table(tx):
            raise StorageError(
                "Signing in to the board needs the table board_sessions, which init-db creates; this database has "
                f"not been upgraded. Run `{init_db()}` once, then sign in again.", retryable=False,
            )

    def start(self, token: str, name: str, seconds: int) -> None:
        def run(tx: Tx) -> None:
            self._require(tx)
            expired = [r["token_hash"] for r in tx.rows(
                f"SELECT token_hash FROM board_sessions WHERE expires_at < {tx.now} LIMIT {PRUNE_BATCH}")]
            if expired:
                tx.execute(f"DELETE FROM board_sessions WHERE token_hash IN ({', '.join(['%s'] * len(expired))})", expired)
            tx.execute(
                f"INSERT INTO board_sessions (token_hash, name, expires_at) VALUES (%s, %s, {self._expires(tx)})",
                [_hash(token), name, seconds],
            )

        self.db.write(run)

    def active(self, token: str, name: str) -> bool:
        """Whether this token's session is signed in as `name` and not expired."""
        row = self.db.read(lambda tx: tx.row(
            f"SELECT name FROM board_sessions WHERE token_hash = %s AND expires_at > {tx.now}", [_hash(token)]
        ) if self._has_table(tx) else None)
        return bool(row) and row["name"] == name

    def end(self, token: str) -> None:
        self.db.write(lambda tx: tx.execute("DELETE FROM board_sessions WHERE token_hash = %s", [_hash(token)])
                      if self._has_table(tx) else None)
