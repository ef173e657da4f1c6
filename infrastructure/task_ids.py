"""Task ids for argument completion: the newest ids that start with what the user typed.

A client asks while the user types `task://4` or a prompt's id; the answer must come fast
whatever the table's size. Ids starting with the digits p are exactly the ranges
[p·10^k, p·10^k + 10^k - 1] for k = 0, 1, ...; each is a primary-key range, so one query
over their union, newest first, reads at most `limit` index entries per range.
"""
from __future__ import annotations

from domain.models import ID_MAX

COMPLETION_LIMIT = 20  # ids offered at once (the spec caps a completion at 100)


def id_ranges(prefix: str) -> list[tuple[int, int]]:
    """The id ranges whose decimal form starts with prefix (digits, no leading zero), widest first."""
    if not prefix.isdigit() or prefix.startswith("0") or int(prefix) > ID_MAX:
        return []
    start, width, ranges = int(prefix), 1, []
    while start <= ID_MAX:
        ranges.append((start, min(start + width - 1, ID_MAX)))
        start, width = start * 10, width * 10
    return ranges[::-1]


def newest_ids_with_prefix(db, prefix: str, limit: int = COMPLETION_LIMIT) -> tuple[list[int], bool]:
    """Up to `limit` ids starting with prefix ("" = the newest ids), newest first, and whether more exist."""
    prefix = prefix.strip()
    if prefix == "":
        ranges = [(1, ID_MAX)]
    else:
        ranges = id_ranges(prefix)
        if not ranges:
            return [], False
    where = " OR ".join("id BETWEEN %s AND %s" for _ in ranges)
    params = [bound for pair in ranges for bound in pair]
    rows = db.read(lambda tx: tx.rows(f"SELECT id FROM tasks WHERE {where} ORDER BY id DESC LIMIT %s", [*params, limit + 1]))
    ids = [int(r["id"]) for r in rows]
    return ids[:limit], len(ids) > limit
