"""Leases and claims: a task in_progress is held by one holder until its lease runs out. Take,
drop and renew a lease, say who holds a task, return expired claims to pending (the reaper,
run by every claim), and tasks_claim itself.

Who holds: a lease keeps the name the task was taken under (`holder`) and, when that was an
explicit name, the taking session's own name too (`holder_session`). A caller is the holder
when its actor is one of them. The actor is the name the call gives, else the session's own
name: so an explicit name decides even inside one connection (subagents sharing it), and the
session decides only when no name is given.

Belongs here: who may work a task and until when, and how the next task is handed out.
"""
from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

from domain.errors import Conflict, Forbidden, InvalidInput, TaskSystemError
from domain.models import ActorType, CommentType, ExecutorType, TaskStatus, TaskType
from infrastructure.tx import Tx
from infrastructure.repository.base import TASK_COLUMNS, RepositoryBase, _task, _text_time
from validators import workflow_validator as wf
from infrastructure.command_name import init_db

log = logging.getLogger("infrastructure.task_repository")  # the logger's name before the split
CLAIM_CANDIDATES = 32  # tasks read per claim pass, tried in turn (more than agents racing)
# The one row a claim locks, by its key: a task another claimer is taking is passed over at once.
CLAIM_LOCK_SQL = "SELECT id FROM tasks WHERE id = %s AND status = 'pending' FOR UPDATE SKIP LOCKED"
CLAIM_ROUNDS = 20  # re-reads of the candidates when other claimers took every one read: a bound, not a limit met in use
# On Galera, a claim tries the first GALERA_SPREAD candidates of a pass in random order: row
# locks (SKIP LOCKED) bind one node only, so claimers on every node would otherwise all take
# the head and all but one fail certification at COMMIT (bench/RESULTS.md, issue 24).
GALERA_SPREAD = 8
_REAP = object()  # a claim's answer when expired leases must be returned to pending first
UNREAPABLE_RETRY_SECONDS = 300  # a task whose expired lease cannot be returned is tried again after this


class LeasesMixin(RepositoryBase):
    def _has_leases(self, tx: Tx) -> bool:
        """A database the web app made but init-db never upgraded has no lease table: work without it."""
        if self._leases is None:
            self._leases = tx.has_table("task_leases")
            if not self._leases:
                log.warning(f"table task_leases is missing: claims have no lease; run `{init_db()}`")
        return self._leases

    def _expires(self, tx: Tx) -> str:
        """SQL for now + %s seconds, on the database clock."""
        if tx.dialect == "mysql":
            return "NOW(6) + INTERVAL %s SECOND"
        return "strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || %s || ' seconds')"

    def _take_lease(
        self, tx: Tx, task_id: int, holder: str, holder_type: str, assignment_id: int | None, seconds: int | None,
        session: str | None = None,
    ) -> None:
        if not self._has_leases(tx):
            return
        seconds = seconds or self.lease_seconds
        if tx.dialect == "mysql":
            sql = (
                "INSERT INTO task_leases (task_id, holder, holder_type, assignment_id, lease_seconds, expires_at, holder_session) "
                f"VALUES (%s, %s, %s, %s, %s, {self._expires(tx)}, %s) ON DUPLICATE KEY UPDATE holder = VALUES(holder), "
                "holder_type = VALUES(holder_type), assignment_id = VALUES(assignment_id), "
                "lease_seconds = VALUES(lease_seconds), expires_at = VALUES(expires_at), reaped_holder = NULL, "
                "holder_session = VALUES(holder_session)"
            )
        else:
            sql = (
                "INSERT INTO task_leases (task_id, holder, holder_type, assignment_id, lease_seconds, expires_at, holder_session) "
                f"VALUES (%s, %s, %s, %s, %s, {self._expires(tx)}, %s) ON CONFLICT(task_id) DO UPDATE SET holder = excluded.holder, "
                "holder_type = excluded.holder_type, assignment_id = excluded.assignment_id, "
                "lease_seconds = excluded.lease_seconds, expires_at = excluded.expires_at, reaped_holder = NULL, "
                "holder_session = excluded.holder_session"
            )
        tx.execute(sql, [task_id, holder, holder_type, assignment_id, seconds, seconds, session if session != holder else None])

    def _drop_lease(self, tx: Tx, task_id: int) -> None:
        if self._has_leases(tx):
            tx.execute(
                "UPDATE task_leases SET holder = NULL, holder_type = NULL, assignment_id = NULL, expires_at = NULL, "
                "reaped_holder = NULL, holder_session = NULL WHERE task_id = %s",
                [task_id],
            )

    def _renew_lease(self, tx: Tx, task_id: int, actor: str) -> None:
        """Any write by the holder on its task renews its lease for the lease's own length, even
        one that ran out, as long as the reaper has not given the task to anyone else."""
        if self._has_leases(tx):
            expires = self._expires(tx).replace("%s", "lease_seconds")
            tx.execute(
                f"UPDATE task_leases SET expires_at = {expires} WHERE task_id = %s AND expires_at IS NOT NULL "
                "AND (holder = %s OR holder_session = %s)",
                [task_id, actor, actor],
            )

    def _lease(self, tx: Tx, task_id: int) -> dict[str, Any] | None:
        """The task's lease row, with `expired` read on the database clock; None without leases."""
        if not self._has_leases(tx):
            return None
        return tx.row(
            "SELECT holder, holder_type, holder_session, reaped_holder, expires_at, "
            f"CASE WHEN expires_at < {tx.now} THEN 1 ELSE 0 END AS expired FROM task_leases WHERE task_id = %s",
            [task_id],
        )

    @staticmethod
    def _names(lease: dict[str, Any]) -> set[str]:
        return {n for n in (lease["holder"], lease["holder_session"]) if n}

    def _check_not_held_by_other(
        self, tx: Tx, task_id: int, actor: str, action: str, name_param: str | None, needs: str | None = None,
    ) -> None:
        """Refuse a move of a task that another agent holds under a live lease (retryable: it ends).
        `name_param`: the parameter by which the caller names itself, which the refusal tells it to pass.
        `needs`: the move is one that scope may make (a reviewer's cancel); refused as forbidden."""
        lease = self._lease(tx, task_id)
        if not lease or not lease["holder"] or int(lease["expired"]) or actor in self._names(lease):
            return
        if needs:
            raise Forbidden(
                f"Task {task_id} is held by {lease['holder']} ({lease['holder_type']}); {action} needs {needs}. "
                "Nothing was changed. Ask a reviewer, or the holder, to cancel it."
            )
        # A one-shot client (the Inspector CLI, `server.py call`) is a new session on every call:
        # without a name it is refused by its own lease, so say which name takes the task's part.
        hint = (
            f" You called as {actor}. If you are {lease['holder']}, pass {name_param}={lease['holder']!r}: a call "
            "without a name acts as its session, and one-shot clients get a new session name on every call."
            if name_param else ""
        )
        raise Conflict(
            f"Task {task_id} is held by {lease['holder']} ({lease['holder_type']}) under a lease until "
            f"{_text_time(lease['expires_at'])}; {action} is refused so their work is not lost. Nothing was changed.{hint} "
            "Otherwise take another task (tasks_claim), or wait: tasks_get shows the holder and the lease.",
            retryable=True,
        )

    def _resume(self, tx: Tx, task_id: int, actor: str, actor_type: ActorType) -> bool:
        """The agent whose lease ran out is back: if the reaper gave its task back to pending and
        nobody has taken it since, it is the agent's again (in_progress, a fresh lease). True if resumed."""
        lease = self._lease(tx, task_id)
        if not lease or not lease["reaped_holder"]:
            return False
        if actor not in {lease["reaped_holder"], lease["holder_session"]}:
            return False
        if tx.value(f"SELECT status FROM tasks WHERE id = %s{tx.for_update}", [task_id]) != "pending":
            return False
        self._move(
            tx, task_id, TaskStatus.PENDING, TaskStatus.IN_PROGRESS, lease["reaped_holder"], actor_type,
            note=f" (resumed by {lease['reaped_holder']} after its lease ran out; nobody had taken it)",
            session=lease["holder_session"],
        )
        return True

    def _holder_speaks(self, tx: Tx, task_id: int, actor: str, actor_type: ActorType) -> None:
        """A write by the holder: renew its lease, or take its task back if the reaper had returned it."""
        if not self._resume(tx, task_id, actor, actor_type):
            self._renew_lease(tx, task_id, actor)

    def renew_lease(self, task_id: int, holder: str) -> None:
        """For a running execution: keep its claim alive while it streams."""
        self.db.write(lambda tx: self._renew_lease(tx, task_id, holder))

    def _holder(self, tx: Tx, task_id: int) -> str | None:
        lease = self._lease(tx, task_id)
        if lease and lease["holder"]:
            state = "ran out at" if int(lease["expired"]) else "until"
            return f"{lease['holder']} ({lease['holder_type']}, lease {state} {_text_time(lease['expires_at'])})"
        assignment = tx.row(
            "SELECT assignee, assignee_type FROM task_assignments WHERE task_id = %s "
            "AND status IN ('pending', 'accepted', 'in_progress') ORDER BY id DESC LIMIT 1",
            [task_id],
        )
        if assignment:
            return f"{assignment['assignee']} ({assignment['assignee_type']})"
        change = tx.row(
            "SELECT author, author_type FROM task_comments WHERE task_id = %s AND comment_type = 'status_change' ORDER BY id DESC LIMIT 1",
            [task_id],
        )
        return f"{change['author']} ({change['author_type']})" if change else None

    def _reap_one(self, tx: Tx, task_id: int) -> bool:
        """If the task's lease has run out: back to pending (or failed after max attempts). True if reaped."""
        if not self._has_leases(tx):
            return False
        lease = tx.row(
            "SELECT holder, holder_type, holder_session, attempts FROM task_leases "
            f"WHERE task_id = %s AND expires_at < {tx.now}{tx.for_update}",
            [task_id],
        )
        status = tx.value("SELECT status FROM tasks WHERE id = %s", [task_id])
        if not lease:
            return False
        if status != "in_progress":
            self._drop_lease(tx, task_id)
            return False
        attempts = int(lease["attempts"]) + 1
        tx.execute("UPDATE task_leases SET attempts = %s WHERE task_id = %s", [attempts, task_id])
        target = TaskStatus.FAILED if attempts >= self.max_attempts else TaskStatus.PENDING
        why = (
            f" (lease of {lease['holder']} expired; attempt {attempts} of {self.max_attempts}"
            + ("; no attempts left)" if target == TaskStatus.FAILED else ")")
        )
        self._move(tx, task_id, TaskStatus.IN_PROGRESS, target, "mcp-tasks", ActorType.AI, note=why)
        # Remembered, so the holder can still finish while nobody else has taken the task.
        tx.execute(
            "UPDATE task_leases SET reaped_holder = %s, holder_session = %s WHERE task_id = %s",
            [lease["holder"], lease["holder_session"], task_id],
        )
        return True

    def _expired(self, tx: Tx, limit: int) -> list[int]:
        """Tasks whose lease ran out (oldest first), less those the reaper skips for now."""
        if not self._has_leases(tx):
            return []
        now = time.monotonic()
        skipped = [t for t, until in self._unreapable.items() if until > now]
        skip = f" AND task_id NOT IN ({', '.join(['%s'] * len(skipped))})" if skipped else ""
        return [
            int(r["task_id"])
            for r in tx.rows(
                f"SELECT task_id FROM task_leases WHERE expires_at < {tx.now}{skip} ORDER BY expires_at LIMIT %s",
                [*skipped, limit],
            )
        ]

    def _expired_sql(self, tx: Tx) -> tuple[str, list[Any]]:
        """A scalar subquery: the id of one task whose lease ran out (NULL if none), as _expired finds them."""
        if not self._has_leases(tx):
            return "NULL", []
        now = time.monotonic()
        skipped = [t for t, until in self._unreapable.items() if until > now]
        skip = f" AND task_id NOT IN ({', '.join(['%s'] * len(skipped))})" if skipped else ""
        return f"(SELECT task_id FROM task_leases WHERE expires_at < {tx.now}{skip} ORDER BY expires_at LIMIT 1)", skipped

    def reap_expired(self, limit: int = 20) -> list[int]:
        """Return expired claims to pending (or failed); run by every claim, so no daemon is needed."""

        now = time.monotonic()

        def find(tx: Tx) -> list[int]:
            return self._expired(tx, limit)

        def reap(tx: Tx, task_id: int) -> bool:
            if tx.value(f"SELECT id FROM tasks WHERE id = %s{tx.for_update}", [task_id]) is None:
                return False  # deleted meanwhile; its lease row went with it
            return self._reap_one(tx, task_id)

        # One transaction per task: a concurrent reaper or a renewal wins cleanly. A task that
        # cannot be reaped (a row the database refuses to change) is skipped for a while and
        # reported, never fatal to the claim that ran the reaper.
        reaped = []
        for task_id in self.db.read(find):
            try:
                if self.db.write(lambda tx, t=task_id: reap(tx, t)):
                    reaped.append(task_id)
            except TaskSystemError as exc:  # if the database itself is away, the claim says so next
                self._unreapable[task_id] = now + UNREAPABLE_RETRY_SECONDS
                log.warning("task %s: its expired lease cannot be returned (%s); skipped for %s s", task_id, exc, UNREAPABLE_RETRY_SECONDS)
        return reaped

    def _can_skip_locked(self, tx: Tx) -> bool:
        """MariaDB ≥ 10.6 and MySQL ≥ 8.0.1 have SKIP LOCKED; older servers get a compare-and-set loop."""
        if self._skip_locked is None:
            self._skip_locked = tx.version >= ((10, 6, 0) if tx.mariadb else (8, 0, 1))
        return self._skip_locked

    def claim(
        self,
        *,
        assignee: str,
        assignee_type: ExecutorType,
        model_name: str | None,
        type: str | None,
        search: str | None,
        parent_task_id: int | None,
        lease_minutes: float | None,
        actor_type: ActorType,
        session: str | None = None,
    ) -> dict[str, Any] | None:
        """Atomically take the first ready task that matches: priority (urgent first), then
        earliest due date, then oldest. `session` is the calling session's own name, which
        counts as the holder beside `assignee`.

        One transaction of 11 statements on the usual path (10, and the change-feed row of issue 14) (bench/RESULTS.md, issue 16): its
        first statement looks for an expired lease (the reaper runs, in its own transactions,
        only when there is one) and for which priority queues hold a task (the passes of empty
        queues are skipped), and the task comes back with its lease and attributes in one read."""
        allowed_types = [t.value for t in TaskType if assignee_type in wf.ALLOWED_ASSIGNEES[t]]
        if type is not None and type not in allowed_types:
            raise InvalidInput(
                f"type={type!r} tasks cannot be claimed by assignee_type={assignee_type.value!r}. "
                f"It may claim: {', '.join(allowed_types)}."
            )
        seconds = max(1, round(lease_minutes * 60)) if lease_minutes else self.lease_seconds

        def run(tx: Tx, look_for_expired: bool) -> dict[str, Any] | None | object:
            # One statement first: is a lease expired (the reaper then runs, in its own
            # transactions, before the claim), and which priority queues hold a task at all.
            expired, skipped = self._expired_sql(tx) if look_for_expired else ("NULL", [])
            opener = tx.row(f"SELECT {expired} AS expired, {self.work.queued_columns(tx)}", skipped)
            if opener["expired"] is not None:
                return _REAP  # reaped first, so a task returned to pending can be claimed now
            queued_ranks = {rank for rank in self.work.QUEUED_RANKS if int(opener[f"queued_{rank}"])}
            where, params = self._filters(tx, "pending", type, search, parent_task_id, None)
            if type is None:
                where.append("type IN (" + ", ".join(["%s"] * len(allowed_types)) + ")")
                params.extend(allowed_types)
            base = " AND ".join(where)
            # Ready tasks only, by priority (urgent first), then due date, then age: one
            # index-friendly pass each (work_order.claim_passes), instead of one ORDER BY that
            # would sort every pending task; their candidates read together (_claim_candidates).
            skip_locked = tx.dialect == "mysql" and self._can_skip_locked(tx)
            passes = self.work.claim_passes(tx, base, queued_ranks)
            tried: list[int] = []
            for _ in range(CLAIM_ROUNDS):
                candidates, complete = self._claim_candidates(tx, passes, params, tried)
                for task_id in candidates:
                    if task_id is None:  # the end of a pass that had more tasks than were read: read again
                        break
                    tried.append(task_id)
                    if skip_locked and tx.row(CLAIM_LOCK_SQL, [task_id]) is None:
                        continue  # another claimer is taking it (or took it since the read)
                    # Compare-and-set: without SKIP LOCKED another claimer may have taken it meanwhile.
                    won = tx.execute(
                        f"UPDATE tasks SET status = 'in_progress', {tx.touch}, completed_at = NULL WHERE id = %s AND status = 'pending'",
                        [task_id],
                    )
                    if won == 1:
                        return self._claimed(tx, task_id, assignee, assignee_type, model_name, actor_type, seconds, session)
                if complete:
                    return None
            raise Conflict(
                f"So many agents are claiming at once that {len(tried)} tasks were taken by others while this claim "
                "tried them; nothing was claimed. Try again.",
                retryable=True,
            )

        found = self.db.write(lambda tx: run(tx, True))
        if found is _REAP:
            self.reap_expired()
            found = self.db.write(lambda tx: run(tx, False))
        return found

    def _claimed(
        self, tx: Tx, task_id: int, assignee: str, assignee_type: ExecutorType, model_name: str | None,
        actor_type: ActorType, seconds: int, session: str | None,
    ) -> dict[str, Any]:
        """The rest of a claim once the task is in_progress: assignment, lease, history, the task read back."""
        assignment_id = self._insert_active_assignment(
            tx, task_id, assignee, assignee_type, model_name, assignee, actor_type, "claimed with tasks_claim"
        )
        self._take_lease(tx, task_id, assignee, actor_type.value, assignment_id, seconds, session)
        self._history(
            tx, task_id, assignee, actor_type, CommentType.STATUS_CHANGE,
            f"Claimed by {assignee} [{assignee_type.value}]: pending → in_progress",
            {"from": "pending", "to": "in_progress", "assignment_id": assignment_id, "lease_seconds": seconds},
        )
        row = self._claimed_row(tx, task_id)
        queued_rank = row["priority_rank"]
        attributes = self.work.attributes_of(row)
        if queued_rank is not None:
            # Its priority row leaves the queue (a normal task has none: nothing to update).
            self.work.set_queued(tx, task_id, False)
        expires = row.pop("lease_expires_at")
        return {**_task(row), **attributes, "assignment_id": assignment_id, "lease_expires_at": _text_time(expires)}

    def _claimed_row(self, tx: Tx, task_id: int) -> dict[str, Any]:
        """The task just claimed, with its lease's end and its attributes, in one statement.

        On MariaDB as one JSON column: PyMySQL parses the description of every column of every
        result in Python, so 17 columns cost ~130 µs of CPU per claim and one JSON column ~45.
        metadata goes in as text (CONCAT), as the plain column gives it, not as nested JSON.
        """
        lease = "(SELECT expires_at FROM task_leases WHERE task_id = tasks.id)" if self._has_leases(tx) else "NULL"
        sql = f"SELECT {TASK_COLUMNS}, {lease} AS lease_expires_at, {self.work.attribute_columns(tx)} FROM tasks WHERE id = %s"
        if tx.dialect != "mysql":
            return tx.row(sql, [task_id])
        names = [c.strip() for c in TASK_COLUMNS.split(",")] + ["lease_expires_at", "priority_rank", "labels_joined"]
        pairs = ", ".join(f"'{n}', " + ("CONCAT(metadata)" if n == "metadata" else n) for n in names)
        return json.loads(tx.value(f"SELECT JSON_OBJECT({pairs}) AS task FROM ({sql}) AS claimed", [task_id]))

    @staticmethod
    def claim_candidates_sql(passes: list[tuple[str, str, str]], tried: int) -> str:
        """The statement of _claim_candidates: a branch per pass (its WHERE's parameters, then the
        `tried` ids to leave out), each its first CLAIM_CANDIDATES + 1 tasks, in claim order."""
        skip = f" AND tasks.id NOT IN ({', '.join(['%s'] * tried)})" if tried else ""
        branches = []
        for n, (source, clause, order) in enumerate(passes):
            keys = order.split(", ")
            keys = ["NULL"] * (3 - len(keys)) + keys  # the undated pass has no due date to sort by
            branches.append(
                f"SELECT id, claim_pass, k1, k2, k3 FROM (SELECT tasks.id AS id, {n} AS claim_pass, {keys[0]} AS k1, {keys[1]} AS k2, "
                f"{keys[2]} AS k3 FROM {source} WHERE {clause}{skip} ORDER BY {order} LIMIT {CLAIM_CANDIDATES + 1}) AS pass_{n}"
            )
        return " UNION ALL ".join(branches) + " ORDER BY claim_pass, k1, k2, k3"

    @classmethod
    def _claim_candidates(
        cls, tx: Tx, passes: list[tuple[str, str, str]], params: list[Any], tried: list[int],
    ) -> tuple[list[int | None], bool]:
        """(ids, complete): the first CLAIM_CANDIDATES ready tasks of every pass not yet tried, in
        claim order, in one plain read. A pass that has more than were read ends in None: the
        claim reads again there rather than go on to a lower pass. complete: no pass was cut.

        A plain read, never a locking one: a locking read whose plan sorts (the full-text index
        of a search, the parent index, a priority join) locks every row it reads before it
        sorts, and concurrent claimers skipping those rows got lower tasks, or nothing, while
        better ones were free. The claim locks its one task by primary key instead.
        """
        rows = tx.rows(cls.claim_candidates_sql(passes, len(tried)), [*params, *tried] * len(passes))
        ids: list[int | None] = []
        complete = True
        for n in range(len(passes)):
            found = [int(r["id"]) for r in rows if int(r["claim_pass"]) == n]
            if tx.galera:
                found = _spread(found)
            ids += found[:CLAIM_CANDIDATES]
            if len(found) > CLAIM_CANDIDATES:
                ids.append(None)
                complete = False
                break
        return ids, complete


def _spread(candidates: list[Any]) -> list[Any]:
    """The head of a claim pass shuffled (GALERA_SPREAD), the rest in order."""
    head = candidates[:GALERA_SPREAD]
    random.shuffle(head)
    return head + candidates[GALERA_SPREAD:]
