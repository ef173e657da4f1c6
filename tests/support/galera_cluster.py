"""A throwaway 3-node MariaDB Galera cluster on loopback, for tests (issue 24).

    with GaleraCluster.create(3) as cluster:      # node 1 bootstraps, 2 and 3 join by rsync SST
        url = cluster.create_database("tasks")    # mysql://root@127.0.0.1:p1,127.0.0.1:p2,.../tasks
        cluster.nodes[1].url("tasks")             # one node only
        cluster.nodes[2].kill()                   # SIGKILL, as a crashed host
        cluster.nodes[2].start()                  # rejoins (IST or SST from a survivor)

Each node is a ThrowawayMariaDB (throwaway_mariadb.py) with the wsrep options: its own
datadir, client port, group port, IST port and SST port, all free loopback ports. Needs
Debian's `galera-4` (the provider /usr/lib/galera/libgalera_smm.so) and `rsync` (the SST
method); `.ci/run` installs both. As root, the nodes run as user `mysql` (`--user=mysql`,
datadirs owned by it): the rsync SST script drops privileges and fails as root.

Fixture: `galera_cluster`, one cluster per test session (bring-up ~12 s here), shared by
the tests in tests/galera. It skips with the reason when a cluster cannot be brought up,
and fails instead when MCP_TASKS_REQUIRE_MARIADB=1 (CI).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from tests.support.throwaway_mariadb import ThrowawayMariaDB, Unavailable, free_port

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
READY_TIMEOUT = 90.0  # a joiner's SST on a loaded 2-core machine


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of user mysql when we are root (mariadbd then drops to it), else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam("mysql")
    except KeyError as exc:
        raise Unavailable("running as root, but there is no user `mysql` for the Galera nodes (rsync SST fails as root)") from exc
    return entry.pw_uid, entry.pw_gid


class GaleraNode(ThrowawayMariaDB):
    """One node: a ThrowawayMariaDB started with the wsrep options of its cluster."""

    def __init__(self, base: Path, index: int, cluster: "GaleraCluster"):
        super().__init__(base)
        self.index = index
        self.cluster = cluster
        self.group_port = free_port()
        self.ist_port = free_port()
        self.sst_port = free_port()
        self.bootstrap = False

    def _user_option(self) -> list[str]:
        return ["--user=mysql"] if self.cluster.owner is not None else []

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        self.options = (
            "--wsrep-on=ON",
            f"--wsrep-provider={PROVIDER}",
            "--wsrep-cluster-name=mcp_tasks_test",
            f"--wsrep-cluster-address=gcomm://{self.cluster.gcomm_members()}",
            f"--wsrep-node-name=node{self.index}",
            f"--wsrep-node-address=127.0.0.1:{self.group_port}",
            f"--wsrep-sst-receive-address=127.0.0.1:{self.sst_port}",
            "--wsrep-sst-method=rsync",
            "--wsrep-provider-options="
            f"gmcast.listen_addr=tcp://127.0.0.1:{self.group_port};ist.recv_addr=127.0.0.1:{self.ist_port};"
            "gcache.size=64M",
            "--binlog-format=ROW",
            "--innodb-autoinc-lock-mode=2",
            "--default-storage-engine=InnoDB",
            *(("--wsrep-new-cluster",) if self.bootstrap else ()),
        )
        super().start(timeout)
        self.wait_synced(timeout)

    def wait_synced(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            if not self.running:
                raise Unavailable(f"Galera node {self.index} exited while joining: {self.log_tail()}")
            try:
                con = self.connect()
                try:
                    with con.cursor() as cur:
                        cur.execute("SHOW STATUS LIKE 'wsrep_local_state_comment'")
                        state = cur.fetchone()[1]
                finally:
                    con.close()
                if state == "Synced":
                    return
            except Exception:  # noqa: BLE001 - not up yet; the loop is bounded
                pass
            time.sleep(0.1)
        raise Unavailable(f"Galera node {self.index} not Synced within {timeout:.0f} s (state {state}): {self.log_tail()}")


class GaleraCluster:
    def __init__(self, size: int):
        if not os.path.exists(PROVIDER):
            raise Unavailable(f"the Galera provider {PROVIDER} is missing: install Debian's galera-4 (and rsync)")
        if not shutil.which("rsync"):
            raise Unavailable("rsync is missing: the Galera nodes' state transfer (SST) needs it (Debian: rsync)")
        self.owner = _run_as()
        self.base = Path(tempfile.mkdtemp(prefix="galera-"))
        os.chmod(self.base, 0o755)  # user mysql must reach its datadir below
        self.nodes = {i: GaleraNode(self.base / f"n{i}", i, self) for i in range(1, size + 1)}

    @classmethod
    def create(cls, size: int = 3) -> "GaleraCluster":
        cluster = cls(size)
        try:
            cluster.bring_up()
        except BaseException:
            cluster.close()
            raise
        return cluster

    def __enter__(self) -> "GaleraCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def gcomm_members(self) -> str:
        return ",".join(f"127.0.0.1:{n.group_port}" for n in self.nodes.values())

    def _own(self, path: Path) -> None:
        if self.owner is None:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, *self.owner)
            for name in dirs + files:
                os.chown(os.path.join(root, name), *self.owner, follow_symlinks=False)

    def bring_up(self) -> None:
        first = self.nodes[1]
        first.base.mkdir()
        first.install()  # as user mysql when root (--user=mysql)
        for node in list(self.nodes.values())[1:]:
            node.base.mkdir()
            node.datadir.mkdir()  # empty: the joiner's SST fills it
        self._own(self.base)
        first.bootstrap = True
        first.start()
        first.bootstrap = False  # a restart of node 1 joins the running cluster
        for node in list(self.nodes.values())[1:]:
            node.start()

    def close(self) -> None:
        for node in self.nodes.values():
            try:
                node.kill()
            except Exception:  # noqa: BLE001 - tear down the rest regardless
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    # ---- use -------------------------------------------------------------------------------

    def running_node(self) -> GaleraNode:
        return next(n for n in self.nodes.values() if n.running)

    def create_database(self, name: str) -> str:
        """The database (replicated to every node) and a URL naming every node."""
        self._run(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._run(f"DROP DATABASE IF EXISTS `{name}`")

    def _run(self, sql: str) -> None:
        con = self.running_node().connect()
        try:
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()

    def url(self, database: str, order: list[int] | None = None) -> str:
        """mysql://root@h:p,h:p,.../db with the nodes in `order` (default 1, 2, 3)."""
        hosts = ",".join(f"127.0.0.1:{self.nodes[i].port}" for i in (order or list(self.nodes)))
        return f"mysql://root@{hosts}/{database}"
