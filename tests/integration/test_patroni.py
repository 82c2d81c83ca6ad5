"""A real Patroni failover of our processes: etcd (Debian's etcd-server) and
two Patroni nodes (Debian's patroni, PostgreSQL 15, synchronous mode) on
free loopback ports in a temporary directory, run as the postgres user.
The leader node is SIGKILLed (its Patroni and its PostgreSQL: a machine
gone) while scans are POSTed; Patroni promotes the synchronous standby once
the leader key's ttl runs out, and `tracking serve` and `tracking project`,
given both hosts in TRACKING_DATABASE_URL, write to it: every acknowledged
scan recorded once, views equal a rebuild (docs/replicas.md, "With Patroni")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.settings import Settings
from tests.conftest import IN_CI
from tests.faults.checker import check_invariants
from tests.faults.conftest import FAULT_TOKENS, Process, Traffic
from tests.integration.failover import HttpScanner
from tests.integration.replication import BIN, missing
from tests.ports import free_port, listening
from tests.waiting import eventually

pytestmark = pytest.mark.postgres

PATRONI, ETCD = shutil.which("patroni"), shutil.which("etcd")
TTL = 20  # Patroni's least: the leader key outlives a dead leader this long

NODE = """scope: tracking
name: {name}
restapi: {{listen: "127.0.0.1:{rest}", connect_address: "127.0.0.1:{rest}"}}
etcd3: {{host: "127.0.0.1:{etcd}"}}
bootstrap:
  dcs:
    ttl: {ttl}
    loop_wait: 1
    retry_timeout: 5
    synchronous_mode: true
    postgresql: {{use_pg_rewind: false, parameters: {{max_wal_senders: 5, max_replication_slots: 5}}}}
  pg_hba: ["host replication replicator 127.0.0.1/32 trust", "host all all 127.0.0.1/32 trust",
           "local all all trust"]
postgresql:
  listen: "127.0.0.1:{port}"
  connect_address: "127.0.0.1:{port}"
  data_dir: {root}/{name}
  bin_dir: {bin}
  pgpass: {root}/pgpass-{name}
  authentication: {{replication: {{username: replicator, password: x}},
                   superuser: {{username: postgres, password: x}}}}
  parameters: {{unix_socket_directories: {root}, fsync: "off", shared_buffers: 32MB,
               max_connections: 100}}
"""


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.etcd_port, peer = free_port(), free_port()
        self.nodes = {f"n{k}": (free_port(), free_port()) for k in (1, 2)}  # name: (pg, rest)
        self.etcd = subprocess.Popen(
            [str(ETCD), "--name", "e", "--data-dir", str(root / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"e=http://127.0.0.1:{peer}"],
            stdout=open(root / "etcd.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        self.patroni: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        port, rest = self.nodes[name]
        config = self.root / f"{name}.yml"
        config.write_text(NODE.format(name=name, rest=rest, etcd=self.etcd_port, ttl=TTL, port=port,
                                      root=self.root, bin=BIN))
        shutil.chown(config, "postgres")
        self.patroni[name] = subprocess.Popen(  # as postgres: PostgreSQL will not run as root
            [str(PATRONI), str(config)], user="postgres", group="postgres", cwd=self.root,
            env={**os.environ, "HOME": str(self.root)},
            stdout=open(self.root / f"{name}.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115

    def members(self) -> dict[str, str]:
        """name: role, as any live node's REST API tells it."""
        for _, rest in self.nodes.values():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest}/cluster", timeout=2) as r:
                    found: dict[str, Any] = json.load(r)
                return {m["name"]: m["role"] for m in found["members"] if m.get("state") == "running"}
            except OSError:
                continue
        return {}

    def url(self) -> str:
        return "postgresql://postgres@" + ",".join(f"127.0.0.1:{pg}" for pg, _ in
                                                   self.nodes.values()) + "/postgres"

    def kill(self, name: str) -> None:
        """The node gone at once: its Patroni, then its PostgreSQL, SIGKILLed."""
        self.patroni[name].send_signal(signal.SIGKILL)
        self.patroni[name].wait(10)
        postmaster = (self.root / name / "postmaster.pid").read_text().split("\n")[0]
        os.kill(int(postmaster), signal.SIGKILL)

    def close(self) -> None:
        for name, process in self.patroni.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # patroni stops its PostgreSQL
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    self.kill(name)
        self.etcd.kill()
        self.etcd.wait(10)


@pytest.fixture
def patroni() -> Iterator[Cluster]:
    reason = missing() or (None if PATRONI and ETCD else "patroni or etcd is not installed "
                           "(Debian: apt-get install patroni etcd-server; .ci/run does)")
    if reason is not None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="tracking-patroni-"))
    shutil.chown(root, "postgres")
    cluster = Cluster(root)
    try:
        eventually(lambda: listening(cluster.etcd_port), timeout=30, what="etcd listens")
        cluster.start("n1")
        eventually(lambda: cluster.members() == {"n1": "leader"}, timeout=90,
                   what=f"n1 leads\n{(root / 'n1.log').read_text()[-2000:]}")
        cluster.start("n2")
        eventually(lambda: cluster.members() == {"n1": "leader", "n2": "sync_standby"}, timeout=90,
                   what=f"n2 the synchronous standby\n{(root / 'n2.log').read_text()[-2000:]}")
        yield cluster
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


def test_our_processes_write_through_a_patroni_failover_losing_and_doubling_nothing(
    patroni: Cluster,
) -> None:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{patroni.nodes['n1'][0]}/postgres",
                         autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "patroni"')
    settings = Settings(database_url=f"{patroni.url()}?schema=patroni", http_port=free_port(),
                        api_tokens=FAULT_TOKENS)
    traffic = Traffic.make(shipments=20, per_shipment=6, seed=43)
    traffic.book(settings)
    processes = [Process(settings, "serve").start(), Process(settings, "project").start()]
    try:
        eventually(lambda: listening(settings.http_port), timeout=90, what="the API listens")
        device = next(t for t, role in FAULT_TOKENS.items() if role == "device")

        def during(i: int) -> None:
            if i == len(traffic.scans) // 3:
                patroni.kill("n1")

        # each scan until a 2xx, for longer than the ttl and the promotion
        scanner = HttpScanner(settings.http_port, device, traffic.scans,
                              give_up_after=TTL + 60).start(during)
        scanner.join(300)
        assert patroni.members() == {"n2": "leader"}  # Patroni failed over, not the test
        assert len(scanner.acked) == len(traffic.scans)
        report = check_invariants(settings, acked=scanner.acked, tracking_numbers=traffic.shipments)
        assert report["recorded"] == len(traffic.scans)
        assert all(p.alive() for p in processes), [p.tail() for p in processes]
    finally:
        for p in processes:
            p.stop()
