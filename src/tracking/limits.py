"""Limits the commands and value types hold to, each said once."""

from __future__ import annotations

from datetime import datetime, timedelta

from tracking.errors import InvalidInput

# How far after it was received a report may say it happened: clocks drift,
# but a scan or a customs event dated days ahead is a broken clock, not a fact.
FUTURE_TOLERANCE = timedelta(hours=24)

# Free text kept as a source said it: a carrier's code and text, the reason
# of a retraction, what customs said of an entry.
MAX_FREE_TEXT = 500


def not_ahead(field: str, occurred_at: datetime, now: datetime, advice: str = "") -> None:
    """Refuse a time more than FUTURE_TOLERANCE after ``now``, when it was received."""
    if occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            field,
            f"{occurred_at.isoformat()} is more than "
            f"{FUTURE_TOLERANCE.total_seconds() / 3600:.0f} h after it was received "
            f"({now.isoformat()}){advice}",
        )


def check_length(field: str, text: str | None, limit: int = MAX_FREE_TEXT) -> None:
    if text is not None and len(text) > limit:
        raise InvalidInput(field, f"is longer than {limit} characters")
