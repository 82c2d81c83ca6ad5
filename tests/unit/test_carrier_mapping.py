"""Code mappings are data checked when loaded; signatures are checked on the
raw bytes; event ids become scan ids that fit and never collide by source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.carriers.mapping import CodeClass, CodeMap, event_key, load
from adapters.carriers.signature import (
    SignatureRefused,
    check_fresh,
    expected,
    verify_base64,
    verify_hex,
)
from tracking.codes import ExceptionReason, ScanEvent


def test_every_shipped_mapping_loads_and_classifies() -> None:
    dcsa = load("dcsa")["codes"]
    assert dcsa.get("DISC").event is ScanEvent.UNLOADED  # type: ignore[union-attr]
    assert dcsa.classify("STUF") is CodeClass.NO_EQUIVALENT
    assert dcsa.classify("XRAY") is CodeClass.UNKNOWN
    damaged = load("epcis")["dispositions"].get("damaged")
    assert damaged is not None and damaged.reason is ExceptionReason.DAMAGED
    assert set(load("aggregator")) == {"subtags", "tags"}


@pytest.mark.parametrize("value", ["TELEPORTED", "EXCEPTION", "DELIVERED:LOST",
                                   "EXCEPTION:ALIENS"])
def test_a_mapping_that_cannot_be_right_stops_loading(value: str) -> None:
    with pytest.raises(ValueError, match="mapping test"):
        CodeMap("test", {"X": value})


def test_event_keys_fit_a_scan_id_and_keep_the_source_apart() -> None:
    assert event_key("dcsa", "e-1") == "dcsa:e-1"
    long = event_key("epcis", "ni:///sha-256;" + "ab" * 64)
    assert long.startswith("epcis:sha256:") and len(long) <= 100
    assert event_key("epcis", "e-1") != event_key("dcsa", "e-1")


BODY = b'[{"eventID": "e-1"}]\n'


def test_signatures_are_checked_on_the_raw_body() -> None:
    verify_hex("s", BODY, "sha256=" + expected("s", BODY).hex(), prefix="sha256=")
    with pytest.raises(SignatureRefused, match="does not match"):
        verify_hex("s", BODY + b" ", "sha256=" + expected("s", BODY).hex(), prefix="sha256=")
    with pytest.raises(SignatureRefused, match="must start"):
        verify_hex("s", BODY, expected("s", BODY).hex(), prefix="sha256=")
    with pytest.raises(SignatureRefused, match="no secret"):
        verify_base64(None, BODY, "AAAA")
    with pytest.raises(SignatureRefused, match="not base64"):
        verify_base64("s", BODY, "***")


def test_a_signed_time_too_far_from_now_either_way_is_refused() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    check_fresh(now - timedelta(seconds=299), now, timedelta(seconds=300))
    for off in (timedelta(seconds=301), -timedelta(seconds=301)):
        with pytest.raises(SignatureRefused, match="replay"):
            check_fresh(now - off, now, timedelta(seconds=300))
