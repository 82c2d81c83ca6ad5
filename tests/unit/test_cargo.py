"""What a shipment carries for purchase orders (its cargo) and when that
makes it a PO_AT_RISK exception: a line needed before the latest the
shipment may arrive (its window's: from the ETA to deliver_by), until the
goods are counted in, the line or order is cancelled, or the shipment is
delivered; the same rule as the orders' view's at_risk."""

from __future__ import annotations

import msgspec

from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tracking.cargo import CarriedLine
from tracking.exceptions import ExceptionKind, open_exceptions, order_risks
from tracking.identifiers import Locode
from tracking.order_line import CountedLine, OrderLine, ShippedLine
from tracking.purchase_order import PurchaseOrder
from tracking.shipment import Shipment
from tracking.stock import Carriage, line_progress

NOW = at(20)


def booked(deliver_by: int | None = None) -> Shipment:
    """Booked on HK_STO (arriving on day 15), promised by ``deliver_by`` (None: not promised)."""
    s = Shipment.open(TN, AGENT)
    promised = at(deliver_by) if deliver_by is not None else None
    s.book(msgspec.structs.replace(booking(), deliver_by=promised), HK_STO, AGENT)
    return s


def order(need_by: int, cap_need_by: int = 30) -> PurchaseOrder:
    po = PurchaseOrder.place(
        account="default", po_number="PO-1", supplier="Tees", warehouse=Locode("SESTO"),
        lines=[OrderLine(sku="TSHIRT-M", quantity=100, need_by=at(need_by)),
               OrderLine(sku="CAP", quantity=5, need_by=at(cap_need_by))],
        source=AGENT, at=at(1))
    po.notify_shipment(TN, [ShippedLine(sku="TSHIRT-M", quantity=60),
                            ShippedLine(sku="CAP", quantity=5)], AGENT)
    return po


def test_a_line_needed_before_the_latest_arrival_is_at_risk_as_the_orders_view_says() -> None:
    s = booked(deliver_by=25)
    po = order(need_by=20)
    assert s.carry("PO-1", po.carried_by(str(TN)), AGENT)
    assert not s.carry("PO-1", po.carried_by(str(TN)), AGENT)  # the same cargo: nothing new
    (risk,) = order_risks(s)
    assert (risk.po_number, risk.sku, risk.quantity) == ("PO-1", "TSHIRT-M", 60)
    assert risk.risk.latest == at(25) and risk.risk.need_by == at(20)
    found = open_exceptions(s)
    assert found[ExceptionKind.PO_AT_RISK] == f"PO-1 TSHIRT-M: {risk.risk.describe()}"
    # the orders' view judges the line so too, from the same window's latest
    progress = line_progress(po.lines["TSHIRT-M"], "SESTO", po.notices, po.receipts,
                             {str(TN): Carriage(tracking_number=str(TN), eta=risk.risk.latest,
                                                latest=risk.risk.latest)})
    assert progress.at_risk and progress.risks == [risk.risk]


def test_counted_in_cancelled_or_delivered_it_is_no_longer_at_risk() -> None:
    s = booked(deliver_by=25)
    po = order(need_by=20)
    s.carry("PO-1", po.carried_by(str(TN)), AGENT)
    po.cancel(["TSHIRT-M"], AGENT)
    assert po.carried_by(str(TN)) == (CarriedLine(sku="CAP", quantity=5, need_by=at(30),
                                                    warehouse="SESTO"),)
    s.carry("PO-1", po.carried_by(str(TN)), AGENT)
    assert order_risks(s) == [] and ExceptionKind.PO_AT_RISK not in open_exceptions(s)

    po = order(need_by=20, cap_need_by=21)
    s.carry("PO-1", po.carried_by(str(TN)), AGENT)
    assert [r.sku for r in order_risks(s)] == ["TSHIRT-M", "CAP"]
    po.receive(TN, [CountedLine(sku="TSHIRT-M", quantity=60)], at(16), AGENT, now=NOW)
    s.carry("PO-1", po.carried_by(str(TN)), AGENT)
    assert s.cargo == {} and order_risks(s) == []

    s.carry("PO-1", order(need_by=20).carried_by(str(TN)), AGENT)
    s.record_scan(scan("DELIVERED", "SESTO", 16), AGENT, now=NOW)
    assert order_risks(s) == []  # delivered: what is done needs no attention


def test_without_a_promised_date_the_eta_alone_decides() -> None:
    s = booked()
    s.carry("PO-1", order(need_by=20).carried_by(str(TN)), AGENT)
    eta = s.delivery().eta
    assert eta is not None and eta < at(20)
    assert order_risks(s) == []
    s.carry("PO-1", order(need_by=int(eta.day) - 1).carried_by(str(TN)), AGENT)
    assert [r.risk.latest for r in order_risks(s)] == [eta]


def test_the_cargo_survives_the_state_a_read_model_keeps() -> None:
    s = booked(deliver_by=25)
    s.carry("PO-1", order(need_by=20).carried_by(str(TN)), AGENT)
    again = Shipment.from_state(s.state())
    assert again.cargo == s.cargo and order_risks(again) == order_risks(s)
