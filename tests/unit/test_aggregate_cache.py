"""The aggregate cache holds at most its budget of bytes, as tracemalloc
counts what the shipments in it hold, and lets the least recently used go."""

from __future__ import annotations

import gc
import tracemalloc

from adapters.composition import build_service
from adapters.settings import ConfigError, Settings
from tests.builders import AGENT, HK_STO, at, booking, scan
from tracking.aggregate_cache import AggregateCache, estimated_bytes
from tracking.identifiers import TrackingNumber, s10_check_digit
from tracking.shipment import Shipment
from tracking.state_codec import StateCodec

import pytest

CODEC = StateCodec()


def number(i: int) -> TrackingNumber:
    digits = f"{i:08d}"
    return TrackingNumber(f"RR{digits}{s10_check_digit(digits)}US")


def state_row(i: int, scans: int) -> bytes:
    """The state row of a booked shipment with this many scans."""
    tn = number(i)
    shipment = Shipment.open(tn, AGENT)
    shipment.book(booking(), HK_STO, AGENT)
    for k in range(scans):
        shipment.record_scan(scan("RECEIVED", "HKHKG", 2 + k // 24, k % 24, tn=tn,
                                  scan_id=f"{i}-{k}"), AGENT, now=at(28))
    row = CODEC.encode(shipment)
    assert row is not None
    return row[1]


def loaded(row: bytes) -> Shipment:
    """A shipment as a cold load makes it, its delivery derived (as writes do)."""
    shipment = CODEC.decode(1, row)
    assert shipment is not None
    shipment.delivery()
    return shipment


def test_what_the_cache_holds_stays_within_its_budget_as_tracemalloc_counts_it() -> None:
    rows = [state_row(i, scans) for i, scans in enumerate([3, 10, 20, 40, 80] * 40)]
    budget = 1_000_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = AggregateCache(budget)
        for row in rows:
            shipment = loaded(row)
            cache.put(shipment.id, shipment)
            del shipment
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0 < len(cache) < len(rows)  # it kept some and let others go
    assert cache.bytes <= budget
    assert held <= budget, f"the cache holds {held:,} bytes, over its budget of {budget:,}"
    # And the estimate is no gross overstatement: most of the budget is used.
    assert held >= budget // 2


def test_the_least_recently_used_go_first() -> None:
    shipments = [loaded(state_row(i, 5)) for i in range(4)]
    size = estimated_bytes(shipments[0])
    cache = AggregateCache(3 * size)
    for s in shipments[:3]:
        cache.put(s.id, s)
    cache.get(shipments[0].id)  # used: now the most recent
    cache.put(shipments[3].id, shipments[3])
    with pytest.raises(KeyError):
        cache.get(shipments[1].id)
    assert {cache.get(s.id).id for s in (shipments[0], shipments[2], shipments[3])}


def test_a_shipment_put_again_is_counted_once_at_its_new_size() -> None:
    shipment = loaded(state_row(1, 5))
    cache = AggregateCache(10**9)
    cache.put(shipment.id, shipment)
    shipment.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100", tn=number(1)), AGENT,
                         now=at(28))
    cache.put(shipment.id, shipment)
    assert len(cache) == 1 and cache.bytes == estimated_bytes(shipment)
    cache.get(shipment.id, evict=True)
    assert cache.bytes == 0


def test_an_aggregate_bigger_than_the_budget_is_not_kept() -> None:
    shipment = loaded(state_row(1, 40))
    cache = AggregateCache(estimated_bytes(shipment) - 1)
    cache.put(shipment.id, shipment)
    assert len(cache) == 0 and cache.bytes == 0


def test_the_budget_is_configured_in_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"TRACKING_CACHE_BYTES": "5000000",
                                  "TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/t.db"})
    service = build_service(settings)
    try:
        assert service.store.cache.budget == 5_000_000
        assert service.repository.cache is service.store.cache
    finally:
        service.close()
    with pytest.raises(ConfigError, match="TRACKING_CACHE_BYTES"):
        Settings.from_env({"TRACKING_CACHE_BYTES": "128MB"})
