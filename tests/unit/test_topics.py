"""Stored events name their class by topic (module path and qualname): the
topics already in event stores must keep resolving to the same classes,
whatever modules the domain is split into."""

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from tracking.customs import CustomsEntry
from tracking.shipment import Shipment

STORED = {
    "tracking.shipment:Shipment": Shipment,
    "tracking.shipment:Shipment.Opened": Shipment.Opened,
    "tracking.shipment:Shipment.Booked": Shipment.Booked,
    "tracking.shipment:Shipment.Rerouted": Shipment.Rerouted,
    "tracking.shipment:Shipment.ScanRecorded": Shipment.ScanRecorded,
    "tracking.shipment:Shipment.CustomsUpdated": Shipment.CustomsUpdated,
    "tracking.shipment:Shipment.StallDetected": Shipment.StallDetected,
    "tracking.shipment:Shipment.NotificationSubscribed": Shipment.NotificationSubscribed,
    "tracking.shipment:Shipment.EstimateReceived": Shipment.EstimateReceived,
    "tracking.shipment:Shipment.CarrierEventNoted": Shipment.CarrierEventNoted,
    "tracking.shipment:Shipment.ScanRetracted": Shipment.ScanRetracted,
    "tracking.shipment:Shipment.RetractedEventRecorded": Shipment.RetractedEventRecorded,
    "tracking.customs:CustomsEntry": CustomsEntry,
    "tracking.customs:CustomsEntry.Declared": CustomsEntry.Declared,
    "tracking.customs:CustomsEntry.Amended": CustomsEntry.Amended,
    **{f"tracking.customs:CustomsEntry.{name}": getattr(CustomsEntry, name)
       for name in ("Lodged", "Accepted", "Held", "DutiesAssessed", "DutiesPaid", "Released",
                    "Rejected", "Seized", "Returned")},
}


@pytest.mark.parametrize("topic", sorted(STORED))
def test_a_stored_topic_resolves_to_its_class_and_back(topic: str) -> None:
    assert resolve_topic(topic) is STORED[topic]
    assert get_topic(STORED[topic]) == topic
