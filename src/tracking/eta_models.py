"""The ETA lane models' application service: publish a fitted model
(``tracking.eta.model``) as an event, in its one stream, so the views derive
each ETA with the model in force when its event was recorded."""

from __future__ import annotations

import threading

from tracking.eta.fit import Figure, Parameters
from tracking.eta.model import ETA_MODEL_ID, EtaModel, ModelBook
from tracking.outcomes import WriteResult
from tracking.scan import Source
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position


class EtaModels:
    def __init__(self, store: AggregateStore) -> None:
        self.store = store
        # The book as last read, and the stream's version it was read at:
        # a write's answer reads only what was published since.
        self._book, self._read_to = ModelBook(), 0
        self._lock = threading.Lock()

    def publish(
        self, figures: tuple[Figure, ...], *, deliveries: int, parameters: Parameters,
        source: Source, carrier_lanes: tuple[str, ...] = (),
    ) -> tuple[int, WriteResult]:
        """Record a new ETA lane model; its version. The views use it for what
        is recorded from then on."""

        def command(unit: UnitOfWork) -> int:
            model = unit.get(ETA_MODEL_ID, EtaModel) or EtaModel.open()
            version = model.publish(figures, deliveries=deliveries, parameters=parameters,
                                    source=source, carrier_lanes=carrier_lanes)
            unit.changed(model)
            return version

        recordings, version = self.store.write([ETA_MODEL_ID], command)
        return version, WriteResult(True, last_position(recordings))

    def book(self) -> ModelBook:
        """Every model published so far, from its stream: which was in force
        when (for a view built straight from a shipment: a write's answer,
        ``as_of``)."""
        with self._lock:
            for e in self.store.app.events.get(ETA_MODEL_ID, gt=self._read_to or None):
                if isinstance(e, EtaModel.Published):
                    self._book.add(e.model())
                self._read_to = max(self._read_to, e.originator_version)
            return ModelBook(list(self._book.models))
