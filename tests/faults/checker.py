"""The invariants every fault scenario ends with, checked from the stores
themselves (a fresh service, as another process would open them):

1. every scan a publisher got a PUBACK or an HTTP 2xx for is recorded, and
   no scan_id is recorded twice for a shipment;
2. every stream's versions are contiguous from 1;
3. each view equals a full rebuild from the log;
4. no dead letter lacks a reason.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from adapters.composition import build_dead_letters, build_service, build_view_store
from adapters.settings import Settings
from projections.readmodel import Views
from projections.registry import READ_MODELS
from projections.runner import ReadModelRunner
from tests.projection_support import snapshot
from tests.waiting import eventually
from tracking.identifiers import shipment_id
from tracking.shipment import Shipment


class Report(dict[str, Any]):
    """What the checker counted, for the scenario to assert more on."""


def check_invariants(
    settings: Settings,
    *,
    acked: Iterable[tuple[str, str]],
    tracking_numbers: Iterable[str],
    views_timeout: float = 60,
) -> Report:
    """``acked``: (tracking number, scan_id) of every scan a publisher was
    told was taken. Raises AssertionError naming what is wrong."""
    service = build_service(settings)
    views = build_view_store(settings)
    dead_letters = build_dead_letters(settings)
    tns = sorted(set(tracking_numbers))
    try:
        report = Report()
        # 1. acknowledged means recorded, and recorded once.
        wanted: dict[str, set[str]] = defaultdict(set)
        for tn, scan_id in acked:
            wanted[tn].add(scan_id)
        recorded: dict[str, Counter[str]] = {}
        for tn in set(wanted) | set(tns):
            scan_ids = [
                e.scan.scan_id
                for e in service.events.get(shipment_id(tn))
                if isinstance(e, Shipment.ScanRecorded)
            ]
            recorded[tn] = Counter(scan_ids)
            twice = [s for s, n in recorded[tn].items() if n > 1]
            assert not twice, f"{tn}: recorded more than once: {twice[:5]}"
            missing = wanted[tn] - set(recorded[tn])
            assert not missing, f"{tn}: acknowledged but not recorded: {sorted(missing)[:5]}"
        report["acked"] = sum(len(v) for v in wanted.values())
        report["recorded"] = sum(sum(c.values()) for c in recorded.values())

        # 2. contiguous versions, every stream in the log.
        end = service.position()
        recorder: Any = service.recorder
        streams = 0
        ids = recorder.select_originator_ids(end)
        for start in range(0, len(ids), 1000):
            stored = recorder.select_events_many(ids[start : start + 1000])
            for originator, group in itertools.groupby(stored, key=lambda s: s.originator_id):
                versions = [s.originator_version for s in group]
                assert versions == list(range(1, len(versions) + 1)), (
                    f"stream {originator}: versions {versions[:10]}... are not contiguous"
                )
                streams += 1
        report["streams"] = streams

        # 3. the views (once caught up) equal a rebuild from the whole log.
        eventually(lambda: views.position() >= end, timeout=views_timeout,
                   what=f"the views reach position {end}")
        rebuilt = Views.in_memory(READ_MODELS)
        ReadModelRunner(service, rebuilt).rebuild()
        live, fresh = snapshot(views, tns), snapshot(rebuilt, tns)
        for key in live:
            assert live[key] == fresh[key], f"the {key} view differs from a rebuild"

        # 4. every dead letter says why.
        letters = dead_letters.list(pending_only=False, limit=1_000_000, offset=0)
        assert all(letter.reason and letter.reason.strip() for letter in letters), [
            letter.id for letter in letters if not (letter.reason or "").strip()
        ]
        report["dead_letters"] = len(letters)
        return report
    finally:
        dead_letters.close()
        views.close()
        service.close()
