"""A shipment's whole life, Hong Kong to Stockholm, through the application
service on each store: booked over three legs, received, loaded, wrongly
unloaded in Tokyo (misdirected), re-routed from Tokyo via Hamburg, loaded,
unloaded, held by Swedish customs and released, delivered. The derived view
is checked at every step."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.builders import AGENT, HK_STO, HKT, TN, TYO_HAM_STO, at, booking, declaration, scan
from tests.conftest import ServiceFactory
from tracking.application import ScanResult
from tracking.codes import RoutingStatus, ScanEvent, Status, TransportStatus
from tracking.customs import CustomsStatus
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.delivery import Delivery, Expected
from tracking.scan import Scan


def expect(event: str, location: str, voyage: str | None = None) -> Expected:
    return Expected(ScanEvent(event), location, voyage)  # type: ignore[arg-type]


def check(
    d: Delivery,
    status: Status,
    transport: TransportStatus,
    *,
    location: str | None,
    voyage: str | None = None,
    misdirected: bool = False,
    next_expected: Expected | None,
    eta: datetime | None,
) -> None:
    assert (d.status, d.transport_status) == (status, transport)
    assert d.routing_status is RoutingStatus.ROUTED
    assert d.last_location == location
    assert d.current_voyage == voyage
    assert d.misdirected is misdirected
    assert d.next_expected == next_expected
    assert d.eta == eta


def test_hong_kong_to_stockholm_with_a_misdirection_in_tokyo(
    make_service: ServiceFactory,
) -> None:
    now = [at(1)]
    service = make_service(clock=lambda: now[0])
    tracking = service.delivery

    def record(*scans: Scan) -> None:
        now[0] = max(s.occurred_at for s in scans) + timedelta(minutes=5)
        assert all(o.result is ScanResult.RECORDED for o in service.record_scans(scans))

    service.book(TN, booking(deliver_by=at(25)), HK_STO, AGENT)
    check(tracking(TN), Status.INFO_RECEIVED, TransportStatus.NOT_RECEIVED, location=None,
          next_expected=expect("RECEIVED", "HKHKG"), eta=at(15))

    record(scan("RECEIVED", "HKHKG", 2, 14, tz=HKT))
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.AT_FACILITY, location="HKHKG",
          next_expected=expect("LOADED", "HKHKG", "V100"), eta=at(15))

    # Loaded six hours late (08:00 HKT is midnight UTC, the plan).
    record(scan("LOADED", "HKHKG", 3, 14, voyage="V100", tz=HKT))
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.ONBOARD, location="HKHKG",
          voyage="V100", next_expected=expect("UNLOADED", "USLAX", "V100"),
          eta=at(15, 6))

    record(scan("UNLOADED", "JPTYO", 6, voyage="V100"))
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.AT_FACILITY, location="JPTYO",
          misdirected=True, next_expected=None, eta=None)

    now[0] = at(7, 12)
    service.shipments.reroute(TN, TYO_HAM_STO, AGENT)
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.AT_FACILITY, location="JPTYO",
          next_expected=expect("LOADED", "JPTYO", "V400"), eta=at(23))

    # Scans now arrive from a batch upload, out of order: the unload in
    # Hamburg comes in before the load in Tokyo.
    record(
        scan("UNLOADED", "DEHAM", 21, voyage="V400"),  # a day late
        scan("LOADED", "JPTYO", 12, voyage="V400"),
    )
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.AT_FACILITY, location="DEHAM",
          next_expected=expect("LOADED", "DEHAM", "T500"), eta=at(24))

    record(scan("LOADED", "DEHAM", 22, voyage="T500"))
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.ONBOARD, location="DEHAM",
          voyage="T500", next_expected=expect("UNLOADED", "SESTO", "T500"), eta=at(24))

    record(scan("UNLOADED", "SESTO", 23, 18, voyage="T500"))
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.AT_FACILITY, location="SESTO",
          next_expected=expect("DELIVERED", "SESTO"), eta=at(23, 18))

    # Import customs in Stockholm: lodged, held for a missing invoice, released.
    entry = service.customs.declare(declaration(), AGENT).entry_id
    for status, hour, reason in ((CustomsStatus.LODGED, 19, None),
                                 (CustomsStatus.HELD, 20, "DOCUMENTS")):
        service.customs.record_customs_event(entry, status, occurred_at=at(23, hour), source=AGENT,
                                     reason=reason)
    held = tracking(TN)
    check(held, Status.CUSTOMS_HOLD, TransportStatus.AT_FACILITY, location="SESTO",
          next_expected=expect("DELIVERED", "SESTO"), eta=at(23, 18))
    assert ExceptionKind.CUSTOMS_HOLD in open_exceptions(service.get(TN), held)
    service.customs.record_customs_event(entry, CustomsStatus.RELEASED, occurred_at=at(24, 6),
                                 source=AGENT)
    check(tracking(TN), Status.IN_TRANSIT, TransportStatus.AT_FACILITY, location="SESTO",
          next_expected=expect("DELIVERED", "SESTO"), eta=at(23, 18))

    record(scan("OUT_FOR_DELIVERY", "SESTO", 24, 8))
    check(tracking(TN), Status.OUT_FOR_DELIVERY, TransportStatus.OUT_FOR_DELIVERY,
          location="SESTO", next_expected=expect("DELIVERED", "SESTO"), eta=at(23, 18))

    record(scan("DELIVERED", "SESTO", 24, 11))
    delivered = tracking(TN)
    # Delivered: the ETA is when it was, no longer the arrival in port.
    check(delivered, Status.DELIVERED, TransportStatus.DELIVERED, location="SESTO",
          next_expected=None, eta=at(24, 11))
    assert delivered.delivered_at == at(24, 11)

    # A scanner that was offline uploads an old scan: it joins the history
    # but does not undo the delivery.
    late = scan("ARRIVED", "DEHAM", 20, 22, voyage="V400")
    assert not service.record_scan(late).duplicate
    assert tracking(TN) == delivered
    assert late in service.get(TN).scans
    kinds = [type(e).__name__ for e in service.history(TN)]
    assert kinds[:2] == ["Opened", "Booked"]
    assert kinds.count("ScanRecorded") == 10 and kinds.count("Rerouted") == 1
    assert kinds.count("CustomsUpdated") == 4
