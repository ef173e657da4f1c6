"""Galera's error codes in our words (infrastructure/db_errors.py, issue 24): 1047 and 1711
mean "this node is not ready", so the call moves to another node, and when none serves the
refusal names the code and says what to do."""
from __future__ import annotations

import pymysql
import pytest

from config import parse_database_url
from domain.errors import StorageError
from infrastructure.db_errors import DriverErrors, Lost, Retry, broke

SETTINGS = parse_database_url("mysql://app:secret@g1:3306,g2:3306/tasks")


@pytest.mark.parametrize("code, text", [
    (1047, "WSREP has not yet prepared node for application use"),
    (1711, "Unknown trigger has an error in its body: 'WSREP has not yet prepared node for application use'"),
])
def test_a_node_that_is_not_ready_is_a_lost_connection_and_named_when_no_node_serves(code, text):
    errors = DriverErrors(SETTINGS, "DATABASE_URL", read_only=False)
    exc = pymysql.err.OperationalError(code, text)
    mapped = errors.map_mysql(exc)
    assert isinstance(mapped, Lost) and mapped.not_ready == code
    assert broke(exc)  # the connection is not handed out again
    refusal = errors.unreachable(exc, "Nothing was written.")
    assert isinstance(refusal, StorageError) and refusal.code == "unavailable" and refusal.retryable
    message = str(refusal)
    assert f"error {code}" in message and "not ready" in message and "Nothing was written." in message
    assert "g1:3306,g2:3306" in message and "secret" not in message


def test_a_certification_conflict_is_retried():
    errors = DriverErrors(SETTINGS, "DATABASE_URL", read_only=False)
    assert isinstance(errors.map_mysql(pymysql.err.OperationalError(1213, "Deadlock found")), Retry)
