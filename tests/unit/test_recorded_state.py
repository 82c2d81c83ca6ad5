"""Recorded state loads as it was recorded: a RecordedDecoder builds the
value types without validating them again, and only for its own decode."""

from __future__ import annotations

import msgspec
import pytest

from tracking.booking import Booking
from tracking.errors import InvalidInput
from tracking.identifiers import Locode
from tracking.validation import RecordedDecoder, validating

# Valid under no rule of today (origin and destination the same), as if
# recorded under older rules.
RECORDED = b'{"carrier": "postnord", "origin": "SESTO", "destination": "SESTO"}'


def test_a_value_no_longer_valid_loads_from_recorded_state_as_recorded() -> None:
    booking = RecordedDecoder[Booking](Booking).decode(RECORDED)
    assert booking.origin == booking.destination == "SESTO"


def test_the_same_value_sent_in_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="same as the origin"):
        msgspec.json.decode(RECORDED, type=Booking, dec_hook=lambda kind, value: kind(value))
    with pytest.raises(InvalidInput, match="same as the origin"):
        Booking(carrier="postnord", origin=Locode("SESTO"), destination=Locode("SESTO"))


def test_validation_is_back_on_after_a_recorded_decode_even_a_failed_one() -> None:
    decoder = RecordedDecoder[Booking](Booking)
    decoder.decode(RECORDED)
    assert validating()
    with pytest.raises(msgspec.ValidationError):
        decoder.decode(b'{"carrier": "postnord"}')
    assert validating()
    assert decoder.convert(msgspec.json.decode(RECORDED)).origin == "SESTO"
    assert validating()
