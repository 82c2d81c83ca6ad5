"""Helpers for projection tests: read every row of a view store."""

from __future__ import annotations

from typing import Any

from projections.store import ViewStore
from tracking.identifiers import shipment_id


def snapshot(store: ViewStore, tracking_numbers: list[str]) -> dict[str, Any]:
    """Everything the views hold for these shipments, comparable with ==."""
    views = {
        tn: (store.public_view(shipment_id(tn)), store.full_view(shipment_id(tn)))
        for tn in tracking_numbers
    }
    exceptions = store.exceptions(state=None, kind=None, limit=10_000, offset=0)
    customs = store.customs_entries(
        status=None, country=None, tracking_number=None, limit=10_000, offset=0
    )
    return {"views": views, "exceptions": exceptions, "customs": customs,
            "customs_totals": store.customs_totals()}
