"""A customs hold is never refused for its wording: a known reason code in
any case is that code, any other words are an OTHER hold that keeps them,
and the shipment is held either way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.builders import AGENT, HK_STO, TN, at, booking, declaration
from tracking.codes import Status
from tracking.customs import CustomsEntry, CustomsStatus, HoldReason
from tracking.errors import InvalidInput
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.shipment import Shipment

NOW = at(9)


def lodged() -> CustomsEntry:
    e = CustomsEntry.declare(declaration(), (), None, AGENT, at=NOW)
    e.progress(CustomsStatus.LODGED, occurred_at=NOW, source=AGENT, now=NOW)
    return e


def hold(e: CustomsEntry, reason: str, detail: str | None = None, hour: int = 1) -> bool:
    return e.progress(CustomsStatus.HELD, occurred_at=NOW + timedelta(hours=hour), source=AGENT,
                      now=NOW, reason=reason, detail=detail)


@pytest.mark.parametrize(
    ("said", "code"),
    [("inspection", HoldReason.INSPECTION), ("Documents", HoldReason.DOCUMENTS),
     (" prohibited_goods ", HoldReason.PROHIBITED_GOODS), ("PAYMENT", HoldReason.PAYMENT),
     ("other", HoldReason.OTHER)],
)
def test_a_known_reason_code_is_matched_whatever_its_case(said: str, code: HoldReason) -> None:
    e = lodged()
    assert hold(e, said)
    assert e.status is CustomsStatus.HELD and e.hold_reason is code
    assert e.steps[-1].detail is None  # the code says it all


def test_a_customs_system_s_own_words_are_an_other_hold_kept_as_said() -> None:
    e = lodged()
    assert hold(e, "Documentary check required")
    step = e.steps[-1]
    assert (step.hold_reason, step.detail) == (HoldReason.OTHER, "Documentary check required")
    # With a detail beside them, both are kept, the reason first.
    assert hold(e, "Examen physique", detail="scellé brisé", hour=2)
    assert e.steps[-1].detail == "Examen physique: scellé brisé"
    # A line break is layout, not wording: the words stay, on one line.
    assert hold(e, "Documentary check\r\n  required", hour=3)
    assert e.steps[-1].detail == "Documentary check required"


def test_the_same_worded_hold_twice_is_recorded_once() -> None:
    e = lodged()
    assert hold(e, "Documentary check required")
    version = e.version
    assert not hold(e, "Documentary check required")
    assert e.version == version


@pytest.mark.parametrize("reason", ["", "   ", "\x00", "x" * 501])
def test_a_hold_with_no_words_or_unprintable_ones_is_still_refused(reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        hold(lodged(), reason)
    assert refused.value.field == "reason"


def test_the_shipment_is_held_with_the_customs_words_in_its_exception() -> None:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    e = lodged()
    hold(e, "Documentary check required")
    s.note_customs(e.mark(), AGENT)
    assert s.delivery().status is Status.CUSTOMS_HOLD
    assert open_exceptions(s)[ExceptionKind.CUSTOMS_HOLD] == (
        "held by SE customs (OTHER, Documentary check required)")
