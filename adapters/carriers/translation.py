"""What every source's translation ends in: a scan when the code is mapped
and the place is known, otherwise a note of exactly what was said (never
dropped); and recording a batch as every ingress does (adapters/ingress.py),
counted by source and code class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import msgspec

from adapters.carriers.mapping import CodeClass, CodeMap
from adapters.ingress import Refused, record_valid
from adapters.metrics import Metrics
from tracking.application import ScanOutcome, ShipmentService
from tracking.carrier import CarrierNote, CarrierUpdate
from tracking.codes import SourceKind
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.scan import Reported, Scan, Source

METRIC = "tracking_carrier_events_total"
T = TypeVar("T")


class Translated(NamedTuple):
    update: Scan | CarrierUpdate
    code_class: CodeClass


def scan_or_note(
    codes: CodeMap,
    *,
    key: str,
    reported: Reported,
    tracking_number: TrackingNumber,
    occurred_at: datetime,
    location: Locode | None,
    voyage: str | None = None,
    code: str | None = None,
) -> Translated:
    """A scan of the mapped event, or a note when the code (``code``, else
    the reported code) has no mapping or the place no UN/LOCODE. Either
    cites the mapping table that decided it (``Reported.mapping``)."""
    code = reported.code if code is None else code
    if reported.mapping != codes.provenance:  # each source names it as it builds Reported
        reported = msgspec.structs.replace(reported, mapping=codes.provenance)
    mapped = codes.get(code)
    if mapped is not None and location is not None:
        scan = Scan(scan_id=key, tracking_number=tracking_number, event=mapped.event,
                    reason=mapped.reason, location=location, occurred_at=occurred_at,
                    voyage=voyage, reported=reported)
        return Translated(scan, CodeClass.MAPPED)
    note = CarrierNote(note_id=key, tracking_number=tracking_number, occurred_at=occurred_at,
                       location=location, reported=reported)
    return Translated(note, codes.classify(code) if mapped is None else CodeClass.UNKNOWN_PLACE)


def at_index(prefix: str, i: int, build: Callable[..., T], *args: Any) -> T:
    """``build(*args)``, with an InvalidInput's field placed under ``prefix[i]``."""
    try:
        return build(*args)
    except InvalidInput as e:
        raise InvalidInput(f"{prefix}[{i}].{e.field}" if prefix else f"[{i}].{e.field}",
                           e.reason) from None


def each_or_refused(
    prefix: str, items: Sequence[Any], build: Callable[[Any], list[Translated]],
    key: Callable[[Any], str],
) -> list[Translated | Refused]:
    """Every item translated; one that cannot be right becomes a Refused
    naming its field, and the others go on."""
    out: list[Translated | Refused] = []
    for i, item in enumerate(items):
        try:
            out += at_index(prefix, i, build, item)
        except InvalidInput as e:
            out.append(Refused(key(item), "", e))
    return out


def carrier(name: str) -> Source:
    return Source(SourceKind.CARRIER, name)


def register(metrics: Metrics) -> None:
    metrics.counter(METRIC, "Carrier events received, by source format and code class "
                    "(mapped, estimate, no_equivalent, unknown, retraction)")


def record(
    service: ShipmentService,
    batch: Sequence[Translated | Refused],
    *,
    source_format: str,
    source: Source,
    metrics: Metrics | None,
) -> list[ScanOutcome]:
    """Record a translated batch in one transaction; each item its outcome,
    in order (a Refused one its field and reason)."""
    outcomes = record_valid(
        lambda updates: service.record_updates(updates, source),
        [t.update if isinstance(t, Translated) else t for t in batch],
    )
    if metrics is not None:
        for t in batch:
            code_class = t.code_class if isinstance(t, Translated) else CodeClass.REFUSED
            metrics.inc(METRIC, source=source_format, code_class=code_class.value)
    return outcomes
