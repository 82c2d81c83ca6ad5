"""The application: one eventsourcing Application (the event store, its
mapper and aggregate cache) with an application service per aggregate
family over one unit of work (``tracking.unitofwork``):

- ``tracking.shipments``: book, re-route, subscribe, record scans and
  carriers' updates, flag silence; the shipment as it is now;
- ``tracking.customs_entries``: declare, amend, record what customs did;
- ``tracking.links``: which shipment a later carrier's number names;
- ``tracking.purchase_orders``: place, amend, cancel orders, notices, receipts
  (``service.purchase_orders``, used as is).
- ``tracking.webhooks``: merchants' webhook subscriptions.
- ``tracking.warehouses``: merchants' named warehouses (``service.warehouses``).

``ShipmentService`` is the one object the adapters are given. It holds the
family services (``service.shipments``, ``service.customs``, ``service.links``,
``service.purchase_orders``, ``service.eta_models``, ``service.webhooks``),
which the adapters call directly; it keeps as its own only the commands and
queries nearly every adapter and test uses (book, record scans and updates,
the shipment, its delivery and its history).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol

from tracking.aggregate_cache import DEFAULT_BUDGET
from tracking.booking import Booking
from tracking.carrier import CarrierUpdate
from tracking.customs_entries import CustomsEntries
from tracking.delivery import Delivery
from tracking.eta_models import EtaModels
from tracking.identifiers import TrackingNumber
from tracking.links import TrackingLinks
from tracking.mapper import StructMapper
from tracking.nomenclature import Nomenclature
from tracking.outcomes import DeclarationResult, ScanOutcome, ScanResult, WriteResult
from tracking.personal_data import KeyStore, MemoryKeyStore, Vault
from tracking.purchase_orders import PurchaseOrders
from tracking.route import Route
from tracking.scan import Scan, Source
from tracking.shipment import Shipment
from tracking.shipments import Shipments
from tracking.tariff import CustomsRules, default_rules
from tracking.unitofwork import AggregateStore, MultiStreamReader
from tracking.warehouses import Warehouses
from tracking.webhooks import Webhooks

__all__ = [
    "Clock", "DeclarationResult", "MultiStreamReader", "ScanOutcome", "ScanResult",
    "ShipmentService", "WriteResult",
]

T = TypeVar("T")
Clock = Callable[[], datetime]


class ShipmentService(Application[UUID]):
    name = "tracking"
    env: ClassVar[dict[str, str]] = {
        # Saved aggregates go into the cache; a stale entry (another process
        # wrote since) fails on save and is reloaded, so no per-read query.
        # The library's cache is replaced by one bounded in bytes
        # (tracking.aggregate_cache, ``cache_bytes``): its size here is moot.
        "AGGREGATE_CACHE_MAXSIZE": "1",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Clock | None = None,
        customs_rules: CustomsRules | None = None,
        nomenclature: Nomenclature | None = None,
        cache_bytes: int = DEFAULT_BUDGET,
        keys: KeyStore | None = None,
    ) -> None:
        super().__init__(env)
        # The recipients' data keys (adapters/keys.py; in memory unless given).
        self.personal_data = Vault(keys if keys is not None else MemoryKeyStore())
        # Set after every save, for projection runners in this process.
        self.saved = threading.Event()
        self.store = AggregateStore(self, self.saved, cache_bytes=cache_bytes)
        self.links = TrackingLinks(self.store)
        self.shipments = Shipments(self.store, self.links, self._now, self.personal_data)
        self.customs = CustomsEntries(
            self.store, self._now, customs_rules or default_rules(), nomenclature
        )
        self.purchase_orders = PurchaseOrders(self.store, self._now)
        self.eta_models = EtaModels(self.store)
        self.webhooks = Webhooks(self.store, self.personal_data)
        self.warehouses = Warehouses(self.store)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))

    def close(self) -> None:
        super().close()
        close = getattr(self.personal_data.keys, "close", None)  # a store on a database
        if close is not None:
            close()

    def _now(self) -> datetime:
        return self.clock()  # read at each call: tests move the clock

    @property
    def customs_rules(self) -> CustomsRules:
        return self.customs.rules

    @property
    def nomenclature(self) -> Nomenclature | None:
        return self.customs.nomenclature

    def construct_mapper(self) -> StructMapper:  # type: ignore[override]
        return StructMapper(compressor=self.factory.compressor(), cipher=self.factory.cipher())

    # -- shipments (tracking.shipments) ------------------------------------------

    def book(
        self, tracking_number: TrackingNumber, booking: Booking, route: Route, source: Source
    ) -> WriteResult:
        return self.shipments.book(tracking_number, booking, route, source)

    def record_scan(self, scan: Scan, source: Source | None = None) -> ScanOutcome:
        return self.shipments.record_updates([scan], source)[0]

    def record_scans(
        self, scans: Sequence[Scan], source: Source | None = None
    ) -> list[ScanOutcome]:
        """Record scans for any number of shipments in one transaction, each
        its outcome in order (``Shipments.record_updates``)."""
        return self.shipments.record_updates(scans, source)

    def record_updates(
        self, updates: Sequence[Scan | CarrierUpdate], source: Source | None = None
    ) -> list[ScanOutcome]:
        return self.shipments.record_updates(updates, source)

    def get(self, tracking_number: str) -> Shipment:
        return self.shipments.get(tracking_number)

    def delivery(self, tracking_number: str) -> Delivery:
        return self.shipments.delivery(tracking_number)

    def history(self, tracking_number: str) -> list[DomainEventProtocol[UUID]]:
        return self.shipments.history(tracking_number)

    # -- the log -----------------------------------------------------------------

    def position(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0
