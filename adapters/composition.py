"""The composition root: builds every process's parts from Settings. Tests
call it too, so what they run is what production runs."""

from __future__ import annotations

from tracking.application import Clock, ShipmentService

from adapters.settings import Settings


def build_service(settings: Settings, *, clock: Clock | None = None) -> ShipmentService:
    """The shipment service on the configured event store (tables are created
    on first start)."""
    return ShipmentService(env=settings.eventstore_env(), clock=clock)
