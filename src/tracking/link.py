"""Carrier hand-over: a HANDED_OVER scan with a new tracking number links
that number to the shipment, so the shipment is found by either and what
the next carrier reports under its own number is recorded on it.

A link is its own tiny aggregate, named by the new number (as a shipment is
by its own), written in the same transaction as the hand-over scan; it is
read only when a number has no booked shipment of its own.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate

from tracking.identifiers import TrackingNumber
from tracking.occurred import WHEN_RECORDED
from tracking.scan import Source

_LINK_NAMESPACE = uuid.UUID("0d6f3a4e-8a51-4c3f-9a4b-6d1c2e7f5b21")


def link_id(tracking_number: str) -> uuid.UUID:
    return uuid.uuid5(_LINK_NAMESPACE, tracking_number)


class TrackingLink(Aggregate):
    class Linked(Aggregate.Created):
        """``tracking_number`` (the next carrier's) names shipment ``shipment``."""

        tracking_number: TrackingNumber
        shipment: TrackingNumber
        source: Source

        occurred_at = WHEN_RECORDED

    def __init__(self, tracking_number: TrackingNumber, shipment: TrackingNumber,
                 source: Source) -> None:
        self.tracking_number = tracking_number
        self.shipment = shipment

    @staticmethod
    def create_id(tracking_number: str) -> uuid.UUID:
        return link_id(tracking_number)

    @classmethod
    def link(cls, tracking_number: TrackingNumber, shipment: TrackingNumber,
             source: Source) -> TrackingLink:
        return cls._create(cls.Linked, tracking_number=tracking_number, shipment=shipment,
                           source=source)
