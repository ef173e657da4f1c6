"""doctor's verdict on a Galera cluster (infrastructure/database_admin.judge_galera): the
statuses are the ones MariaDB reports; tests/galera/test_galera_doctor.py runs doctor
against a real cluster."""
from __future__ import annotations

from infrastructure.database_admin import judge_galera


def node(state: str = "Synced", size: int = 3, component: str = "Primary", ready: str = "ON") -> dict[str, str]:
    return {"wsrep_local_state_comment": state, "wsrep_cluster_size": str(size), "wsrep_cluster_status": component,
            "wsrep_ready": ready}


def test_a_healthy_cluster_is_one_ok_line_naming_each_node():
    ok, line, warnings = judge_galera([("h1:3306", node()), ("h2:3306", node()), ("h3:3306", node())])
    assert ok and warnings == []
    assert line == "galera: cluster of 3 (Primary); h1:3306 Synced, h2:3306 Synced, h3:3306 Synced"


def test_a_node_down_or_catching_up_is_a_warning_that_says_what_happens_meanwhile():
    ok, line, warnings = judge_galera([("h1:3306", node(size=2)), ("h2:3306", "Can't connect"), ("h3:3306", node("Donor/Desynced", 2))])
    assert ok and "h2:3306 does not answer" in line
    assert any("node h2:3306 does not answer (Can't connect)" in w and "rejoins" in w for w in warnings), warnings
    assert any("node h3:3306 is Donor/Desynced" in w for w in warnings), warnings
    assert any("even number" in w for w in warnings), warnings


def test_a_cluster_without_a_primary_component_fails_and_says_writes_are_refused():
    ok, line, warnings = judge_galera([("h1:3306", node(size=1, component="non-Primary")), ("h2:3306", "timed out")])
    assert not ok and "no primary component" in line and "writes are refused" in line
    assert any("non-Primary component" in w for w in warnings), warnings


def test_nodes_the_url_does_not_list_are_named():
    ok, _, warnings = judge_galera([("h1:3306", node())])
    assert ok and any("lists 1 of the cluster's 3 nodes" in w for w in warnings), warnings
