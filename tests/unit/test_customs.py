"""Customs entries: the lifecycle's transitions (allowed and refused), the
compliance findings of good and bad declarations, rule selection by
effective date, and what a shipment derives from its entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.builders import AGENT, HK_STO, TN, at, booking, declaration, line, plan, scan
from tracking.codes import Status
from tracking.compliance import Charges, FindingCode, check
from tracking.customs import (
    ALLOWED_FROM,
    CustomsEntry,
    CustomsStatus,
    HoldReason,
    InvalidTransition,
)
from tracking.declaration import CurrencyCode, HsCode
from tracking.derivation import derive
from tracking.errors import InvalidInput
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.nomenclature import shipped
from tracking.shipment import Shipment
from tracking.tariff import default_rules, parse_rules

NOW = datetime(2026, 3, 1, tzinfo=UTC)
RULES = default_rules()
S = CustomsStatus


def entry(*steps: tuple[CustomsStatus, dict[str, object]]) -> CustomsEntry:
    e = CustomsEntry.declare(declaration(), (), None, AGENT, at=NOW)
    for i, (status, extra) in enumerate(steps):
        e.progress(status, occurred_at=NOW + timedelta(hours=i), source=AGENT, now=NOW, **extra)  # type: ignore[arg-type]
    return e


# The shortest way to reach each status, with what each step needs.
EXTRA: dict[CustomsStatus, dict[str, object]] = {
    S.HELD: {"reason": "INSPECTION"},
    S.DUTIES_ASSESSED: {"amount": Decimal("10.00")},
}
PATH: dict[CustomsStatus, list[CustomsStatus]] = {
    S.DECLARED: [],
    S.LODGED: [S.LODGED],
    S.ACCEPTED: [S.LODGED, S.ACCEPTED],
    S.HELD: [S.LODGED, S.HELD],
    S.DUTIES_ASSESSED: [S.LODGED, S.DUTIES_ASSESSED],
    S.DUTIES_PAID: [S.LODGED, S.DUTIES_ASSESSED, S.DUTIES_PAID],
    S.RELEASED: [S.LODGED, S.RELEASED],
    S.REJECTED: [S.LODGED, S.REJECTED],
    S.SEIZED: [S.LODGED, S.SEIZED],
    S.RETURNED: [S.LODGED, S.RETURNED],
}


def reach(status: CustomsStatus) -> CustomsEntry:
    return entry(*[(s, EXTRA.get(s, {})) for s in PATH[status]])


@pytest.mark.parametrize("to", [s for s in CustomsStatus if s is not S.DECLARED])
@pytest.mark.parametrize("start", list(CustomsStatus))
def test_each_transition_is_allowed_or_refused_as_the_table_says(
    start: CustomsStatus, to: CustomsStatus
) -> None:
    e = reach(start)
    assert e.status is start
    allowed = start in ALLOWED_FROM[to]
    # The duties guards: nothing to pay before an assessment, release waits for payment.
    if to is S.DUTIES_PAID and e.unpaid == 0:
        allowed = False
    if to is S.RELEASED and e.unpaid > 0:
        allowed = False
    later = NOW + timedelta(days=1)
    if allowed:
        assert e.progress(to, occurred_at=later, source=AGENT, now=NOW, **EXTRA.get(to, {}))  # type: ignore[arg-type]
        assert e.status is to
    else:
        version = e.version
        with pytest.raises(InvalidTransition):
            e.progress(to, occurred_at=later, source=AGENT, now=NOW, **EXTRA.get(to, {}))  # type: ignore[arg-type]
        assert e.version == version and e.status is start


def test_released_before_lodged_and_paid_twice_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidTransition, match="has not been lodged"):
        entry((S.RELEASED, {}))
    e = reach(S.DUTIES_PAID)
    with pytest.raises(InvalidTransition, match="already paid"):
        e.progress(S.DUTIES_PAID, occurred_at=NOW + timedelta(days=1), source=AGENT, now=NOW)
    e = reach(S.DUTIES_ASSESSED)
    with pytest.raises(InvalidTransition, match="10.00 of assessed duties are not paid"):
        e.progress(S.RELEASED, occurred_at=NOW + timedelta(days=1), source=AGENT, now=NOW)


def test_the_same_report_twice_is_recorded_once() -> None:
    e = reach(S.HELD)
    version = e.version
    assert not e.progress(S.HELD, occurred_at=NOW + timedelta(hours=1), source=AGENT, now=NOW,
                          reason="INSPECTION")
    assert e.version == version
    # A second hold, for another reason, is news.
    assert e.progress(S.HELD, occurred_at=NOW + timedelta(hours=2), source=AGENT, now=NOW,
                      reason="DOCUMENTS", detail="certificate of origin missing")
    assert e.hold_reason is HoldReason.DOCUMENTS


@pytest.mark.parametrize(
    ("status", "extra", "field"),
    [
        (S.HELD, {}, "reason"),
        (S.HELD, {"reason": " "}, "reason"),  # words of its own are kept (test_hold_reasons)
        (S.DUTIES_ASSESSED, {}, "amount"),
        (S.DUTIES_ASSESSED, {"amount": Decimal("-1")}, "amount"),
        (S.DUTIES_ASSESSED, {"amount": Decimal("5"), "charges": Charges(duty=Decimal("1"))}, "amount"),
        (S.ACCEPTED, {"amount": Decimal("5")}, "amount"),
        (S.ACCEPTED, {"reason": "\x00"}, "reason"),
    ],
)
def test_a_report_that_cannot_be_right_names_the_field(
    status: CustomsStatus, extra: dict[str, object], field: str
) -> None:
    e = reach(S.LODGED)
    with pytest.raises(InvalidInput) as raised:
        e.progress(status, occurred_at=NOW, source=AGENT, now=NOW, **extra)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_a_report_dated_days_ahead_is_a_broken_clock() -> None:
    e = reach(S.DECLARED)
    with pytest.raises(InvalidInput) as raised:
        e.progress(S.LODGED, occurred_at=NOW + timedelta(days=3), source=AGENT, now=NOW)
    assert raised.value.field == "occurred_at"


def test_charges_sum_to_the_amount_assessed_and_payment_must_match() -> None:
    e = reach(S.LODGED)
    e.progress(S.DUTIES_ASSESSED, occurred_at=NOW, source=AGENT, now=NOW,
               charges=Charges(duty=Decimal("3.00"), vat=Decimal("7.50"), fees=Decimal("1")))
    assert e.assessed == Decimal("11.50")
    with pytest.raises(InvalidInput, match="11.50 assessed and unpaid"):
        e.progress(S.DUTIES_PAID, occurred_at=NOW, source=AGENT, now=NOW, amount=Decimal("5"))
    e.progress(S.DUTIES_PAID, occurred_at=NOW, source=AGENT, now=NOW)
    assert e.paid == Decimal("11.50") and e.unpaid == 0


def test_an_amendment_is_a_new_event_and_cannot_change_the_entry_s_identity() -> None:
    e = reach(S.LODGED)
    first = e.declaration
    bigger = declaration(line(quantity=20))
    assert e.amend(bigger, (), None, AGENT)
    assert e.declaration == bigger and e.amendments == 1
    assert not e.amend(bigger, (), None, AGENT)
    events = e.collect_events()
    assert isinstance(events[0], CustomsEntry.Declared) and events[0].declaration == first
    with pytest.raises(InvalidInput) as raised:
        e.amend(declaration(country="DE"), (), None, AGENT)
    assert raised.value.field == "destination_country"
    released = reach(S.RELEASED)
    with pytest.raises(InvalidTransition):
        released.amend(bigger, (), None, AGENT)


# -- declarations and the compliance check ------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: HsCode("61091"), "hs_code"),
        (lambda: HsCode("6109100000000"), "hs_code"),
        (lambda: HsCode("770000"), "hs_code"),
        (lambda: HsCode("980000"), "hs_code"),
        (lambda: HsCode("00aa10"), "hs_code"),
        (lambda: CurrencyCode("EUX"), "currency"),
        (lambda: line(quantity=0), "quantity"),
        (lambda: line(unit_value="0"), "unit_value"),
        (lambda: line(unit_value="-3"), "unit_value"),
        (lambda: line(description=""), "description"),
        (lambda: declaration(ioss="IM12"), "importer_ioss"),
    ],
)
def test_what_cannot_be_right_is_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        build()  # type: ignore[operator]
    assert raised.value.field == field


def test_national_codes_of_8_to_10_digits_are_hs_codes() -> None:
    assert HsCode("6109.10.0010") == "6109100010"
    assert HsCode("61091000").subheading == "610910"


def codes(result: object) -> list[FindingCode]:
    return [f.code for f in result.findings]  # type: ignore[attr-defined]


def test_a_plain_declaration_has_no_findings_and_an_estimate() -> None:
    result = check(declaration(ioss="IM0123456789"), RULES, on=date(2026, 3, 1))
    assert codes(result) == []
    assert result.estimate is not None
    # EUR 25 with VAT collected at sale through IOSS: nothing more at import.
    assert result.estimate.charges.total == 0
    assert result.estimate.regime == "EU/2024-09-01"


def test_the_package_ships_the_hs_2022_nomenclature() -> None:
    hs = shipped()
    assert hs.describe("610910") == (
        "T-shirts, singlets and other vests; of cotton, knitted or crocheted")
    assert "880610" in hs  # unmanned aircraft: new in HS 2022
    assert "610999" not in hs and "6109" not in hs  # no such subheading; a heading is not one
    assert len(hs.subheadings) > 5000


def test_a_subheading_missing_from_the_nomenclature_is_a_finding() -> None:
    hs = shipped()
    result = check(declaration(line(), line("610999")), RULES, on=date(2026, 3, 1),
                   nomenclature=hs)
    unknown = [f for f in result.findings if f.code is FindingCode.HS_SUBHEADING_UNKNOWN]
    assert [f.field for f in unknown] == ["lines[1].hs_code"]


def test_a_value_over_the_de_minimis_makes_duty_due() -> None:
    result = check(declaration(line(unit_value="100")), RULES, on=date(2026, 3, 1))
    assert FindingCode.DUTY_THRESHOLD_EXCEEDED in codes(result)
    assert result.estimate is not None
    assert result.estimate.charges.duty == Decimal("24.00")  # 12 % on EUR 200 of clothing
    assert result.estimate.charges.vat == Decimal("56.00")  # 25 % on value and duty


def test_a_restricted_good_needs_a_licence() -> None:
    result = check(declaration(line("930320", description="hunting rifle")), RULES,
                   on=date(2026, 3, 1))
    licence = [f for f in result.findings if f.code is FindingCode.LICENCE_REQUIRED]
    assert [f.field for f in licence] == ["lines[0].hs_code"]
    assert "arms" in licence[0].message


def test_the_same_declaration_into_the_us_before_and_after_the_end_of_de_minimis() -> None:
    d = declaration(line(unit_value="50"), country="US", currency="USD", incoterm="DDP")
    before = check(d, RULES, on=date(2025, 8, 28))
    after = check(d, RULES, on=date(2025, 8, 29))
    assert before.estimate is not None and after.estimate is not None
    assert before.estimate.regime == "US/2016-03-10" and after.estimate.regime == "US/2025-08-29"
    assert codes(before) == [] and before.estimate.charges.total == 0
    assert codes(after) == [FindingCode.NO_DE_MINIMIS]
    assert after.estimate.charges.duty == Decimal("16.50")  # 16.5 % on USD 100
    assert after.estimate.payer == "seller"


def test_eu_vat_relief_for_small_consignments_ended_on_2021_07_01() -> None:
    d = declaration(line(unit_value="10"))  # EUR 20
    before = check(d, RULES, on=date(2021, 6, 30)).estimate
    after = check(d, RULES, on=date(2021, 7, 1)).estimate
    assert before is not None and after is not None
    assert before.charges.vat == 0 and after.charges.vat == Decimal("5.00")


def test_other_markets_and_currencies() -> None:
    uk = check(declaration(line(unit_value="50"), country="GB", currency="GBP"), RULES,
               on=date(2026, 3, 1))
    assert uk.estimate is not None and uk.estimate.charges.total == 0  # VAT charged at sale
    # GBP 200 is over GBP 135: duty and import VAT.
    over = check(declaration(line(unit_value="100"), country="GB", currency="GBP"), RULES,
                 on=date(2026, 3, 1))
    assert FindingCode.DUTY_THRESHOLD_EXCEEDED in codes(over)
    au = check(declaration(line(unit_value="300"), country="AU", currency="AUD"), RULES,
               on=date(2026, 3, 1))
    assert au.estimate is not None and au.estimate.charges.total == 0
    # USD 140 is about EUR 121 (reference rate): under the EU's EUR 150.
    usd = check(declaration(line(unit_value="70"), currency="USD"), RULES, on=date(2026, 3, 1))
    assert FindingCode.DUTY_THRESHOLD_EXCEEDED not in codes(usd)
    nowhere = check(declaration(country="BR", currency="BRL"), RULES, on=date(2026, 3, 1))
    assert codes(nowhere) == [FindingCode.NO_RULES_FOR_DESTINATION] and nowhere.estimate is None
    no_rate = check(declaration(currency="BRL"), RULES, on=date(2026, 3, 1))
    assert FindingCode.NO_EXCHANGE_RATE in codes(no_rate) and no_rate.estimate is None
    ddu = check(declaration(incoterm="DDU"), RULES, on=date(2026, 3, 1))
    assert FindingCode.INCOTERM_OBSOLETE in codes(ddu)


def test_ioss_covers_consignments_up_to_eur_150_only() -> None:
    result = check(declaration(line(unit_value="100"), ioss="IM0123456789"), RULES,
                   on=date(2026, 3, 1))
    assert FindingCode.TAX_AT_SALE_NOT_APPLICABLE in codes(result)


def test_rules_are_data_each_regime_stating_what_changed() -> None:
    rules = parse_rules("""
        version = "t"
        [[markets]]
        code = "XX"
        name = "Testland"
        currency = "EUR"
        countries = ["SE"]
          [[markets.regimes]]
          effective_from = "2020-01-01"
          duty_free_up_to = "10"
          [markets.regimes.tax_rates]
          SE = "10"
          [[markets.regimes]]
          effective_from = "2022-01-01"
          duty_free_up_to = "0"
    """)
    assert rules.regime("SE", date(2019, 12, 31)) is None
    old, new = rules.regime("SE", date(2021, 1, 1)), rules.regime("SE", date(2022, 1, 1))
    assert old is not None and new is not None
    assert old.duty_free_up_to == 10 and new.duty_free_up_to == 0
    assert new.tax_rate("SE") == 10  # carried over from the regime before
    with pytest.raises(InvalidInput, match="customs rules"):
        parse_rules("version = 'x'\n[[markets]]\ncode = 'XX'\n")


# -- the shipment follows its entries -------------------------------------------


def booked_shipment() -> Shipment:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    return s


def test_a_shipment_s_status_and_exceptions_follow_its_customs_entry() -> None:
    s = booked_shipment()
    s.record_scan(scan("UNLOADED", "USLAX", 9, voyage="V100"), AGENT, now=at(9))
    e = CustomsEntry.declare(declaration(country="US", currency="USD"), (), None, AGENT, at=at(9))

    def moved(status: CustomsStatus, hour: int, **extra: object) -> Status:
        if status is not S.DECLARED:
            e.progress(status, occurred_at=at(9, hour), source=AGENT, now=at(10), **extra)  # type: ignore[arg-type]
        s.note_customs(e.mark(), AGENT)
        return s.delivery().status

    assert moved(S.DECLARED, 1) is Status.IN_TRANSIT
    assert moved(S.LODGED, 2) is Status.IN_CUSTOMS
    assert moved(S.HELD, 3, reason="DOCUMENTS") is Status.CUSTOMS_HOLD
    assert ExceptionKind.CUSTOMS_HOLD in open_exceptions(s)
    assert "held by US customs (DOCUMENTS)" in open_exceptions(s)[ExceptionKind.CUSTOMS_HOLD]
    assert moved(S.RELEASED, 4) is Status.IN_TRANSIT
    assert ExceptionKind.CUSTOMS_HOLD not in open_exceptions(s)


def test_goods_returned_by_customs_go_back_to_the_sender() -> None:
    s = booked_shipment()
    e = CustomsEntry.declare(declaration(), (), None, AGENT, at=at(9))
    for status in (S.LODGED, S.RETURNED):
        e.progress(status, occurred_at=at(9), source=AGENT, now=at(9))
        s.note_customs(e.mark(), AGENT)
    d = s.delivery()
    assert d.status is Status.RETURNING and d.next_expected is None and d.eta is None
    s.record_scan(scan("DELIVERED", "HKHKG", 12), AGENT, now=at(12))
    assert s.delivery().status is Status.RETURNED


def test_seized_goods_are_an_exception() -> None:
    s = booked_shipment()
    e = CustomsEntry.declare(declaration(), (), None, AGENT, at=at(9))
    for status in (S.LODGED, S.SEIZED):
        e.progress(status, occurred_at=at(9), source=AGENT, now=at(9), reason="counterfeit")
        s.note_customs(e.mark(), AGENT)
    assert s.delivery().status is Status.EXCEPTION
    assert "counterfeit" in open_exceptions(s)[ExceptionKind.CUSTOMS_SEIZED]


def test_customs_reports_after_delivery_change_nothing() -> None:
    s = booked_shipment()
    s.record_scan(scan("DELIVERED", "SESTO", 16), AGENT, now=at(16))
    e = CustomsEntry.declare(declaration(), (), None, AGENT, at=at(17))
    e.progress(S.LODGED, occurred_at=at(17), source=AGENT, now=at(17))
    e.progress(S.HELD, occurred_at=at(17, 1), source=AGENT, now=at(17), reason="INSPECTION")
    s.note_customs(e.mark(), AGENT)
    assert s.delivery().status is Status.DELIVERED and open_exceptions(s) == {}


def test_a_report_dated_before_the_one_in_force_does_not_undo_it() -> None:
    """Customs said HELD at 10:00, then (recorded later) LODGED dated 08:00:
    the entry is what it recorded last, whatever the dates."""
    e = CustomsEntry.declare(declaration(), (), None, AGENT, at=at(9))
    marks = []
    for status, hour, extra in ((S.LODGED, 9, {}), (S.HELD, 10, {"reason": "INSPECTION"}),
                                (S.ACCEPTED, 8, {})):
        e.progress(status, occurred_at=at(9, hour), source=AGENT, now=at(10), **extra)  # type: ignore[arg-type]
        marks.append(e.mark())
    in_time_order = sorted(marks, key=lambda m: m.occurred_at)
    d = derive([plan(HK_STO)], [], in_time_order)
    assert [m.status for m in d.customs] == [S.ACCEPTED]
    assert d.status is Status.IN_CUSTOMS
