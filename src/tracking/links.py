"""The tracking links' application service: which shipment a later
carrier's number names, and the links a batch of hand-over scans needs."""

from __future__ import annotations

from collections.abc import Iterable

from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber, shipment_id
from tracking.link import TrackingLink, link_id
from tracking.scan import Scan, Source
from tracking.shipment import Shipment
from tracking.unitofwork import AggregateStore, UnitOfWork


class TrackingLinks:
    def __init__(self, store: AggregateStore) -> None:
        self.store = store

    def linked(self, tracking_number: str) -> TrackingNumber | None:
        """The number of the shipment handed over under this number, if any."""
        return self.links_of([tracking_number]).get(tracking_number)

    def links_of(self, tracking_numbers: Iterable[str]) -> dict[str, TrackingNumber]:
        """Each of these numbers that is linked, to its shipment's number (one query)."""
        links = self.store.read_many(TrackingLink, (link_id(tn) for tn in tracking_numbers))
        return {link.tracking_number: link.shipment for link in links}


class HandOvers:
    """The links one batch of scans makes: each hand-over scan with a new
    number links it to its shipment, in the same transaction."""

    def __init__(self, links: TrackingLinks, unit: UnitOfWork) -> None:
        self.links = links
        self.unit = unit
        self.made: dict[str, TrackingLink] = {}

    def needed(self, scan: Scan, shipment: Shipment) -> str | None:
        """The new number a hand-over scan links to its shipment, if not
        linked yet; refused when the number is already another shipment's."""
        new = scan.new_tracking_number
        if new is None or new in shipment.aliases:
            return None
        if new == shipment.tracking_number:
            raise InvalidInput("new_tracking_number", "is the shipment's own number")
        other = self.links.store.read(shipment_id(new))
        if isinstance(other, Shipment) and other.is_booked:
            raise InvalidInput("new_tracking_number", f"{new} is booked as a shipment of its own")
        linked = self.links.linked(new)
        if linked is not None and linked != shipment.tracking_number:
            raise InvalidInput("new_tracking_number", f"{new} is already linked to {linked}")
        made = self.made.get(new)
        if made is not None and made.shipment != shipment.tracking_number:
            raise InvalidInput("new_tracking_number", f"{new} is handed over twice in one batch")
        return None if linked is not None else new

    def link(self, new: str, shipment: Shipment, source: Source) -> None:
        """Link ``new`` to the shipment (saved with the unit, by ``done``)."""
        self.made[new] = TrackingLink.link(TrackingNumber(new), shipment.tracking_number, source)

    def done(self) -> None:
        """The links made go into the unit, after the shipments."""
        self.unit.changed(*self.made.values())
