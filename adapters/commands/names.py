"""``tracking reindex-names``: put every booked recipient's name words in the
blind name index (tracking.personal_data, adapters/keys.py), for shipments
booked before that index existed. Each sealed name is opened with its data
key and indexed; an erased one opens to nothing and is left out, and a name
recorded before sealing (a v1 event, with no data key) is left out too.
Again changes nothing."""

from __future__ import annotations

from typing import NamedTuple

from eventsourcing.utils import get_topic

from adapters.composition import build_service
from adapters.settings import Settings
from tracking.application import ShipmentService
from tracking.personal_data import SealedRecipient, name_words, subject_of
from tracking.shipment import Shipment

_PAGE = 1000


class Reindexed(NamedTuple):
    indexed: int  # recipients whose name words are in the index
    left_out: int  # erased, or recorded before sealing


def reindex_names(service: ShipmentService) -> Reindexed:
    vault, indexed, left_out, start = service.personal_data, 0, 0, 1
    while True:
        page = service.recorder.select_notifications(start, _PAGE,
                                                     topics=[get_topic(Shipment.Booked)])
        for n in page:
            event = service.mapper.to_domain_event(n)
            recipient = event.booking.recipient  # type: ignore[attr-defined]
            subject = subject_of(event.originator_id)
            name = vault.open(subject, "name", recipient.name) if isinstance(
                recipient, SealedRecipient) else None
            if name is None or vault.keys.key(subject) is None:
                left_out += recipient is not None
                continue
            vault.keys.index(subject, name_words(name))
            indexed += 1
        if len(page) < _PAGE:
            return Reindexed(indexed, left_out)
        start = page[-1].id + 1


def reindex_command(settings: Settings) -> int:
    service = build_service(settings)
    try:
        done = reindex_names(service)
    finally:
        service.close()
    print(f"indexed {done.indexed} recipient name(s); left out {done.left_out} "
          "(erased, or recorded before sealing)")
    return 0
