"""task_leases.reaped_holder: whose lease ran out when the reaper took the task back.

That agent may still finish the task (record its result, complete it) as long as nobody
else has taken it meanwhile (issue 12, claims that survive long work). MySQL 8 has no
ADD COLUMN IF NOT EXISTS, hence the look in information_schema.
"""
from yoyo import step


def apply(conn):
    cursor = conn.cursor()
    cursor.execute(
        "SELECT COUNT(*) FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'task_leases' AND column_name = 'reaped_holder'"
    )
    if cursor.fetchone()[0] == 0:
        cursor.execute("ALTER TABLE task_leases ADD COLUMN reaped_holder VARCHAR(100) DEFAULT NULL")


steps = [step(apply)]
