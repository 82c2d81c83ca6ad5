"""Whether value types validate as they are built.

They always do, except when recorded state is decoded (stored events, a
projection's saved state): what was valid when it was recorded must load
even if the rules have since tightened, and re-checking every stored scan
was a fifth of the time it took to load a shipment. Such state is decoded
with a ``RecordedDecoder``, the one thing that turns validation off, and
only for the decode it does: there is no switch to forget.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import msgspec

from tracking.identifiers import CheckedStr

T = TypeVar("T")

_loading_recorded: ContextVar[bool] = ContextVar("loading_recorded", default=False)


def validating() -> bool:
    """False only while a ``RecordedDecoder`` decodes."""
    return not _loading_recorded.get()


def dec_hook(kind: type, obj: Any) -> Any:
    """msgspec decoding of the domain's value types, trusted (recorded state)."""
    if isinstance(kind, type) and issubclass(kind, CheckedStr) and isinstance(obj, str):
        return kind.trusted(obj)
    raise NotImplementedError(f"cannot load {kind!r}")


class RecordedDecoder(Generic[T]):
    """A typed msgspec decoder of recorded state, made once: the values in
    it are built as recorded, without validating them again."""

    def __init__(self, kind: Any) -> None:
        self.kind = kind
        self._decoder = msgspec.json.Decoder(kind, dec_hook=dec_hook)

    def decode(self, data: bytes) -> T:
        token = _loading_recorded.set(True)
        try:
            decoded: T = self._decoder.decode(data)
            return decoded
        finally:
            _loading_recorded.reset(token)

    def convert(self, obj: Any) -> T:
        """The same from a plain document (an upcast stored event)."""
        token = _loading_recorded.set(True)
        try:
            converted: T = msgspec.convert(obj, self.kind, dec_hook=dec_hook, strict=False)
            return converted
        finally:
            _loading_recorded.reset(token)
