"""The ETA models a read model derives ETAs with: the ones published so
far (``EtaModel.Published``), kept in the read model's own view (a table of
its own, so the view stays rebuildable alone) and in its projection.

For each shipment event a projection asks ``EtaModels.shown`` for the ETA
with the model in force when that event was recorded. A rebuild meets the
model's stream before any shipment's (``runner``), so it derives every ETA
with the same model as the live view did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import msgspec

from projections.sql import Database, Writer
from tracking.delivery import Delivery
from tracking.eta.model import EtaModel, LaneModel, ModelBook, shown_eta
from tracking.eta.window import ShownEta
from tracking.mapper import enc_hook
from tracking.shipment import Shipment
from tracking.validation import RecordedDecoder

_encode = msgspec.json.Encoder(enc_hook=enc_hook).encode
_decode = RecordedDecoder[LaneModel](LaneModel).decode


class EtaModels:
    """A projection's part: the book of models, and those a batch added."""

    def __init__(self) -> None:
        self.book = ModelBook()
        self.added: list[LaneModel] = []

    def begin(self, stored_since: Callable[[int], list[LaneModel]], *, fresh: bool,
              events: Iterable[Any] = ()) -> None:
        """Start a batch: pick up the models the view has that this book has
        not (another runner's, or the view's after a restart); on a fresh
        view (a rebuild), exactly the view's. Then those published in the
        batch's ``events``, if given (the book answers by time, so a model
        published later in the batch does not apply to what was before)."""
        self.added = []
        if fresh:
            self.book = ModelBook(stored_since(0))
        else:
            for model in stored_since(self.book.latest_version):
                self.book.add(model)
        for event in events:
            if isinstance(event, EtaModel.Published):
                self.published(event)

    def published(self, event: EtaModel.Published) -> None:
        model = event.model()
        if self.book.add(model):
            self.added.append(model)

    def shown(self, shipment: Shipment, delivery: Delivery, recorded_at: datetime) -> ShownEta:
        return shown_eta(shipment, delivery, self.book.at(recorded_at))

    def latest(self, shipment: Shipment, delivery: Delivery | None) -> ShownEta | None:
        """The ETA after the shipment's last event, with the model in force
        when it was recorded; None until one was judged (booked)."""
        return None if delivery is None else self.shown(shipment, delivery, shipment.modified_on)


class MemoryModels:
    """The models of a memory view."""

    def __init__(self) -> None:
        self.models: dict[int, LaneModel] = {}

    def write(self, models: list[LaneModel]) -> None:
        for m in models:
            self.models.setdefault(m.version, m)

    def since(self, version: int) -> list[LaneModel]:
        return [m for v, m in sorted(self.models.items()) if v > version]


class SqlModels:
    """The models of a SQL view, in a table of its own (``table``)."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name

    def write(self, w: Writer, models: list[LaneModel]) -> None:
        write(w, self.name, models)

    def since(self, version: int) -> list[LaneModel]:
        return since(self.db, self.name, version)


def table(name: str) -> dict[str, str]:
    return {name: "version {int} PRIMARY KEY, model {bytes} NOT NULL"}


def write(w: Writer, name: str, models: list[LaneModel]) -> None:
    w.executemany(f"INSERT INTO {name} VALUES (?, ?) ON CONFLICT DO NOTHING",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                  [(m.version, _encode(m)) for m in models])


def since(db: Database, name: str, version: int) -> list[LaneModel]:
    rows = db.query(f"SELECT model FROM {name} WHERE version > ? ORDER BY version",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                    (version,))
    return [_decode(bytes(doc)) for (doc,) in rows]
