"""Re-translating what carriers said when a code mapping changes (a carrier
adds a code, we correct a wrong one): ``tracking remap``.

Every carrier event keeps the code it was sent with (``Reported``) and the
mapping that translated it (``Reported.mapping``). Re-translating reads
that code again under the mappings as they are now and, where the answer
differs in what it derives (a note becomes a scan, a scan another scan or
a note), records a correction: a retraction of the old translation naming
both mappings, and the new translation under a key of its own. Nothing
recorded is edited, so the history still shows what was believed when,
and every view derives again from the corrected events. A translation
that stays the same is left alone: running it twice records nothing.

Only actual events are re-translated: a DCSA plan or estimate (its note's
text starts PLN or EST) would become an estimate, not a scan, and notes
keep no voyage, so such a note is left as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from adapters.carriers.mapping import MAX_KEY, CodeMap, Mapped, load
from tracking.application import ScanOutcome, ScanResult, ShipmentService
from tracking.carrier import CarrierNote, Retraction
from tracking.codes import SourceKind
from tracking.scan import Reported, Scan, Source
from tracking.shipment import Shipment

FORMATS = ("dcsa", "epcis", "aggregator", "parcel")
REMAP = Source(SourceKind.SYSTEM, "remap")
_PLANNED = ("PLN ", "EST ")
_PAGE = 1000


class Mappings:
    """Every source's code tables, and the one a reported code is read in:
    as each source's translation reads it (adapters/carriers/<source>.py)."""

    def __init__(self, tables: Mapping[str, Mapping[str, CodeMap]]) -> None:
        self.tables = tables

    @classmethod
    def shipped(cls) -> Mappings:
        return cls({source: load(source) for source in FORMATS})

    def table(self, source: str, code: str) -> tuple[CodeMap, str] | None:
        """The table ``code`` is looked up in, and the code looked up; None
        for a source we have no mapping of."""
        t = self.tables.get(source)
        if t is None:
            return None
        if source == "epcis":  # a disposition listed wins over the bizStep
            return (t["dispositions"] if code in t["dispositions"] else t["bizSteps"]), code
        if source == "aggregator":  # a subtag listed wins, else its tag (AfterShip: Tag_NNN)
            return (t["subtags"], code) if code in t["subtags"] else (t["tags"],
                                                                      code.split("_")[0])
        return t["codes"], code


class Correction(NamedTuple):
    """One carrier event translated differently now; once recorded, what
    became of the retraction and of the new translation."""

    tracking_number: str
    version: int  # of the event corrected
    key: str  # its idempotency key
    was: str
    now: str
    retraction: Retraction
    update: Scan | CarrierNote
    outcomes: tuple[ScanOutcome, ...] = ()

    @property
    def refused(self) -> str | None:
        for o in self.outcomes:
            if o.result is ScanResult.REJECTED:
                return f"{o.field}: {o.reason}"
        return None

    def line(self) -> str:
        m = self.update.reported.mapping if self.update.reported else None
        refused = f"; REFUSED {self.refused}" if self.refused else ""
        return (f"{self.tracking_number} v{self.version} {self.key}: {self.was} -> "
                f"{self.now} ({m}){refused}")


def _said(mapped: Mapped | None) -> str:
    if mapped is None:
        return "a note"
    return mapped.event.value + (f":{mapped.reason.value}" if mapped.reason else "")


def corrected_key(key: str, provenance: str) -> str:
    """The key of a new translation of the event ``key``: new for every
    correction, so a mapping changed back and forth is corrected each time."""
    new = f"{key}@{provenance.rpartition('@')[2] or provenance}"
    if len(new) <= MAX_KEY:
        return new
    return f"{key.partition(':')[0]}:remap:{hashlib.sha256(new.encode()).hexdigest()[:40]}"


def corrections(events: Iterable[Any], mappings: Mappings, *, now: datetime,
                source: str | None = None, since: datetime | None = None) -> list[Correction]:
    """What re-translating this shipment's carrier events (its history, in
    recorded order) under ``mappings`` would correct: those of ``source``
    (every one when None) recorded at or after ``since``."""
    live: dict[str, Any] = {}
    own = None
    for e in events:
        if isinstance(e, Shipment.Opened):
            own = e.tracking_number
        elif isinstance(e, Shipment.ScanRetracted):  # RetractedEventRecorded too
            live.pop(e.retracted_id, None)
        elif isinstance(e, Shipment.ScanRecorded) and e.scan.reported is not None:
            live[e.scan.scan_id] = e
        elif isinstance(e, Shipment.CarrierEventNoted):
            live[e.note_id] = e
    out = []
    for key, e in live.items():
        scan: Scan | None = getattr(e, "scan", None)
        reported: Reported = scan.reported if scan is not None else e.reported  # type: ignore[assignment]
        if (source is not None and reported.format != source) or (
                since is not None and e.timestamp < since):
            continue
        if scan is None and (reported.format == "dcsa"
                             and (reported.text or "").startswith(_PLANNED)):
            continue
        found = mappings.table(reported.format, reported.code)
        if found is None:
            continue
        table, code = found
        mapped = table.get(code)
        location = scan.location if scan is not None else e.location
        if mapped is not None and location is None:
            mapped = None  # a place with no UN/LOCODE stays a note
        was = Mapped(scan.event, scan.reason) if scan is not None else None
        if was == mapped:
            continue
        new_key = corrected_key(key, table.provenance)
        said = msgspec.structs.replace(reported, mapping=table.provenance)
        tn = scan.tracking_number if scan is not None else own
        update: Scan | CarrierNote
        if mapped is not None:
            update = Scan(scan_id=new_key, tracking_number=tn, event=mapped.event,
                          reason=mapped.reason, location=location, occurred_at=e.occurred_at,
                          voyage=scan.voyage if scan is not None else None, reported=said)
        else:
            update = CarrierNote(note_id=new_key, tracking_number=tn, occurred_at=e.occurred_at,
                                 location=location, reported=said)
        reason = (f"re-translated: {reported.code} was {_said(was)} under "
                  f"{reported.mapping or 'a mapping not recorded'}, is {_said(mapped)} under "
                  f"{table.provenance}")
        retraction = Retraction(retracted_id=key, tracking_number=tn, declared_at=now,
                                reason=reason, corrected_by=(new_key,))
        out.append(Correction(str(tn), e.originator_version, key, _said(was), _said(mapped),
                              retraction, update))
    return out


def shipments_with_carrier_events(service: ShipmentService) -> Iterator[UUID]:
    """Each shipment with a carrier scan or note in the log, once."""
    topics = [get_topic(Shipment.ScanRecorded), get_topic(Shipment.CarrierEventNoted)]
    seen: set[UUID] = set()
    start = 1
    while True:
        page = service.recorder.select_notifications(start, _PAGE, topics=topics)
        for n in page:
            oid = n.originator_id if isinstance(n.originator_id, UUID) else UUID(
                str(n.originator_id))
            if oid not in seen:
                seen.add(oid)
                yield oid
        if len(page) < _PAGE:
            return
        start = page[-1].id + 1


def remap(service: ShipmentService, mappings: Mappings, *, source: str | None = None,
          since: datetime | None = None, dry_run: bool = False) -> list[Correction]:
    """Every correction re-translating under ``mappings`` makes; recorded
    (one transaction per shipment) unless ``dry_run``."""
    done: list[Correction] = []
    for oid in shipments_with_carrier_events(service):
        found = corrections(service.events.get(oid), mappings, now=service.clock(),
                            source=source, since=since)
        if found and not dry_run:
            updates: Sequence[Any] = [u for c in found for u in (c.retraction, c.update)]
            outcomes = service.record_updates(updates, REMAP)
            found = [c._replace(outcomes=tuple(outcomes[2 * i:2 * i + 2]))
                     for i, c in enumerate(found)]
        done += found
    return done
