"""doctor against the real 3-node cluster: each listed node's state, and a warning for a
node that is down or a node DATABASE_URL leaves out."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import server_env
from tests.support.mcp_stdio import SERVER

pytestmark = pytest.mark.galera


def doctor(url: str, tmp_path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), "doctor", *flags], env=server_env(url, tmp_path),
                          capture_output=True, text=True, timeout=120)


def test_doctor_shows_each_node_and_warns_of_a_node_that_is_down_or_not_listed(cluster, galera_url, tmp_path):
    ports = [cluster.nodes[i].port for i in (1, 2, 3)]
    done = doctor(galera_url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"OK   galera: cluster of 3 (Primary); 127.0.0.1:{ports[0]} Synced, 127.0.0.1:{ports[1]} Synced, " \
           f"127.0.0.1:{ports[2]} Synced" in done.stdout, done.stdout
    assert "WARN galera" not in done.stdout, done.stdout
    two = cluster.url(galera_url.rsplit("/", 1)[1], [1, 2])
    done = doctor(two, tmp_path)
    assert "WARN galera: DATABASE_URL lists 2 of the cluster's 3 nodes" in done.stdout, done.stdout
    victim = cluster.nodes[3]
    # A clean stop leaves the cluster at once; a SIGKILLed node would stay a member until the
    # survivors' suspect timeout and could still count toward quorum when a later test kills another.
    victim.stop()
    try:
        done = doctor(galera_url, tmp_path)
        assert done.returncode == 0, done.stdout  # two of three still serve: a warning, not a failure
        assert f"WARN galera: node 127.0.0.1:{ports[2]} does not answer" in done.stdout, done.stdout
        assert doctor(galera_url, tmp_path, "--strict").returncode == 1
    finally:
        victim.start()
