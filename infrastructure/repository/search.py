"""Filters and search: the WHERE clauses that tasks_list and tasks_claim share (_filters), and
the search plans (full-text index or newest-first LIKE walk, chosen by how common the words
are) with their time caps and capped counts.

Belongs here: a new filter of tasks_list/tasks_claim, anything about matching words.
"""
from __future__ import annotations

import re
from typing import Any

from domain.errors import InvalidInput
from infrastructure.tx import Tx
from infrastructure.repository.base import RepositoryBase
from validators.arguments import search_words

SEARCH_INDEX_MAX_MATCHES = 2_000  # SQLite: up to this many FTS matches, sort the matches; beyond, walk newest-first
SEARCH_INDEX_SECONDS = 0.3  # MariaDB: the full-text plan's time cap before the newest-first walk takes over
SEARCH_PROBE_ROWS = 1_000  # MariaDB: how many of the newest rows a search looks at before choosing its plan
SEARCH_PROBE_COMMON_HITS = 3  # ... and how many matches among them make a word common
SEARCH_SCAN_SECONDS = 0.5  # the newest-first walk's cap: past it the search is refused with advice
SEARCH_COUNT_CAP = 1_000  # a common word's total is counted up to here ("1000+"), when the probe did not count it, within:
SEARCH_COUNT_SECONDS = 0.05  # SQLite
SEARCH_COUNT_ROWS = 10_000  # MariaDB: LIMIT ... ROWS EXAMINED (its statement timer fires late: 0.05 s → 0.17 s)
# InnoDB's default full-text stopwords: a required (+) stopword would match nothing.
_INNODB_STOPWORDS = frozenset(
    "a about an are as at be by com de en for from how i in is it la of on or that the this to was what "
    "when where who will with und www".split()
)
# How each index cuts text into words: InnoDB keeps "_" inside a word, FTS5's unicode61 does not.
_FT_TOKEN = {"mysql": re.compile(r"\w+"), "sqlite": re.compile(r"[^\W_]+")}


def like_pattern(word: str) -> str:
    """%word% with the LIKE wildcards in the word escaped (ESCAPE '!'), so they match literally."""
    return "%" + word.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _like_clauses(words: list[str]) -> tuple[list[str], list[str]]:
    """One condition per search word (it must occur in title or description), with its parameters."""
    parts = ["(title LIKE %s ESCAPE '!' OR description LIKE %s ESCAPE '!')"] * len(words)
    return parts, [p for w in words for p in (like_pattern(w),) * 2]


class SearchMixin(RepositoryBase):
    def _search_page(self, tx: Tx, where: list[str], params: list[Any], search: str, limit: int, skip: int):
        """(rows, total or None, exact) of a search page, the plan chosen by how common the words are.

        - Rare words: the full-text index finds the few matching rows; ORDER BY sorts only them,
          and the total comes with the page (COUNT(*) OVER ()).
        - Common words (in more than ~0.2% of rows): walking the full-text matches costs ~25 µs a
          match on InnoDB (150,000 matches: 3 s), while walking newest-first with LIKE finds 50
          matches in a few hundred rows. SQLite asks FTS5 how many rows match (5 ms for 150,000);
          MariaDB has no cheap count, so it runs the index plan under a time cap and falls back.
        - A common word's total is a lower bound (total_exact false): on MariaDB, when the newest
          SEARCH_PROBE_ROWS rows fill a page, the matches among them; otherwise matches counted
          within a bound on the work (SEARCH_COUNT_ROWS).
        """
        words = search_words(search)
        like_parts, like_params = _like_clauses(words)
        like_sql = " AND ".join(like_parts)
        fts = self._fulltext_clause(tx, words)
        columns = self._list_columns(tx)
        rows = None
        matches: int | None = None
        probed: int | None = None  # MariaDB: matches among the newest SEARCH_PROBE_ROWS rows, when they fill a page
        use_index: bool | None = False
        order = " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
        scan_sql = f"SELECT {columns} FROM tasks WHERE {' AND '.join([*where, like_sql])}{order}"
        scan_args = [*params, *like_params, limit + 1, skip]
        if fts is not None:
            use_index = True
            if tx.dialect == "sqlite":
                matches = int(tx.value("SELECT COUNT(*) AS n FROM tasks_fts WHERE tasks_fts MATCH %s", [fts[1]]))
                use_index = matches <= SEARCH_INDEX_MAX_MATCHES
            else:
                # InnoDB cannot count full-text matches cheaply (3 s for 150,000), nor stop the search
                # sooner than ~0.1–0.4 s. So: walk the newest rows first, at most SEARCH_PROBE_ROWS of
                # them (MariaDB's LIMIT ... ROWS EXAMINED): a common word fills the page right there.
                # The probe reads ids only, and every match among those rows: their number is the
                # common word's total (a lower bound), so no count has to read 6,700 more rows
                # (a 15% word at 1M tasks: 17 ms of LIKE over 2 MB of descriptions; bench/RESULTS.md).
                probe = [
                    int(r["id"]) for r in tx.rows(
                        f"SELECT id FROM tasks WHERE {' AND '.join([*where, like_sql])} ORDER BY created_at DESC, id DESC "
                        f"LIMIT %s ROWS EXAMINED {SEARCH_PROBE_ROWS}",
                        [*params, *like_params, SEARCH_PROBE_ROWS],
                    )
                ]
                if len(probe) > limit:
                    probed = len(probe)
                if skip == 0 and len(probe) > limit:
                    page = probe[: limit + 1]
                    marks = ", ".join(["%s"] * len(page))
                    rows = tx.rows(f"SELECT {columns} FROM tasks WHERE id IN ({marks}) ORDER BY created_at DESC, id DESC", page)
                    use_index = None
                else:
                    use_index = len(probe) < SEARCH_PROBE_COMMON_HITS  # ≥ 0.3% of rows: walking is cheaper
            if use_index:
                clause = " AND ".join([*where, fts[0], like_sql])
                sql = f"SELECT {columns}, COUNT(*) OVER () AS total_rows FROM tasks WHERE {clause}{order}"
                args = [*params, fts[1], *like_params, limit + 1, skip]
                rows = tx.rows_within(SEARCH_INDEX_SECONDS, sql, args) if tx.dialect == "mysql" else tx.rows(sql, args)
                if rows is not None:
                    total = int(rows[0]["total_rows"]) if rows else skip
                    return rows, total, True
        # Newest first, LIKE deciding row by row: quick exactly when the words are common.
        clause = " AND ".join([*where, like_sql])
        if fts is None or use_index is not None:
            rows = tx.rows_within(SEARCH_SCAN_SECONDS, scan_sql, scan_args)
        if rows is None:
            raise InvalidInput(
                f"search={search!r} matches too many tasks to sort in time but too few among the newest ones. "
                "Add a filter (status, type, assignee) or a rarer word."
            )
        # A common word's total is a lower bound ("1000+"), counted within a bound on the work.
        floor = skip + min(len(rows), limit)
        if matches is not None:
            return rows, max(matches, floor), False  # FTS5's count: the prefix matches, a subset of LIKE's
        if probed is not None:
            return rows, max(min(probed, SEARCH_COUNT_CAP), floor), False
        if tx.dialect == "mysql":
            # Top-level ROWS EXAMINED: around a derived table MariaDB returns no row at all when it fires.
            found = tx.rows(
                f"SELECT 1 AS x FROM tasks WHERE {clause} LIMIT %s ROWS EXAMINED {SEARCH_COUNT_ROWS}",
                [*params, *like_params, SEARCH_COUNT_CAP + 1],
            )
            counted = [{"n": len(found)}]
        else:
            counted = tx.rows_within(
                SEARCH_COUNT_SECONDS, f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE {clause} LIMIT %s) AS capped",
                [*params, *like_params, SEARCH_COUNT_CAP + 1],
            )
        n = int(counted[0]["n"]) if counted else 0
        return rows, max(min(n, SEARCH_COUNT_CAP), floor), False

    def _fulltext_clause(self, tx: Tx, words: list[str]) -> tuple[str, str] | None:
        tokens = [t for w in words for t in _FT_TOKEN[tx.dialect].findall(w) if len(t) >= 3]
        if tx.dialect == "mysql":
            tokens = [t for t in tokens if t.lower() not in _INNODB_STOPWORDS]
            if tokens and self._has_fulltext(tx):
                return "MATCH(title, description) AGAINST (%s IN BOOLEAN MODE)", " ".join(f"+{t}*" for t in tokens)
        elif tokens and self._has_fulltext(tx):
            return "id IN (SELECT rowid FROM tasks_fts WHERE tasks_fts MATCH %s)", " AND ".join(f'"{t}"*' for t in tokens)
        return None

    def _filters(self, tx: Tx, status, type, search, parent_task_id, assignee) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = %s")
            params.append(status)
        if type:
            where.append("type = %s")
            params.append(type)
        if parent_task_id is not None:
            where.append("parent_task_id = %s")
            params.append(parent_task_id)
        if assignee:
            where.append("EXISTS (SELECT 1 FROM task_assignments a WHERE a.task_id = tasks.id AND a.assignee = %s)")
            params.append(assignee)
        if search:  # (tasks_claim) the index narrows; LIKE decides, so quotes, % and _ match literally
            words = search_words(search)
            fts = self._fulltext_clause(tx, words)
            if fts is not None:
                where.append(fts[0])
                params.append(fts[1])
            like_parts, like_params = _like_clauses(words)
            where.extend(like_parts)
            params.extend(like_params)
        return where, params

    def _has_fulltext(self, tx: Tx) -> bool:
        if self._fulltext is None:
            if tx.dialect == "mysql":
                found = tx.value(
                    "SELECT COUNT(*) AS n FROM information_schema.statistics WHERE table_schema = DATABASE() "
                    "AND table_name = 'tasks' AND index_type = 'FULLTEXT'"
                )
            else:
                found = tx.value("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'tasks_fts'")
            self._fulltext = bool(found)
        return self._fulltext
