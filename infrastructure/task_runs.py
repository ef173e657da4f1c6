"""The records of MCP tasks (the 2026 Tasks extension, io.modelcontextprotocol/tasks): a tool
call that became a task, its status, and its outcome once it ends. Table mcp_task_runs
(sql/*/0012.mcp-task-runs.sql). tools/task_extension.py speaks the protocol; this is its SQL.

Every instance on the database answers for every record: the instance that runs a call renews
`run_lease_until` while it works and reads `cancel_requested` as it does; any instance that finds
a working record whose lease ran out reports it failed (its process died), and deletes records
past their ttl. Times are UTC on the database's clock (UTC_TIMESTAMP on MariaDB, whatever the
session's time zone), so `createdAt` can carry a Z.
"""
from __future__ import annotations

import json
from typing import Any

from infrastructure.database import Database
from infrastructure.tx import Tx, text_time

STATUSES = ("working", "completed", "failed", "cancelled")
PRUNE_BATCH = 500  # records a prune deletes at a time: a bounded statement however many expired
DEAD_RUN_CODE = -32603  # JSON-RPC internal error: the run's process stopped


def _now(tx: Tx) -> str:
    return "UTC_TIMESTAMP(6)" if tx.dialect == "mysql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"


def _later(tx: Tx) -> str:
    """SQL for now + %s seconds (UTC)."""
    if tx.dialect == "mysql":
        return "UTC_TIMESTAMP(6) + INTERVAL %s SECOND"
    return "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || %s || ' seconds')"


def _iso(value: Any) -> str:
    return (text_time(value) or "") + "Z"


class TaskRuns:
    def __init__(self, db: Database):
        self.db = db
        self._mine: set[str] = set()  # records this process runs and has not finished

    def create(self, key: str, *, principal: str, tool: str, ttl_ms: int, runner: str, lease_seconds: float) -> dict[str, Any]:
        """Record a new working run and return it as the protocol shows it. Committed when this
        returns: a tasks/get on any instance finds it from then on."""

        def run(tx: Tx) -> dict[str, Any]:
            tx.execute(
                "INSERT INTO mcp_task_runs (task_key, principal, tool, status, runner, run_lease_until, ttl_ms, "
                f"created_at, updated_at, expires_at) VALUES (%s, %s, %s, 'working', %s, {_later(tx)}, %s, "
                f"{_now(tx)}, {_now(tx)}, {_later(tx)})",
                [key, principal, tool, runner, lease_seconds, ttl_ms, ttl_ms / 1000],
            )
            return self._row(tx, key)

        record = self.db.write(run)
        self._mine.add(key)
        return record

    def get(self, key: str) -> dict[str, Any] | None:
        """The record, or None when there is none (never created, or pruned). A working run
        whose lease ran out is reported failed first: its process is gone."""
        row = self.db.read(lambda tx: self._row(tx, key))
        if row is not None and row["status"] == "working" and row["lease_lapsed"]:
            self.db.write(lambda tx: self._fail_dead(tx, key))
            row = self.db.read(lambda tx: self._row(tx, key))
        return row

    def renew(self, key: str, runner: str, lease_seconds: float) -> bool:
        """The running instance is alive: extend its lease. True if a cancel was asked for."""

        def run(tx: Tx) -> bool:
            tx.execute(
                f"UPDATE mcp_task_runs SET run_lease_until = {_later(tx)} WHERE task_key = %s AND runner = %s "
                "AND status = 'working'",
                [lease_seconds, key, runner],
            )
            return bool(tx.value("SELECT cancel_requested FROM mcp_task_runs WHERE task_key = %s", [key]))

        return self.db.write(run)

    def cancel_requested(self, key: str) -> bool:
        return bool(self.db.read(lambda tx: tx.value("SELECT cancel_requested FROM mcp_task_runs WHERE task_key = %s", [key])))

    def request_cancel(self, key: str) -> None:
        """Ask the instance running it to stop (it reads the flag within a second)."""
        self.db.write(lambda tx: tx.execute(
            "UPDATE mcp_task_runs SET cancel_requested = 1 WHERE task_key = %s AND status = 'working'", [key]
        ))

    def finish(self, key: str, status: str, message: str | None, outcome: dict[str, Any] | None) -> bool:
        """End a working run; False if it had already ended (a dead-run report got there first)."""
        assert status in STATUSES[1:]

        def run(tx: Tx) -> int:
            return tx.execute(
                f"UPDATE mcp_task_runs SET status = %s, status_message = %s, outcome = %s, updated_at = {_now(tx)}, "
                "run_lease_until = NULL WHERE task_key = %s AND status = 'working'",
                [status, message, json.dumps(outcome) if outcome is not None else None, key],
            )

        self._mine.discard(key)
        return bool(self.db.write(run))

    def close(self) -> None:
        """The server is stopping (its lifespan ends): the runs it still has will not finish, so
        they are reported failed now rather than when their leases run out."""
        message = "The server stopped while this task ran; nothing more will come. Call the tool again to retry."
        outcome = json.dumps({"error": {"code": DEAD_RUN_CODE, "message": message}})
        for key in list(self._mine):
            try:
                self.db.write(lambda tx, k=key: tx.execute(
                    f"UPDATE mcp_task_runs SET status = 'failed', status_message = %s, outcome = %s, updated_at = {_now(tx)}, "
                    "run_lease_until = NULL WHERE task_key = %s AND status = 'working'",
                    [message, outcome, k],
                ))
            except Exception:  # noqa: BLE001 - stopping anyway: the lease rule reports it later
                break
        self._mine.clear()

    def sweep(self) -> int:
        """Report dead runs failed and delete expired records (PRUNE_BATCH of them at a time)."""

        def run(tx: Tx) -> int:
            dead = [r["task_key"] for r in tx.rows(
                f"SELECT task_key FROM mcp_task_runs WHERE status = 'working' AND run_lease_until < {_now(tx)} LIMIT 100"
            )]
            for key in dead:
                self._fail_dead(tx, key)
            if tx.dialect == "mysql":
                return tx.execute(f"DELETE FROM mcp_task_runs WHERE expires_at < {_now(tx)} LIMIT {PRUNE_BATCH}")
            return tx.execute(
                "DELETE FROM mcp_task_runs WHERE task_key IN (SELECT task_key FROM mcp_task_runs "
                f"WHERE expires_at < {_now(tx)} LIMIT {PRUNE_BATCH})"
            )

        return self.db.write(run)

    def _fail_dead(self, tx: Tx, key: str) -> None:
        row = tx.row("SELECT runner, run_lease_until FROM mcp_task_runs WHERE task_key = %s", [key])
        if row is None:
            return
        message = (
            f"The server process that ran this task ({row['runner']}) stopped before it finished: its lease ran out "
            f"at {_iso(row['run_lease_until'])}. Nothing more will come; call the tool again to retry."
        )
        tx.execute(
            f"UPDATE mcp_task_runs SET status = 'failed', status_message = %s, outcome = %s, updated_at = {_now(tx)} "
            f"WHERE task_key = %s AND status = 'working' AND run_lease_until < {_now(tx)}",
            [message, json.dumps({"error": {"code": DEAD_RUN_CODE, "message": message}}), key],
        )

    def _row(self, tx: Tx, key: str) -> dict[str, Any] | None:
        row = tx.row(
            "SELECT task_key, principal, tool, status, status_message, outcome, ttl_ms, created_at, updated_at, "
            f"CASE WHEN run_lease_until < {_now(tx)} THEN 1 ELSE 0 END AS lease_lapsed, "
            f"CASE WHEN expires_at < {_now(tx)} THEN 1 ELSE 0 END AS expired "
            "FROM mcp_task_runs WHERE task_key = %s",
            [key],
        )
        if row is None or int(row["expired"]):
            return None  # past its ttl: gone, whether or not a sweep has deleted it yet
        outcome = row["outcome"]
        return {
            "key": row["task_key"], "principal": row["principal"], "tool": row["tool"], "status": row["status"],
            "status_message": row["status_message"], "outcome": json.loads(outcome) if outcome else None,
            "ttl_ms": int(row["ttl_ms"]), "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
            "lease_lapsed": bool(int(row["lease_lapsed"] or 0)),
        }
