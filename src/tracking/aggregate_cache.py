"""The aggregate cache, bounded in bytes: the least recently used aggregates
go once what it holds would pass its budget.

The library's own cache bounds a count, and a count is no bound on memory:
a shipment of 5 scans holds about 10 KB in memory, one of 80 scans 58 KB,
and the consumer kept up to 20,000 of them. What an aggregate holds is
estimated from its size, in a few ``len`` calls, with costs measured with
tracemalloc (``tests/unit/test_aggregate_cache.py`` checks the budget holds
against tracemalloc's own count): measuring each object graph would cost
more than loading it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache

from tracking.shipment import Shipment

# Bytes, as tracemalloc counts them, of a shipment restored from its state
# row with its delivery derived (5 scans: 10.4 KB; 19: 19.5 KB; 80: 57.5 KB),
# with some to spare.
SHIPMENT_BASE = 8_000
PER_SCAN = 700
PER_OTHER = 500  # a customs mark, an estimate, a plan, a subscription
PER_ID = 120  # a carrier update's or retraction's key
# What a service holds unless told (TRACKING_CACHE_BYTES): about 6,500
# shipments of 20 scans.
DEFAULT_BUDGET = 128 * 2**20
# Customs entries, tracking links, orders, webhooks: seldom loaded, and small.
OTHER_AGGREGATE = 16_000


def estimated_bytes(aggregate: object) -> int:
    """About what the aggregate holds in memory, rounded up."""
    if isinstance(aggregate, Shipment):
        s = aggregate
        return (SHIPMENT_BASE + PER_SCAN * (len(s.scans) + len(s.retracted))
                + PER_OTHER * (len(s.customs) + len(s.estimates) + len(s.plans)
                               + len(s.subscriptions))
                + PER_ID * (len(s.other_ids) + len(s.after_end)))
    return OTHER_AGGREGATE


class AggregateCache(Cache[UUID, Any]):
    """LRU by bytes: ``get`` and ``put`` as the library's caches answer them."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.bytes = 0
        self.cache: OrderedDict[UUID, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: UUID, *, evict: bool = False) -> Any:
        with self._lock:
            if evict:
                value, size = self.cache.pop(key)
                self.bytes -= size
                return value
            value, _ = self.cache[key]
            self.cache.move_to_end(key)
            return value

    def put(self, key: UUID, value: Any) -> None:
        if value is None:
            return
        size = estimated_bytes(value)
        with self._lock:
            old = self.cache.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.budget:
                return  # bigger than the whole budget: not kept
            self.cache[key] = (value, size)
            self.bytes += size
            while self.bytes > self.budget:
                _, (_, evicted) = self.cache.popitem(last=False)
                self.bytes -= evicted

    def __len__(self) -> int:
        return len(self.cache)
