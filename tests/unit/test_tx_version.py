"""Tx.version: the server's version from its handshake string, past MariaDB's 5.5.5- prefix."""
import pytest

from infrastructure.tx import Tx


@pytest.mark.parametrize("handshake, version, mariadb", [
    ("5.5.5-10.11.19-MariaDB-0+deb12u1", (10, 11, 19), True),  # MariaDB 10.x over the wire
    ("11.4.2-MariaDB-ubu2404", (11, 4, 2), True),  # MariaDB 11 without the prefix
    ("10.5.23-MariaDB", (10, 5, 23), True),
    ("8.0.36", (8, 0, 36), False),  # MySQL
    ("5.7.44-log", (5, 7, 44), False),
    ("", (), False),
])
def test_the_version_is_read_past_the_compatibility_prefix(handshake, version, mariadb):
    tx = Tx(None, "mysql", handshake)
    assert tx.version == version and tx.mariadb is mariadb
