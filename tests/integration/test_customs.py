"""Customs entries through the application service, on SQLite and
PostgreSQL: an entry and its shipment are written together, across
processes, and a refused report records nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.composition import build_service
from adapters.settings import ConfigError, Settings
from tests.builders import AGENT, HK_STO, TN, booking, declaration, line
from tests.conftest import ServiceFactory
from tracking.codes import Status
from tracking.customs import CustomsEntry, CustomsStatus, InvalidTransition
from tracking.errors import CustomsConflict, ShipmentNotFound
from tracking.shipment import Shipment

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def test_a_declaration_needs_a_booked_shipment_and_is_idempotent(
    make_service: ServiceFactory,
) -> None:
    service = make_service(clock)
    with pytest.raises(ShipmentNotFound):
        service.customs.declare(declaration(), AGENT)
    assert service.position() == 0
    service.book(TN, booking(), HK_STO, AGENT)
    first = service.customs.declare(declaration(), AGENT)
    assert first.created and first.position == service.position()
    again = service.customs.declare(declaration(), AGENT)
    assert not again.created and again.entry_id == first.entry_id and again.position is None
    with pytest.raises(CustomsConflict):
        service.customs.declare(declaration(line(quantity=9)), AGENT)
    assert service.position() == first.position


def test_an_entry_and_its_shipment_move_together_across_processes(
    make_service: ServiceFactory,
) -> None:
    merchant, broker = make_service(clock), make_service(clock)
    merchant.book(TN, booking(), HK_STO, AGENT)
    entry_id = merchant.customs.declare(declaration(), AGENT).entry_id
    broker.customs.record_customs_event(entry_id, CustomsStatus.LODGED, occurred_at=NOW, source=AGENT)
    # The merchant's process still has the entry and the shipment as it declared them.
    merchant.customs.record_customs_event(entry_id, CustomsStatus.HELD, occurred_at=NOW, source=AGENT,
                                  reason="PAYMENT")
    assert broker.delivery(TN).status is Status.CUSTOMS_HOLD
    broker.customs.record_customs_event(entry_id, CustomsStatus.DUTIES_ASSESSED, occurred_at=NOW,
                                source=AGENT, amount=Decimal("6.25"))

    version = merchant.customs.customs_entry(entry_id).version
    with pytest.raises(InvalidTransition):
        merchant.customs.record_customs_event(entry_id, CustomsStatus.RELEASED, occurred_at=NOW,
                                      source=AGENT)
    assert merchant.customs.customs_entry(entry_id).version == version

    reopened = make_service(clock)
    entry = reopened.customs.customs_entry(entry_id)
    assert [s.status for s in entry.steps] == [
        CustomsStatus.LODGED, CustomsStatus.HELD, CustomsStatus.DUTIES_ASSESSED]
    assert entry.unpaid == Decimal("6.25")
    customs_events = [e for e in reopened.history(TN) if isinstance(e, Shipment.CustomsUpdated)]
    assert [e.mark.status for e in customs_events] == [
        CustomsStatus.DECLARED, CustomsStatus.LODGED, CustomsStatus.HELD,
        CustomsStatus.DUTIES_ASSESSED]
    stored = list(reopened.events.get(entry_id))
    assert [e.originator_version for e in stored] == [1, 2, 3, 4]
    assert isinstance(stored[0], CustomsEntry.Declared)
    assert reopened.delivery(TN).status is Status.IN_CUSTOMS


def unknown_subheadings(env: dict[str, str], *lines: str) -> list[str]:
    """The fields of the HS_SUBHEADING_UNKNOWN findings of a declaration of
    these lines, on a service built from this environment."""
    service = build_service(Settings.from_env(env), clock=clock)
    try:
        service.book(TN, booking(), HK_STO, AGENT)
        entry = service.customs.customs_entry(service.customs.declare(declaration(*map(line, lines)), AGENT).entry_id)
        return [f.field for f in entry.findings if f.code.value == "HS_SUBHEADING_UNKNOWN"]
    finally:
        service.close()


def test_the_shipped_nomenclature_is_checked_with_no_configuration(database_url: str) -> None:
    assert Settings().hs_nomenclature == Settings.from_env({}).hs_nomenclature == "shipped"
    # 610910 (cotton T-shirts) is in HS 2022; 610999 is no subheading of it
    assert unknown_subheadings({"TRACKING_DATABASE_URL": database_url},
                               "610910", "610999") == ["lines[1].hs_code"]


def test_none_turns_the_subheading_check_off(database_url: str) -> None:
    for off in ("none", "None"):
        assert Settings.from_env({"TRACKING_HS_NOMENCLATURE": off}).hs_nomenclature is None
    assert unknown_subheadings({"TRACKING_DATABASE_URL": database_url,
                                "TRACKING_HS_NOMENCLATURE": "none"}, "610999") == []


def test_a_configured_nomenclature_and_rules_table_are_used(tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    # another edition, in UN Comtrade's shape: it replaces the shipped one
    hs = tmp_path / "hs.csv"
    hs.write_text("section,hscode,description,parent,level\n"
                  'XI,61,"Apparel, knitted or crocheted",TOTAL,2\n'
                  "XI,610910,T-shirts of cotton,6109,6\n"
                  "XI,610998,T-shirts of a future fibre,6109,6\n")
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'version = "local"\n[[markets]]\ncode = "SE"\nname = "Sweden"\ncurrency = "EUR"\n'
        'countries = ["SE"]\n[[markets.regimes]]\neffective_from = "2020-01-01"\n'
        'duty_free_up_to = "0"\n'
    )
    settings = Settings.from_env({
        "TRACKING_DATABASE_URL": database_url, "TRACKING_HS_NOMENCLATURE": str(hs),
        "TRACKING_CUSTOMS_RULES": str(rules),
    })
    service = build_service(settings, clock=clock)
    try:
        service.book(TN, booking(), HK_STO, AGENT)
        declared = service.customs.declare(declaration(line("610999"), line("610998")), AGENT)
        entry = service.customs.customs_entry(declared.entry_id)
        assert [f.code.value for f in entry.findings] == ["HS_SUBHEADING_UNKNOWN", "NO_DE_MINIMIS"]
        assert entry.findings[0].field == "lines[0].hs_code"  # 610998 is in this edition
        assert entry.estimate is not None and entry.estimate.rules_version == "local"
    finally:
        service.close()


def test_a_missing_or_malformed_customs_file_stops_start_up_naming_the_variable(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(ConfigError, match="TRACKING_HS_NOMENCLATURE"):
        Settings.from_env({"TRACKING_HS_NOMENCLATURE": str(tmp_path / "missing.csv")})
    bad = tmp_path / "rules.toml"
    bad.write_text("version = [")
    settings = Settings.from_env({"TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
                                  "TRACKING_CUSTOMS_RULES": str(bad)})
    with pytest.raises(ConfigError, match="TRACKING_CUSTOMS_RULES"):
        build_service(settings)
