"""Code mappings as data: ``mappings/<source>.toml`` in this package maps a
source's codes to our scan events. What a source says is translated into one
of four kinds, which are also the bounded ``code_class`` label of the
``tracking_carrier_events_total`` metric."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from typing import NamedTuple

from tracking.codes import ExceptionReason, ScanEvent

NO_EQUIVALENT = "-"
MAX_KEY = 100


class CodeClass(StrEnum):
    MAPPED = "mapped"  # a scan
    ESTIMATE = "estimate"  # a planned or estimated time
    NO_EQUIVALENT = "no_equivalent"  # a code we know and have no event for: a note
    UNKNOWN = "unknown"  # a code not in the mapping: a note
    UNKNOWN_PLACE = "unknown_place"  # a mapped code at a place with no UN/LOCODE: a note
    RETRACTION = "retraction"
    REFUSED = "refused"  # an event that cannot be right, refused alone (its field named)


class Mapped(NamedTuple):
    event: ScanEvent
    reason: ExceptionReason | None = None


class CodeMap:
    """One table of a mapping file: code -> ``Mapped``, or None for a code
    known to have no equivalent. Checked when loaded, so a bad file stops
    start-up instead of failing on the first event."""

    def __init__(self, name: str, table: Mapping[str, str], digest: str = "") -> None:
        self.name = name
        # What a translation by this table cites (Reported.mapping): the
        # table and the digest of the file it came from, so a changed file
        # is a different mapping.
        self.provenance = f"{name}@{digest}" if digest else name
        self._codes: dict[str, Mapped | None] = {}
        for code, value in table.items():
            if value == NO_EQUIVALENT:
                self._codes[code] = None
                continue
            event, _, reason = value.partition(":")
            try:
                self._codes[code] = Mapped(ScanEvent(event),
                                           ExceptionReason(reason) if reason else None)
            except ValueError:
                raise ValueError(f"mapping {name}: {code} = {value!r} is not a scan event "
                                 "(EVENT, EXCEPTION:REASON or '-')") from None
            if (self._codes[code].event is ScanEvent.EXCEPTION) != bool(reason):  # type: ignore[union-attr]
                raise ValueError(f"mapping {name}: {code}: a reason goes with EXCEPTION only")

    def __contains__(self, code: str) -> bool:
        return code in self._codes

    def get(self, code: str) -> Mapped | None:
        """The mapped event; None when the code is unknown or has no equivalent
        (tell them apart with ``in``)."""
        return self._codes.get(code)

    def classify(self, code: str) -> CodeClass:
        if code not in self._codes:
            return CodeClass.UNKNOWN
        return CodeClass.MAPPED if self._codes[code] else CodeClass.NO_EQUIVALENT


def load(source: str) -> dict[str, CodeMap]:
    """The tables of ``mappings/<source>.toml``."""
    text = resources.files(__package__).joinpath("mappings", f"{source}.toml").read_text("utf-8")
    return parse(source, text)


def parse(source: str, text: str) -> dict[str, CodeMap]:
    """The tables of a mapping file's text, each citing the file's digest."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return {name: CodeMap(f"{source}.{name}", table, digest)
            for name, table in tomllib.loads(text).items()}


def event_key(source: str, event_id: str) -> str:
    """A scan id from a source's own event id: the same event from the same
    source is the same scan, however often it is delivered."""
    key = f"{source}:{event_id}"
    if len(key) <= MAX_KEY and key.isprintable():
        return key
    return f"{source}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


def content_key(source: str, *parts: object) -> str:
    """A scan id for a source whose events have no id of their own: the
    digest of what identifies the event."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:40]
    return f"{source}:{digest}"
