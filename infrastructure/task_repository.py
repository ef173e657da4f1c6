"""All SQL on the task tables. Each public method is one transaction (or one read).

Every change also writes a `task_comments` row, the task's history in the web app, in the
same transaction as the change. Status changes are compare-and-set
(`UPDATE ... WHERE id=%s AND status=%s`): a rule checked on a row read a moment earlier
cannot be raced past, and the loser of a race learns who won.

TaskRepository is composed here from one mixin per concern in infrastructure/repository/
(its __init__ lists them); put new code in the module of its concern, not in this file.
The constants below are re-exported for callers that imported them from here.
"""
from __future__ import annotations

from infrastructure.repository.base import (  # noqa: F401 (re-exported)
    COUNT_CAP,
    GET_COMMENTS_MAX,
    GET_RESPONSE_CHARS,
    LIST_COLUMNS,
    PREVIEW_CHARS,
    TASK_COLUMNS,
    decode_cursor,
    encode_cursor,
)
from infrastructure.repository.confirmations import ConfirmationsMixin
from infrastructure.repository.execution import ExecutionMixin
from infrastructure.repository.leases import LeasesMixin
from infrastructure.repository.reads import ReadsMixin
from infrastructure.repository.search import (  # noqa: F401 (re-exported)
    SEARCH_COUNT_CAP,
    SEARCH_COUNT_ROWS,
    SEARCH_COUNT_SECONDS,
    SEARCH_INDEX_MAX_MATCHES,
    SEARCH_INDEX_SECONDS,
    SEARCH_PROBE_COMMON_HITS,
    SEARCH_PROBE_ROWS,
    SEARCH_SCAN_SECONDS,
    SearchMixin,
    like_pattern,
)
from infrastructure.repository.statistics import USAGE_REFRESH_SECONDS, StatisticsMixin  # noqa: F401 (re-exported)
from infrastructure.repository.writes import WritesMixin


class TaskRepository(ReadsMixin, SearchMixin, StatisticsMixin, WritesMixin, ConfirmationsMixin, LeasesMixin, ExecutionMixin):
    """The task repository: constructed with (db, *, quality_gate, lease_minutes, max_attempts),
    see RepositoryBase.__init__."""
