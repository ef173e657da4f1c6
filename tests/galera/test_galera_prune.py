"""Pruning the change feed on Galera goes by the feed's order there, pos, not seq: a reader
resuming from a position below a pruned change is told (the `pruned` marker), even when a
node's AUTO_INCREMENT handed that change a lower seq than one committed before it.

A module of its own: it empties the feed of its module's database (pruning goes from the
bottom and stops at the first young row, so other tests' rows would stop it)."""
from __future__ import annotations

import pytest

from config import parse_database_url
from infrastructure.change_feed import PRUNED, ChangeFeed
from infrastructure.database import Database
from tests.galera.conftest import node_url
from tests.galera.test_galera_feed import raw

pytestmark = pytest.mark.galera
MONTH = 30 * 86400


def _insert(con, actor: str) -> int:
    with con.cursor() as cur:
        cur.execute("INSERT INTO task_changes (task_id, kind, actor) VALUES (1, 'comment', %s)", [actor])
        return int(cur.lastrowid)


def test_pruning_on_galera_goes_by_pos_so_a_reader_from_below_a_pruned_change_is_told(cluster, galera_url):
    # The feed's own node is the third: a sequencer on the late writer's node would wait for its row lock.
    db = Database(parse_database_url(node_url(cluster, galera_url, 3)), "DATABASE_URL")
    feed = ChangeFeed(db)
    try:
        db.write(lambda tx: tx.execute("DELETE FROM task_changes"))
        # A change committed late on one node with a lower seq than one another node committed
        # first: the two orders disagree. Which node hands out the lower seq depends on their
        # auto_increment_offset, so try both ways round.
        for late_node, early_node in ((1, 2), (2, 1)):
            late, early = raw(node_url(cluster, galera_url, late_node)), raw(node_url(cluster, galera_url, early_node))
            late.cursor().execute("BEGIN")
            late_seq = _insert(late, "late")
            early_seq = _insert(early, "early")  # committed at once
            feed.sequence()
            late.cursor().execute("COMMIT")
            late.close()
            early.close()
            feed.sequence()
            if late_seq < early_seq:
                break
        else:
            pytest.fail("no node handed out a lower seq to the transaction that committed later")
        rows = db.read(lambda tx: tx.rows("SELECT seq, pos, actor FROM task_changes WHERE seq IN (%s, %s) ORDER BY pos",
                                          [late_seq, early_seq]))
        assert [(r["actor"], int(r["seq"])) for r in rows] == [("early", early_seq), ("late", late_seq)]
        early_pos, late_pos = (int(r["pos"]) for r in rows)
        db.write(lambda tx: tx.execute(
            "UPDATE task_changes SET changed_at = NOW(6) - INTERVAL 40 DAY WHERE seq IN (%s, %s)", [late_seq, early_seq]))
        young = raw(node_url(cluster, galera_url, 1))
        _insert(young, "young")  # stops the prune
        young.close()
        feed.sequence()
        # Every row at or below the seq-wise cut would be gone or marked; below late_pos a
        # reader has read only `early`, and must be told that `late` is gone.
        assert feed.prune(MONTH) >= 1
        resumed = feed.since(early_pos)
        assert resumed and resumed[0].kind == PRUNED and resumed[0].seq == late_pos, resumed
        assert [c.actor for c in resumed[1:]] == ["young"]
        assert feed.since(0)[0].kind == PRUNED
    finally:
        db.close()
