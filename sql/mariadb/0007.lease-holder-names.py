"""task_leases learns two names: holder_session and reaped_holder.

- holder_session: the session that took the lease (its default actor: the client's name
  over stdio, the API key's name over HTTP), beside `holder`, the name the work is recorded
  under (a claim's assignee). Either name counts as the holder, so an agent that claimed as
  "claude-1" and completes without repeating the name is still recognised.
- reaped_holder: whose lease ran out when the reaper took the task back. That agent may
  still finish the task (record its result, complete it) as long as nobody else has taken
  it meanwhile (issue 12, claims that survive long work).

MySQL 8 has no ADD COLUMN IF NOT EXISTS, hence the look in information_schema.
"""
from yoyo import step

COLUMNS = {
    "holder_session": "ALTER TABLE task_leases ADD COLUMN holder_session VARCHAR(100) DEFAULT NULL",
    "reaped_holder": "ALTER TABLE task_leases ADD COLUMN reaped_holder VARCHAR(100) DEFAULT NULL",
}


def apply(conn):
    cursor = conn.cursor()
    for column, ddl in COLUMNS.items():
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = 'task_leases' AND column_name = %s",
            (column,),
        )
        if cursor.fetchone()[0] == 0:
            cursor.execute(ddl)


steps = [step(apply)]
