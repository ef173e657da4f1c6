"""TLS to MariaDB on this machine (config.DatabaseSettings.tls_disabled), against a real
mariadbd that offers TLS, as MariaDB 11.4+ and MySQL 8 do out of the box.

PyMySQL 1.2 tries TLS on every connection it opens unless told not to; on loopback that
protects no wire and costs a CA-bundle load per connection and encryption per packet. The
server's connections to a loopback address go without it; any other host keeps PyMySQL's
default."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from config import DatabaseSettings, parse_database_url
from infrastructure.database import Database
from infrastructure.database_admin import ensure_database
from tests.support.throwaway_mariadb import cannot_run_here, create_or_skip

CIPHER = "SHOW SESSION STATUS LIKE 'Ssl_cipher'"


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory):
    """A throwaway mariadbd with a self-signed certificate: it accepts TLS and does not require it."""
    if not shutil.which("openssl"):
        cannot_run_here("the openssl command is needed to make the test server's certificate")
    certs = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )
    server = create_or_skip((f"--ssl-cert={certs / 'cert.pem'}", f"--ssl-key={certs / 'key.pem'}"))
    try:
        yield server
    finally:
        server.close()


def cipher(cursor) -> str:
    cursor.execute(CIPHER)
    row = cursor.fetchone()
    return row["Value"] if isinstance(row, dict) else row[1]


def test_the_server_offers_tls_and_pymysql_takes_it_by_default(tls_mariadb):
    # The premise: without the setting, PyMySQL's own default encrypts this loopback connection.
    con = tls_mariadb.connect()
    try:
        assert cipher(con.cursor()) != ""
    finally:
        con.close()


def test_our_connections_to_this_machine_go_without_tls(tls_mariadb):
    url = tls_mariadb.create_database("tls_check")
    db = Database(parse_database_url(url), "DATABASE_URL")
    try:
        db.migrate()
        assert db.read(lambda tx: cipher(tx._cursor)) == ""
        assert db.write(lambda tx: cipher(tx._cursor)) == ""
    finally:
        db.close()


def tls_handshakes(server) -> int:
    """How many TLS connections the server has accepted so far (read over a plain one)."""
    import pymysql

    con = pymysql.connect(host="127.0.0.1", port=server.port, user="root", password="", ssl_disabled=True)
    try:
        with con.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'")
            return int(cur.fetchone()[1])
    finally:
        con.close()


def test_init_db_creates_the_database_without_tls_too(tls_mariadb):
    before = tls_handshakes(tls_mariadb)
    assert ensure_database(parse_database_url(tls_mariadb.url("tls_created")), "DATABASE_URL") is True
    assert tls_handshakes(tls_mariadb) == before


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "LocalHost", "::1"])
def test_loopback_hosts_go_without_tls(host):
    assert DatabaseSettings(kind="mysql", host=host).tls_disabled


@pytest.mark.parametrize("host", ["db.example.com", "10.0.0.5", "192.0.2.2", "127.example.com", "fd00::2"])
def test_every_other_host_keeps_pymysql_s_default(host):
    assert not DatabaseSettings(kind="mysql", host=host).tls_disabled
