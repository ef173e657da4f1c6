"""The parts of TaskRepository (infrastructure/task_repository.py), one module per concern:

base.py        shared constants, row conversion, cursors; RepositoryBase: state and Tx helpers
search.py      WHERE clauses of the list/claim filters, the search plans
reads.py       tasks_list, tasks_get
statistics.py  tasks_statistics
writes.py      create, update, status moves, assign, result, delete, comment, workflow checks
leases.py      leases (take, drop, renew, holder), the reaper, tasks_claim
execution.py   tasks_execute's start and finish

Each part is a mixin over RepositoryBase; a part calls another's methods through self.
"""
