"""A shipment's state as one stored value, its state row: what loading a
shipment nobody has cached reads instead of replaying its stream.

The row is written in the transaction that records the shipment's events
(``tracking.unitofwork``), so it is never behind them; should one be (a row
from before this code, or an event written by some other path), the events
after its version are applied on top of it as they are to any aggregate.

The value is the domain's own ``ShipmentState`` in msgspec JSON, the
encoding the events use (JSON keeps each time's UTC offset, which msgpack's
timestamps would not). Compressing is left to the store (PostgreSQL keeps
it lz4-compressed in the row: 6.9 KB of JSON for a shipment of 21 events,
2.4 KB stored, no TOAST), as zlib here cost as much CPU as it saved.
Decoding it and restoring the shipment cost 0.18 ms where replaying the
21 events cost 0.45 ms (one loaded core).

It is versioned: ``FORMAT`` is stored beside the bytes. A row of an older
format is upcast (``UPCASTS``: one function per step, on the plain
document) and then typed; a row of a format this code does not know (a newer
release wrote it, and this one was rolled back to) is not read: the stream
is replayed instead, so nothing depends on a state row but speed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tracking.mapper import enc_hook
from tracking.shipment import Shipment
from tracking.shipment_state import ShipmentState
from tracking.validation import RecordedDecoder

FORMAT = 1

# FORMAT n -> n+1, each changing a plain decoded document in place (as the
# events' ``upcast_vX_vY`` do). Add one when ``ShipmentState`` changes shape
# in a way its defaults do not cover, and raise FORMAT.
Upcast = Callable[[dict[str, Any]], None]
UPCASTS: dict[int, Upcast] = {}


class StateCodec:
    """Encodes shipments into state rows and back."""

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder(enc_hook=enc_hook)
        self._decoder: RecordedDecoder[ShipmentState] = RecordedDecoder(ShipmentState)

    def encode(self, aggregate: object) -> tuple[int, bytes] | None:
        """(format, bytes) of a shipment's state row; None for other aggregates."""
        if not isinstance(aggregate, Shipment):
            return None
        return FORMAT, self._encoder.encode(aggregate.state())

    def decode(self, format_: int, data: bytes) -> Shipment | None:
        """The shipment of a state row, or None when this code cannot read its
        format (the caller replays the stream instead)."""
        if format_ == FORMAT:
            return Shipment.from_state(self._decoder.decode(data))
        if format_ > FORMAT or any(f not in UPCASTS for f in range(format_, FORMAT)):
            return None
        document = msgspec.json.decode(data)
        for step in range(format_, FORMAT):
            UPCASTS[step](document)
        return Shipment.from_state(self._decoder.convert(document))
