"""When a recorded event says what it records happened (``occurred_at``):
each event class says it; those that happened as they were recorded share
this property."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _when_recorded(event: Any) -> datetime:
    recorded: datetime = event.timestamp
    return recorded


WHEN_RECORDED = property(_when_recorded, doc="When it happened: when it was recorded.")
