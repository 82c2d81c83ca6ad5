"""The read models this service keeps, one line each: every process's
runner keeps them all up to date, each at its own position, and `tracking
rebuild NAME` rebuilds one of them alone."""

from __future__ import annotations

from typing import Any

from projections import (
    customs, etahistory, links, outbox, purchase_orders, shipments, warehouses)
from projections.readmodel import ReadModel

READ_MODELS: tuple[ReadModel[Any], ...] = (
    shipments.READ_MODEL,
    customs.READ_MODEL,
    links.READ_MODEL,
    purchase_orders.READ_MODEL,
    etahistory.READ_MODEL,
    outbox.READ_MODEL,
    warehouses.READ_MODEL,
)
