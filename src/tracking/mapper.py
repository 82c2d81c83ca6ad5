"""How domain events become stored bytes and back: msgspec JSON, decoded with
a typed decoder made once per event class.

The library's default JSON transcoder tags every datetime and UUID and walks
the document in Python; a typed msgspec decoder reads the same facts several
times faster, which is most of the cost of loading a shipment and of
replaying the log into a view. Upcasting through ``class_version`` and
``upcast_vX_vY`` works as in the library. Snapshots, whose state is
untyped, are not supported by this mapper (none are taken).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, NotRequired, TypedDict
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic

from tracking.identifiers import CheckedStr
from tracking.validation import RecordedDecoder

_IDENTITY = ("originator_id", "originator_version")


def enc_hook(obj: Any) -> Any:
    """msgspec encoding of the domain's value types (checked strings)."""
    if isinstance(obj, CheckedStr):
        return str.__str__(obj)
    raise NotImplementedError(f"cannot store objects of type {type(obj).__name__}")


class _EventCodec:
    """The typed decoder of one event class's stored state."""

    def __init__(self, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        fields = {
            f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in _IDENTITY
        }
        fields["class_version"] = NotRequired[int]  # type: ignore[assignment]
        # Classes still at version 1 take the one-pass path; later versions
        # read the document's version first and upcast what is older.
        self.state_type: Any = TypedDict(f"{cls.__qualname__}State", fields)  # type: ignore[operator]
        self.decoder: RecordedDecoder[dict[str, Any]] = RecordedDecoder(self.state_type)
        self.class_version: int = getattr(cls, "class_version", 1)
        self.cls = cls

    def decode(self, data: bytes) -> dict[str, Any]:
        if self.class_version == 1:
            state: dict[str, Any] = self.decoder.decode(data)
            return state
        raw: dict[str, Any] = msgspec.json.decode(data)
        from_version = raw.pop("class_version", 1)
        if from_version == self.class_version:
            state = self.decoder.decode(data)
            state.pop("class_version", None)
            return state
        # An older shape: upcast the plain document, then type it.
        while from_version < self.class_version:
            getattr(self.cls, f"upcast_v{from_version}_v{from_version + 1}")(raw)
            from_version += 1
        state = self.decoder.convert(raw)
        state.pop("class_version", None)
        return state


class StructMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder | None = None,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        # The transcoder is not used: msgspec encodes the event state itself.
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)  # type: ignore[arg-type]
        self._encoder = msgspec.json.Encoder(enc_hook=enc_hook)
        self._codecs: dict[str, _EventCodec] = {}

    def _codec(self, topic: str) -> _EventCodec:
        codec = self._codecs.get(topic)
        if codec is None:
            codec = self._codecs[topic] = _EventCodec(resolve_topic(topic))
        return codec

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = self._encoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        codec = self._codec(stored_event.topic)
        data = stored_event.state
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state = codec.decode(data)
        except Exception as e:
            msg = (
                f"cannot load stored event {stored_event.topic} of "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        )
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(codec.cls)
        object.__setattr__(event, "__dict__", state)
        return typing.cast(DomainEventProtocol[UUID], event)
