"""Helpers for projection tests: read every row of the read models' views."""

from __future__ import annotations

from typing import Any

from projections.customs import READ_MODEL as CUSTOMS
from projections.links import READ_MODEL as LINKS
from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS
from tracking.identifiers import shipment_id


def snapshot(views: Views, tracking_numbers: list[str]) -> dict[str, Any]:
    """Everything the views hold for these shipments, comparable with ==."""
    shipments, customs, links = views[SHIPMENTS], views[CUSTOMS], views[LINKS]
    documents = {
        tn: (shipments.public_view(shipment_id(tn)), shipments.full_view(shipment_id(tn)))
        for tn in tracking_numbers
    }
    exceptions = shipments.exceptions(state=None, kind=None, limit=10_000, offset=0)
    entries = customs.entries(
        status=None, country=None, tracking_number=None, limit=10_000, offset=0
    )
    return {"views": documents, "exceptions": exceptions, "customs": entries,
            "customs_totals": customs.totals(),
            "links": {tn: links.shipment_of(tn) for tn in tracking_numbers}}
