-- See sql/mariadb/0007.lease-holder-names.py.
ALTER TABLE task_leases ADD COLUMN holder_session TEXT DEFAULT NULL;
ALTER TABLE task_leases ADD COLUMN reaped_holder TEXT DEFAULT NULL;
