-- See sql/mariadb/0007.lease-reaped-holder.py.
ALTER TABLE task_leases ADD COLUMN reaped_holder TEXT DEFAULT NULL;
