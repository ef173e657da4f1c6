"""task_leases learns holder_session and reaped_holder (see sql/mariadb/0007.lease-holder-names.py).

A .py migration with a look at the table first, not two bare ALTERs: a server killed after
the ALTERs took effect but before yoyo recorded the migration left a file whose next start
failed with "duplicate column name: holder_session" (seen once in tests/e2e/test_hardening.py
under load). The migration id is the file name without its suffix, so a file that recorded
the earlier .sql form does not run this again.
"""
from yoyo import step

COLUMNS = {
    "holder_session": "ALTER TABLE task_leases ADD COLUMN holder_session TEXT DEFAULT NULL",
    "reaped_holder": "ALTER TABLE task_leases ADD COLUMN reaped_holder TEXT DEFAULT NULL",
}


def apply(conn):
    cursor = conn.cursor()
    cursor.execute("PRAGMA table_info(task_leases)")
    present = {row[1] for row in cursor.fetchall()}
    for column, ddl in COLUMNS.items():
        if column not in present:
            cursor.execute(ddl)


steps = [step(apply)]
