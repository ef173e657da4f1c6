"""A throwaway `mariadbd` for tests: its own datadir, port and socket, stopped and
started on demand, always killed at the end.

    with ThrowawayMariaDB.create() as server:     # mariadb-install-db + start
        url = server.create_database("tasks")     # mysql://root@127.0.0.1:<port>/tasks
        server.stop()                             # SIGTERM, waits for the process to exit
        server.start()                            # same datadir, same port

Fixtures: `throwaway_mariadb_server` (one per test module, installed once: ~3 s) and
`throwaway_mariadb` (that server, started again if an earlier test left it stopped).
Import both into the test module. They skip with the reason when no MariaDB server binary
can be run here, and fail instead when MCP_TASKS_REQUIRE_MARIADB=1 (CI), so CI needs the
mariadb-server binaries (mariadbd, mariadb-install-db) installed.

root has an empty password over TCP (`--auth-root-authentication-method=normal`); grant
tables stay on, so the server behaves as a real one does. As root, mariadbd needs
`--user=root`. Start-up is kept small and fast: a 16 MB buffer pool, a 4 MB redo log, no
binary log, no doublewrite, no performance schema.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REQUIRE_MARIADB = os.environ.get("MCP_TASKS_REQUIRE_MARIADB") == "1"
SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/bin", "/usr/bin", "/opt/homebrew/bin")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0

# Shared by mariadb-install-db (its bootstrap server) and every start: small and quick.
FAST_OPTIONS = (
    "--skip-log-bin",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=4M",
    "--innodb-doublewrite=0",
    "--innodb-flush-log-at-trx-commit=2",
)


class Unavailable(Exception):
    """No MariaDB server can be installed or started here; the message says why."""


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(Path(d) / name) for d in SEARCH_DIRS if os.access(Path(d) / name, os.X_OK)), None
        )
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayMariaDB:
    def __init__(self, base: Path, port: int | None = None, options: tuple[str, ...] = ()):
        self.mariadbd = _find("mariadbd", "mysqld")
        self.install_db = _find("mariadb-install-db", "mysql_install_db")
        if not self.mariadbd or not self.install_db:
            raise Unavailable(f"no MariaDB server binaries found (mariadbd: {self.mariadbd}, install-db: {self.install_db})")
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"  # base is short (mkdtemp in /tmp): sockets allow ~107 bytes
        self.error_log = base / "error.log"
        self.port = port or free_port()
        self.options = options  # more mariadbd options for every start (e.g. --ssl-cert)
        self.proc: subprocess.Popen | None = None

    @classmethod
    def create(cls, options: tuple[str, ...] = ()) -> "ThrowawayMariaDB":
        server = cls(Path(tempfile.mkdtemp(prefix="mdb-")), options=options)
        try:
            server.install()
            server.start()
        except BaseException:
            server.close()
            raise
        return server

    def __enter__(self) -> "ThrowawayMariaDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- lifecycle -------------------------------------------------------------------------

    def _user_option(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else the option is not needed.
        return ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []

    def install(self) -> None:
        command = [
            self.install_db, "--no-defaults", f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
            "--skip-test-db", *self._user_option(), *FAST_OPTIONS,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{' '.join(command)} could not run: {exc}") from exc
        if done.returncode != 0:
            raise Unavailable(f"mariadb-install-db failed (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}")

    def start(self, timeout: float = START_TIMEOUT) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        command = [
            self.mariadbd, "--no-defaults", f"--datadir={self.datadir}", *self._user_option(),
            "--bind-address=127.0.0.1", f"--port={self.port}", f"--socket={self.socket}",
            f"--pid-file={self.base / 'mysqld.pid'}", f"--log-error={self.error_log}",
            "--port-open-timeout=10",  # a restart may find the old listener not quite gone
            "--performance-schema=OFF", *FAST_OPTIONS, *self.options,
        ]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"mariadbd exited with {self.proc.returncode} during start-up: {self.log_tail()}")
            try:
                self.connect().close()
                return
            except Exception as exc:  # noqa: BLE001 - not up yet; the loop is bounded
                last = exc
                time.sleep(0.05)
        self.kill()
        raise Unavailable(f"mariadbd did not accept connections on port {self.port} within {timeout:.0f} s ({last}): {self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """A clean shutdown, as an operator's restart does: SIGTERM, then wait for the exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mariadbd ignored SIGTERM for {timeout:.0f} s and was killed: {self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        try:
            self.kill()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- use -------------------------------------------------------------------------------

    def connect(self, database: str | None = None):
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=database,
            connect_timeout=2, autocommit=True,
        )

    def create_database(self, name: str) -> str:
        con = self.connect()
        try:
            with con.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            con.close()
        return self.url(name)

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.error_log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no error log)"


def cannot_run_here(message: str) -> None:
    """Skip the test with the reason; fail it instead in CI (MCP_TASKS_REQUIRE_MARIADB=1)."""
    if REQUIRE_MARIADB:
        pytest.fail(message)
    pytest.skip(message)


def create_or_skip(options: tuple[str, ...] = ()) -> ThrowawayMariaDB:
    """A started throwaway mariadbd (with these extra options), or the test skipped (failed in CI)."""
    try:
        return ThrowawayMariaDB.create(options)
    except Unavailable as exc:
        cannot_run_here(f"a throwaway MariaDB server cannot be started here: {exc}")
        raise  # not reached: cannot_run_here always raises


@pytest.fixture(scope="module")
def throwaway_mariadb_server():
    """One throwaway mariadbd per test module; skipped (failed in CI) when none can be started here."""
    server = create_or_skip()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def throwaway_mariadb(throwaway_mariadb_server):
    """The module's throwaway mariadbd, running (a test that failed mid-outage may have left it stopped)."""
    if not throwaway_mariadb_server.running:
        throwaway_mariadb_server.start()
    yield throwaway_mariadb_server
