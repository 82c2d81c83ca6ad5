"""A failover while scans flow over MQTT and HTTP: the primary of a real
PostgreSQL pair (synchronous streaming replication) is stopped dead and
its replica promoted; `tracking serve`, `ingest` and `project`, given both
hosts in TRACKING_DATABASE_URL, reconnect to the new primary by themselves
(libpq's target_session_attrs=read-write). Nothing acknowledged is lost,
nothing recorded twice, and the views equal a rebuild (the fault suite's
checker)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from adapters.settings import Settings
from tests.faults.checker import check_invariants
from tests.faults.conftest import Broker, Process, Publisher, Traffic
from tests.faults.conftest import broker, processes  # noqa: F401 - fixtures
from tests.integration.failover import HttpScanner
from tests.integration.replication import Pair, need_pair
from tests.ports import free_port, listening
from tests.waiting import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def pair() -> Iterator[Pair]:
    need_pair()
    made = Pair(synchronous=True)
    try:
        yield made.start()
    finally:
        made.close()


def test_promoting_the_replica_mid_stream_loses_and_doubles_no_scan(
    pair: Pair, broker: Broker, processes: list[Process]
) -> None:
    schema = f"failover_{uuid.uuid4().hex[:10]}"
    pair.schema_urls(schema)
    settings = Settings(database_url=f"{pair.failover_url}?schema={schema}", mqtt_url=broker.url,
                        mqtt_client_id=f"failover-{uuid.uuid4().hex[:8]}",
                        http_port=free_port(), api_tokens={"d-token": "device"})
    traffic = Traffic.make(shipments=60, per_shipment=10, seed=7)
    traffic.book(settings)
    for command in ("ingest", "project", "serve"):
        processes.append(Process(settings, command).start())
    ingest = processes[0]
    eventually(lambda: "subscribed to" in ingest.log.read_text(errors="replace"), timeout=60,
               what=f"the consumer subscribed\n{ingest.tail()}")
    eventually(lambda: listening(settings.http_port), timeout=60, what="the API listens")

    over_mqtt, over_http = traffic.scans[0::2], traffic.scans[1::2]
    promoted_at: list[float] = []

    def fail_over() -> None:
        pair.primary.stop("immediate")  # as a crash: no checkpoint, no goodbye
        pair.replica.promote()
        promoted_at.append(time.monotonic())

    switch = threading.Thread(target=fail_over)

    def during(i: int) -> None:
        if i == len(over_http) // 3:
            switch.start()  # while scans are in flight on both ways in

    http = HttpScanner(settings.http_port, "d-token", over_http).start(during)
    publisher = Publisher(broker, "failover")
    try:
        for scan in over_mqtt:
            publisher.publish(scan)
            time.sleep(0.005)
        http.join(180)
        switch.join(60)
        publisher.wait_all_acked(120)
    finally:
        publisher.close()

    assert promoted_at and not pair.replica.in_recovery() and not listening(pair.primary.port)
    after = [t for t in http.answered_at if t > promoted_at[0]]
    assert len(after) > len(over_http) // 3, "too few scans were written after the failover"
    acked = [*http.acked, *publisher.acked]
    assert len(acked) == len(traffic.scans)
    for p in processes:
        assert p.alive(), f"{p.command} died:\n{p.tail()}"
    report = check_invariants(settings, acked=acked, tracking_numbers=traffic.shipments,
                              views_timeout=120)
    assert report["recorded"] == len(traffic.scans)
