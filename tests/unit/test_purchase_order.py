"""Purchase orders: placing, amending and cancelling; what shipments carry
(over-shipping accepted and flagged); receipts short, over and damaged kept
as findings; and what a line stands at given its shipments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from projections import inbound as inbound_sums
from tests.builders import AGENT, at, scan
from tracking.cargo import CarriedLine
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.inbound import difference, inbound_of
from tracking.lead_time import lane_options, percentile, reorder_point
from tracking.order_line import CountedLine, FindingKind, OrderLine, ShippedLine
from tracking.purchase_order import PurchaseOrder, PurchaseOrderConflict, purchase_order_id
from tracking.stock import Carriage, Ended, line_progress

A = TrackingNumber("LX123456785CN")
B = TrackingNumber("ABC123456")
NOW = at(20)


def order(*lines: OrderLine) -> PurchaseOrder:
    return PurchaseOrder.place(
        account="acme", po_number="PO-1", supplier="Shenzhen Tees", warehouse=Locode("DEHAM"),
        lines=list(lines) or [OrderLine(sku="TSHIRT-M", quantity=100, need_by=at(18))],
        source=AGENT, at=at(1))


def shipped(quantity: int, sku: str = "TSHIRT-M") -> list[ShippedLine]:
    return [ShippedLine(sku=sku, quantity=quantity)]


def kinds(po: PurchaseOrder) -> list[tuple[FindingKind, int]]:
    return [(f.kind, f.quantity) for f in po.findings]


def test_an_orders_id_is_its_number_within_its_account() -> None:
    assert order().id == purchase_order_id("acme", "PO-1") != purchase_order_id("other", "PO-1")


@pytest.mark.parametrize(("line", "field"), [
    (OrderLine(sku="", quantity=1, need_by=at(18)), "lines[0].sku"),
    (OrderLine(sku="A", quantity=0, need_by=at(18)), "lines[0].quantity"),
    (OrderLine(sku="A", quantity=1, need_by=datetime(2009, 3, 18)), "lines[0].need_by"),
])
def test_a_line_that_cannot_be_right_is_refused_naming_its_field(line: OrderLine,
                                                                 field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        order(line)
    assert e.value.field == field


def test_the_same_sku_twice_on_an_order_is_refused() -> None:
    line = OrderLine(sku="A", quantity=1, need_by=at(18))
    with pytest.raises(InvalidInput, match="twice") as e:
        order(line, line)
    assert e.value.field == "lines[1].sku"


def test_a_shipment_may_carry_part_of_a_line_and_another_the_rest() -> None:
    po = order()
    assert po.notify_shipment(A, shipped(40), AGENT)
    assert po.notify_shipment(B, shipped(60), AGENT)
    assert po.shipped("TSHIRT-M") == 100 and po.findings == []


def test_the_same_notice_again_changes_nothing() -> None:
    po = order()
    po.notify_shipment(A, shipped(40), AGENT)
    version = po.version
    assert not po.notify_shipment(A, shipped(40), AGENT)
    assert po.version == version


def test_over_shipping_is_accepted_and_flagged_never_capped() -> None:
    po = order()
    po.notify_shipment(A, shipped(80), AGENT)
    po.notify_shipment(B, shipped(30), AGENT)
    assert po.shipped("TSHIRT-M") == 110
    assert kinds(po) == [(FindingKind.OVER_SHIPPED, 10)]


def test_a_notice_for_a_sku_not_on_the_order_names_the_line() -> None:
    with pytest.raises(InvalidInput) as e:
        order().notify_shipment(A, shipped(1, "HAT"), AGENT)
    assert e.value.field == "lines[0].sku"


def test_a_receipt_short_and_damaged_keeps_both_findings() -> None:
    po = order()
    po.notify_shipment(A, shipped(40), AGENT)
    assert po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=39, damaged=2)], at(15), AGENT,
                      now=NOW)
    assert kinds(po) == [(FindingKind.SHORT, 1), (FindingKind.DAMAGED, 2)]
    assert [type(e).__name__ for e in po.collect_events()][-3:] == [
        "GoodsReceived", "FindingRecorded", "FindingRecorded"]


def test_a_receipt_over_is_a_finding() -> None:
    po = order()
    po.notify_shipment(A, shipped(40), AGENT)
    po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=42)], at(15), AGENT, now=NOW)
    assert kinds(po) == [(FindingKind.OVER, 2)]


def test_a_receipt_of_a_shipment_never_notified_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        order().receive(A, [CountedLine(sku="TSHIRT-M", quantity=1)], at(15), AGENT, now=NOW)
    assert e.value.field == "tracking_number"


def test_a_second_different_count_is_a_conflict_and_the_first_stands() -> None:
    po = order()
    po.notify_shipment(A, shipped(40), AGENT)
    po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=39)], at(15), AGENT, now=NOW)
    assert not po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=39)], at(15), AGENT, now=NOW)
    with pytest.raises(PurchaseOrderConflict):
        po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=40)], at(15), AGENT, now=NOW)


def test_damaged_cannot_exceed_what_was_counted() -> None:
    po = order()
    po.notify_shipment(A, shipped(40), AGENT)
    with pytest.raises(InvalidInput) as e:
        po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=3, damaged=4)], at(15), AGENT,
                   now=NOW)
    assert e.value.field == "lines[0].damaged"


def test_cancelling_a_line_stops_it_shipping_and_a_cancelled_order_takes_nothing() -> None:
    po = order(OrderLine(sku="A", quantity=1, need_by=at(18)),
               OrderLine(sku="B", quantity=1, need_by=at(18)))
    assert po.cancel(["A"], AGENT) and not po.cancel(["A"], AGENT)
    with pytest.raises(InvalidInput, match="cancelled"):
        po.notify_shipment(A, shipped(1, "A"), AGENT)
    assert po.cancel(None, AGENT)
    with pytest.raises(PurchaseOrderConflict):
        po.notify_shipment(A, shipped(1, "B"), AGENT)


def test_amending_replaces_the_lines() -> None:
    po = order()
    new = [OrderLine(sku="TSHIRT-M", quantity=120, need_by=at(25))]
    assert po.amend(new, AGENT) and not po.amend(new, AGENT)
    assert po.lines["TSHIRT-M"].quantity == 120


def test_the_state_round_trips() -> None:
    po = order()
    po.notify_shipment(A, shipped(40), AGENT)
    assert PurchaseOrder.from_state(po.state()).state() == po.state()


# -- what a line stands at -------------------------------------------------------

LINE = OrderLine(sku="TSHIRT-M", quantity=100, need_by=at(18))


def progress(carriages: dict[str, Carriage], receipts: dict | None = None):  # type: ignore[no-untyped-def]
    notices = {str(A): tuple(shipped(40)), str(B): tuple(shipped(60))}
    return line_progress(LINE, "DEHAM", notices, receipts or {}, carriages)


def test_a_delivery_at_the_warehouse_with_no_receipt_counts_as_received_in_full() -> None:
    p = progress({str(A): Carriage(tracking_number=str(A), delivered_at=at(14),
                                   delivered_location="DEHAM")})
    assert (p.shipped, p.received, p.in_transit, p.missing) == (100, 40, 60, 0)


def test_a_receipt_counts_what_was_counted_and_the_rest_is_missing() -> None:
    receipts = {str(A): ((CountedLine(sku="TSHIRT-M", quantity=39, damaged=1),), at(15))}
    p = progress({str(A): Carriage(tracking_number=str(A), delivered_at=at(14),
                                   delivered_location="DEHAM")}, receipts)
    assert (p.received, p.damaged, p.missing) == (39, 1, 1)


def test_a_returned_or_lost_shipment_unships_its_quantities() -> None:
    p = progress({str(A): Carriage(tracking_number=str(A), ended=Ended.LOST),
                  str(B): Carriage(tracking_number=str(B), ended=Ended.RETURNED)})
    assert (p.shipped, p.in_transit) == (0, 0)


def test_a_line_is_at_risk_when_a_carrying_shipment_may_arrive_after_need_by() -> None:
    p = progress({str(A): Carriage(tracking_number=str(A), eta=at(16), latest=at(19))})
    assert p.at_risk and str(A) in (p.reason or "")
    p = progress({str(A): Carriage(tracking_number=str(A), eta=at(16), latest=at(17))})
    assert not p.at_risk


def test_inbound_counts_each_shipment_at_its_eta_and_at_its_latest() -> None:
    cargo = {"PO-1": (CarriedLine(sku="TSHIRT-M", quantity=40, need_by=at(30),
                                  warehouse="SESTO"),)}
    dated = inbound_of("acme", cargo, [], at(16, 12), at(19))
    none = inbound_of("acme", {"PO-2": (CarriedLine(sku="TSHIRT-M", quantity=5, need_by=at(30),
                                                    warehouse="SESTO"),)}, [], None, None)
    rows = [(k[3], k[2], e, latest) for k, (e, latest) in {**dated, **none}.items()]
    days, unscheduled = inbound_sums.days(rows, start=at(10).date(), end=at(30).date())
    assert [(d.date.day, d.at_eta, d.at_latest) for d in days] == [(16, 40, 0), (19, 0, 40)]
    assert unscheduled == 5
    # what was due before the first day counts on it
    days, _ = inbound_sums.days(rows, start=at(17).date(), end=at(30).date())
    assert [(d.date.day, d.at_eta, d.at_latest) for d in days] == [(17, 40, 0), (19, 0, 40)]


def test_a_shipment_delivered_returned_or_lost_is_inbound_no_more() -> None:
    cargo = {"PO-1": (CarriedLine(sku="A", quantity=4, need_by=at(30), warehouse="SESTO"),)}
    assert inbound_of("acme", cargo, [scan("RECEIVED", "HKHKG", 2)], at(16), None)
    for gone in (scan("DELIVERED", "USNYC", 9), scan("RETURNED_TO_SENDER", "HKHKG", 9),
                 scan("EXCEPTION", "USNYC", 9, reason="LOST")):
        assert inbound_of("acme", cargo, [scan("RECEIVED", "HKHKG", 2), gone], at(16), None) == {}
    # a moved ETA: what was on the old days is taken off them
    before = inbound_of("acme", cargo, [], at(16), at(18))
    after = inbound_of("acme", cargo, [], at(17), at(18))
    assert difference(before, after) == {("acme", "SESTO", "A", at(16).date().isoformat()): (-4, 0),
                                         ("acme", "SESTO", "A", at(17).date().isoformat()): (4, 0)}


# -- lead times ------------------------------------------------------------------

def test_the_reorder_point_follows_the_formula() -> None:
    # μD 10, σD 2, lead times 8 and 12 days (μL 10, σL √8), z(0.95) = 1.6449
    rop = reorder_point(daily_demand=10, demand_sd=2, service_level=0.95, lead_times=[8, 12])
    assert rop is not None
    expected_ss = 1.6448536 * (10 * 4 + 100 * 8) ** 0.5
    assert rop.safety_stock == pytest.approx(expected_ss, abs=0.01)
    assert rop.reorder_point == pytest.approx(100 + expected_ss, abs=0.01)


def test_a_service_level_out_of_range_names_its_field() -> None:
    with pytest.raises(InvalidInput) as e:
        reorder_point(daily_demand=1, demand_sd=0, service_level=1.5, lead_times=[1])
    assert e.value.field == "service_level"


def test_lane_options_say_which_arrive_by_need_by_at_90_percent() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    sea = [("CNSZX", "DEHAM", "sea", "maersk", d) for d in (30, 32, 34, 36, 40)]
    air = [("CNSZX", "DEHAM", "air", "dhl", d) for d in (3, 4, 5)]
    options = lane_options(sea + air, origin="CNSZX", destination="DEHAM", now=now,
                           need_by=now + timedelta(days=20))
    assert [(o.mode, o.n, o.arrives_by_need_by) for o in options] == [
        ("air", 3, True), ("sea", 5, False)]
    assert percentile([30, 32, 34, 36, 40], 0.9) == pytest.approx(38.4)


def test_an_amendment_cannot_leave_out_a_line_on_its_way() -> None:
    po = order(OrderLine(sku="A", quantity=1, need_by=at(18)),
               OrderLine(sku="B", quantity=1, need_by=at(18)))
    po.notify_shipment(A, shipped(1, "A"), AGENT)
    with pytest.raises(InvalidInput, match="cancel the line") as e:
        po.amend([OrderLine(sku="B", quantity=2, need_by=at(18))], AGENT)
    assert e.value.field == "lines"


def test_each_event_of_an_order_says_when_it_happened() -> None:
    po = order(OrderLine(sku="TSHIRT-M", quantity=100, need_by=at(18)),
               OrderLine(sku="TSHIRT-L", quantity=10, need_by=at(18)))
    po.amend([OrderLine(sku="TSHIRT-M", quantity=90, need_by=at(18)),
              OrderLine(sku="TSHIRT-L", quantity=10, need_by=at(18))], AGENT)
    po.cancel(["TSHIRT-L"], AGENT)
    po.notify_shipment(A, shipped(40), AGENT)
    po.receive(A, [CountedLine(sku="TSHIRT-M", quantity=39)], at(15), AGENT, now=NOW)
    po.cancel(None, AGENT)
    events = list(po.collect_events())
    declared = {v for v in vars(PurchaseOrder).values() if isinstance(v, type)
                and issubclass(v, PurchaseOrder.Event)
                and v not in (PurchaseOrder.Event, PurchaseOrder.Created)}
    assert declared == {type(e) for e in events}  # every kind of event is here
    when = {type(e).__name__: e.occurred_at for e in events}
    assert when["Placed"] == at(1)  # when the order was placed
    assert when["GoodsReceived"] == at(15)  # when the goods were counted in
    for e in events:
        if type(e).__name__ not in ("Placed", "GoodsReceived"):
            assert e.occurred_at == e.timestamp, type(e).__name__
