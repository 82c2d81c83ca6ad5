"""The delivery derivation: every rule of the contract's derived fields."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import HK_STO, HKT, TYO_HAM_STO, at, leg, plan, route, scan
from tracking.codes import RoutingStatus, ScanEvent, Status, TransportStatus
from tracking.delivery import Delivery, Expected
from tracking.derivation import derive
from tracking.route import RoutePlan
from tracking.scan import Scan


def delivery(*scans: Scan, plans: list[RoutePlan] | None = None) -> Delivery:
    ordered = sorted(scans, key=lambda s: s.occurred_at)
    return derive(plans or [plan(HK_STO)], ordered)


def expected(event: str, location: str, voyage: str | None = None) -> Expected:
    return Expected(ScanEvent(event), location, voyage)  # type: ignore[arg-type]


class TestBeforeAnyScan:
    def test_info_received_and_expected_at_the_first_origin(self) -> None:
        d = delivery()
        assert d.status is Status.INFO_RECEIVED
        assert d.transport_status is TransportStatus.NOT_RECEIVED
        assert d.routing_status is RoutingStatus.ROUTED
        assert d.last_location is None and d.current_voyage is None
        assert not d.misdirected
        assert d.next_expected == expected("RECEIVED", "HKHKG")
        assert d.eta == at(15)

    def test_not_routed_has_no_expectation_and_no_eta(self) -> None:
        d = delivery(scan("RECEIVED", "HKHKG", 2), plans=[plan(route())])
        assert d.routing_status is RoutingStatus.NOT_ROUTED
        assert d.next_expected is None and d.eta is None
        assert d.status is Status.IN_TRANSIT and not d.misdirected

    def test_a_route_that_does_not_reach_the_destination_is_misrouted(self) -> None:
        d = delivery(plans=[plan(HK_STO, destination="NOOSL")])
        assert d.routing_status is RoutingStatus.MISROUTED


class TestNextExpectedFollowsTheRoute:
    def test_after_receipt_loading_on_the_first_leg(self) -> None:
        d = delivery(scan("RECEIVED", "HKHKG", 2))
        assert d.status is Status.IN_TRANSIT
        assert d.transport_status is TransportStatus.AT_FACILITY
        assert d.last_location == "HKHKG"
        assert d.next_expected == expected("LOADED", "HKHKG", "V100")

    def test_receipt_in_the_first_mile_still_expects_the_first_leg(self) -> None:
        d = delivery(scan("RECEIVED", "CNSZX", 1))
        assert not d.misdirected
        assert d.next_expected == expected("LOADED", "HKHKG", "V100")

    def test_after_loading_unloading_at_the_legs_end(self) -> None:
        d = delivery(scan("RECEIVED", "HKHKG", 2), scan("LOADED", "HKHKG", 3, voyage="V100"))
        assert d.transport_status is TransportStatus.ONBOARD
        assert d.current_voyage == "V100"
        assert d.next_expected == expected("UNLOADED", "USLAX", "V100")

    def test_after_unloading_loading_on_the_next_leg(self) -> None:
        d = delivery(
            scan("RECEIVED", "HKHKG", 2),
            scan("LOADED", "HKHKG", 3, voyage="V100"),
            scan("UNLOADED", "USLAX", 9, voyage="V100"),
        )
        assert d.transport_status is TransportStatus.AT_FACILITY
        assert d.current_voyage is None
        assert d.next_expected == expected("LOADED", "USLAX", "R200")

    def test_after_the_last_leg_delivery_at_the_destination(self) -> None:
        d = delivery(
            scan("LOADED", "USNYC", 14, voyage="A300"),
            scan("UNLOADED", "SESTO", 15, voyage="A300"),
        )
        assert d.next_expected == expected("DELIVERED", "SESTO")

    def test_departed_and_arrived_keep_the_unload_expectation(self) -> None:
        departed = delivery(scan("DEPARTED", "HKHKG", 3, voyage="V100"))
        assert departed.transport_status is TransportStatus.ONBOARD
        assert departed.next_expected == expected("UNLOADED", "USLAX", "V100")
        arrived = delivery(
            scan("DEPARTED", "HKHKG", 3, voyage="V100"), scan("ARRIVED", "USLAX", 9, voyage="V100")
        )
        assert arrived.transport_status is TransportStatus.AT_FACILITY
        assert arrived.current_voyage is None
        assert arrived.next_expected == expected("UNLOADED", "USLAX", "V100")

    def test_last_mile_expects_delivery(self) -> None:
        for event, status, transport in [
            ("OUT_FOR_DELIVERY", Status.OUT_FOR_DELIVERY, TransportStatus.OUT_FOR_DELIVERY),
            ("DELIVERY_ATTEMPTED", Status.DELIVERY_ATTEMPTED, TransportStatus.UNKNOWN),
            ("READY_FOR_PICKUP", Status.READY_FOR_PICKUP, TransportStatus.AT_FACILITY),
        ]:
            d = delivery(scan("UNLOADED", "SESTO", 15, voyage="A300"), scan(event, "SESTO", 16))
            assert (d.status, d.transport_status) == (status, transport)
            assert d.next_expected == expected("DELIVERED", "SESTO")

    def test_nothing_is_expected_once_delivered(self) -> None:
        d = delivery(scan("OUT_FOR_DELIVERY", "SESTO", 16), scan("DELIVERED", "SESTO", 16, 15))
        assert d.status is Status.DELIVERED
        assert d.transport_status is TransportStatus.DELIVERED
        assert d.next_expected is None


class TestMisdirection:
    def test_unloaded_where_the_leg_does_not_end(self) -> None:
        d = delivery(
            scan("LOADED", "HKHKG", 3, voyage="V100"), scan("UNLOADED", "JPTYO", 6, voyage="V100")
        )
        assert d.misdirected
        assert d.next_expected is None and d.eta is None
        assert d.last_location == "JPTYO"
        assert d.status is Status.IN_TRANSIT

    def test_unloaded_without_a_voyage_is_judged_by_the_leg_it_is_on(self) -> None:
        # SESTO ends a later leg, but the parcel was on V100, which ends in USLAX.
        d = delivery(scan("LOADED", "HKHKG", 3, voyage="V100"), scan("UNLOADED", "SESTO", 6))
        assert d.misdirected

    def test_loaded_onto_a_voyage_not_on_the_route(self) -> None:
        d = delivery(scan("RECEIVED", "HKHKG", 2), scan("LOADED", "HKHKG", 3, voyage="V999"))
        assert d.misdirected
        assert d.current_voyage == "V999"

    def test_loaded_where_no_leg_starts(self) -> None:
        assert delivery(scan("LOADED", "CNSHA", 3, voyage="V100")).misdirected

    def test_a_later_expected_scan_clears_it(self) -> None:
        d = delivery(
            scan("LOADED", "HKHKG", 3, voyage="V100"),
            scan("UNLOADED", "JPTYO", 6, voyage="V100"),
            scan("LOADED", "JPTYO", 7, voyage="V100"),
            scan("UNLOADED", "USLAX", 9, voyage="V100"),
        )
        assert not d.misdirected
        assert d.next_expected == expected("LOADED", "USLAX", "R200")

    def test_exceptions_and_hand_overs_are_not_judged(self) -> None:
        d = delivery(
            scan("RECEIVED", "HKHKG", 2),
            scan("EXCEPTION", "HKHKG", 2, 5, reason="WEATHER"),
            scan("HANDED_OVER", "HKHKG", 2, 6),
        )
        assert not d.misdirected
        assert d.next_expected == expected("LOADED", "HKHKG", "V100")


class TestReroute:
    misdirected_in_tokyo = (
        scan("RECEIVED", "HKHKG", 2),
        scan("LOADED", "HKHKG", 3, voyage="V100"),
        scan("UNLOADED", "JPTYO", 6, voyage="V100"),
    )

    def test_a_route_from_where_it_is_clears_misdirection(self) -> None:
        plans = [plan(HK_STO), plan(TYO_HAM_STO, effective_at=at(7))]
        d = delivery(*self.misdirected_in_tokyo, plans=plans)
        assert not d.misdirected
        assert d.next_expected == expected("LOADED", "JPTYO", "V400")
        assert d.eta == at(23)

    def test_a_route_that_does_not_expect_it_where_it_is_leaves_it_misdirected(self) -> None:
        elsewhere = route(leg("T600", "DEHAM", "SESTO", 21, 23, "road"))
        d = delivery(*self.misdirected_in_tokyo, plans=[plan(HK_STO), plan(elsewhere, effective_at=at(7))])
        assert d.misdirected
        assert d.next_expected is None and d.eta is None

    def test_a_scan_is_judged_by_the_route_in_force_when_it_happened(self) -> None:
        # Re-routed on the 7th; a scan from the 6th arriving late is judged by
        # the old route, and one from the 8th by the new one.
        plans = [plan(HK_STO), plan(TYO_HAM_STO, effective_at=at(7))]
        d = delivery(
            *self.misdirected_in_tokyo, scan("LOADED", "JPTYO", 12, voyage="V400"), plans=plans
        )
        assert not d.misdirected
        assert d.next_expected == expected("UNLOADED", "DEHAM", "V400")

    def test_a_route_for_a_shipment_onboard_places_it_by_voyage(self) -> None:
        via_tokyo = route(
            leg("V100", "HKHKG", "JPTYO", 3, 6), leg("V400", "JPTYO", "DEHAM", 12, 20),
            leg("T500", "DEHAM", "SESTO", 21, 23, "road"),
        )
        d = delivery(
            scan("LOADED", "HKHKG", 3, voyage="V100"),
            plans=[plan(HK_STO), plan(via_tokyo, effective_at=at(4))],
        )
        assert not d.misdirected
        assert d.next_expected == expected("UNLOADED", "JPTYO", "V100")

    def test_a_destination_change_moves_the_final_expectation(self) -> None:
        to_oslo = route(*HK_STO.legs[:2], leg("A310", "USNYC", "NOOSL", 14, 15, "air"))
        d = delivery(
            scan("LOADED", "USNYC", 14, voyage="A310"),
            scan("UNLOADED", "NOOSL", 15, voyage="A310"),
            plans=[plan(HK_STO), plan(to_oslo, destination="NOOSL", effective_at=at(5))],
        )
        assert d.destination == "NOOSL"
        assert d.routing_status is RoutingStatus.ROUTED
        assert d.next_expected == expected("DELIVERED", "NOOSL")

    def test_a_shorter_route_for_a_shipment_on_a_later_leg_is_searched_from_its_start(
        self,
    ) -> None:
        # On the third leg of the old route when re-routed onto a one-leg
        # route: the old leg's index once ran off the new route's end.
        one_leg = route(leg("V400", "JPTYO", "DEHAM", 12, 20))
        d = delivery(
            scan("LOADED", "USNYC", 4),
            plans=[plan(HK_STO), plan(one_leg, destination="DEHAM", effective_at=at(5))],
        )
        assert d.misdirected and d.next_expected is None  # A300 is not on the new route
        on_it = delivery(
            scan("LOADED", "USNYC", 4, voyage="A300"),
            plans=[plan(HK_STO), plan(route(HK_STO.legs[2]), effective_at=at(5))],
        )
        assert not on_it.misdirected
        assert on_it.next_expected == expected("UNLOADED", "SESTO", "A300")
        # Likewise when re-routed in the last mile and scanned onto a leg after it.
        back_out = delivery(
            scan("LOADED", "USNYC", 4), scan("OUT_FOR_DELIVERY", "SESTO", 5),
            scan("LOADED", "JPTYO", 7, voyage="V400"),
            plans=[plan(HK_STO), plan(one_leg, destination="DEHAM", effective_at=at(6))],
        )
        assert not back_out.misdirected
        assert back_out.next_expected == expected("UNLOADED", "DEHAM", "V400")

    def test_before_receipt_a_new_route_expects_receipt_at_its_origin(self) -> None:
        d = delivery(plans=[plan(HK_STO), plan(TYO_HAM_STO, effective_at=at(1))])
        assert d.next_expected == expected("RECEIVED", "JPTYO")


class TestEta:
    def test_planned_arrival_of_the_last_leg_when_on_time(self) -> None:
        assert delivery(scan("LOADED", "HKHKG", 3, voyage="V100")).eta == at(15)

    def test_shifted_by_the_delay_observed(self) -> None:
        d = delivery(
            scan("LOADED", "HKHKG", 3, voyage="V100"),
            scan("UNLOADED", "USLAX", 11, voyage="V100"),  # two days late
        )
        assert d.eta == at(17)

    def test_the_latest_observation_counts(self) -> None:
        d = delivery(
            scan("UNLOADED", "USLAX", 9, 12, voyage="V100"),  # half a day late...
            scan("LOADED", "USLAX", 10, voyage="R200"),  # ...but the train left on time
        )
        assert d.eta == at(15)
        late_train = delivery(
            scan("UNLOADED", "USLAX", 9, voyage="V100"),
            scan("LOADED", "USLAX", 10, 12, voyage="R200"),
        )
        assert late_train.eta == at(15) + timedelta(hours=12)

    def test_running_early_does_not_bring_it_forward(self) -> None:
        assert delivery(scan("UNLOADED", "USLAX", 8, voyage="V100")).eta == at(15)

    def test_offsets_are_compared_as_instants(self) -> None:
        # 08:00 in Hong Kong is midnight UTC: exactly on time.
        d = delivery(scan("LOADED", "HKHKG", 3, 8, voyage="V100", tz=HKT))
        assert d.eta == at(15)

    def test_actual_arrival_once_the_last_leg_is_unloaded(self) -> None:
        d = delivery(scan("UNLOADED", "SESTO", 14, 6, voyage="A300"))
        assert d.eta == at(14, 6)


class TestOrderAndTerminalStates:
    def test_derived_from_occurred_at_not_arrival_order(self) -> None:
        loaded = scan("LOADED", "HKHKG", 3, voyage="V100")
        received = scan("RECEIVED", "HKHKG", 2)
        # Arrival order: loaded first, then the older receipt.
        d = derive([plan(HK_STO)], sorted([loaded, received], key=lambda s: s.occurred_at))
        assert d.last_scan == loaded
        assert d.next_expected == expected("UNLOADED", "USLAX", "V100")

    def test_delivered_is_not_undone_by_a_later_scan(self) -> None:
        d = delivery(scan("DELIVERED", "SESTO", 16), scan("ARRIVED", "USLAX", 17, voyage="V100"))
        assert d.status is Status.DELIVERED
        assert d.last_location == "SESTO"

    def test_returning_then_delivered_back_is_returned(self) -> None:
        d = delivery(
            scan("DELIVERY_ATTEMPTED", "SESTO", 16, reason="REFUSED"),
            scan("RETURNED_TO_SENDER", "SESTO", 17),
            scan("LOADED", "SESTO", 18, voyage="X1"),
        )
        assert d.status is Status.RETURNING
        assert not d.misdirected and d.next_expected is None and d.eta is None
        back = delivery(
            scan("RETURNED_TO_SENDER", "SESTO", 17), scan("DELIVERED", "HKHKG", 25)
        )
        assert back.status is Status.RETURNED
        assert back.transport_status is TransportStatus.DELIVERED

    def test_an_exception_shows_until_the_parcel_moves_on(self) -> None:
        stuck = delivery(scan("RECEIVED", "HKHKG", 2), scan("EXCEPTION", "HKHKG", 2, 6, reason="DAMAGED"))
        assert stuck.status is Status.EXCEPTION
        assert stuck.transport_status is TransportStatus.AT_FACILITY
        lost = delivery(scan("RECEIVED", "HKHKG", 2), scan("EXCEPTION", "HKHKG", 2, 6, reason="LOST"))
        assert lost.transport_status is TransportStatus.UNKNOWN
        moved = delivery(
            scan("RECEIVED", "HKHKG", 2),
            scan("EXCEPTION", "HKHKG", 2, 6, reason="WEATHER"),
            scan("LOADED", "HKHKG", 3, voyage="V100"),
        )
        assert moved.status is Status.IN_TRANSIT
