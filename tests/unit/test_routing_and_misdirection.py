"""``routing_status`` and ``misdirected`` are independent, as in the DDD
sample's Delivery: one judges the route against the destination, the other
the scans against the route. Every combination can be right; these pin the
two that look contradictory, with their reasons."""

from __future__ import annotations

from tests.builders import HK_STO, TYO_HAM_STO, at, plan, scan
from tracking.codes import RoutingStatus, ScanEvent
from tracking.delivery import Expected
from tracking.derivation import derive

STRAYED = [scan("LOADED", "HKHKG", 3, voyage="V100"), scan("UNLOADED", "JPTYO", 6, voyage="V100")]


def test_routed_and_misdirected_a_good_route_the_parcel_has_strayed_from() -> None:
    d = derive([plan(HK_STO)], STRAYED)
    # The route still ends at the destination: ROUTED is right ...
    assert HK_STO.legs[-1].to == d.destination == "SESTO"
    assert d.routing_status is RoutingStatus.ROUTED
    # ... and the parcel was unloaded at a port the route never calls at: so is misdirected.
    assert "JPTYO" not in {x for leg in HK_STO.legs for x in (leg.from_, leg.to)}
    assert d.misdirected
    assert d.next_expected is None and d.eta is None  # nothing to expect on that route
    # A new route from where it is clears the misdirection, and is still ROUTED.
    again = derive([plan(HK_STO), plan(TYO_HAM_STO, effective_at=at(7))], STRAYED)
    assert again.routing_status is RoutingStatus.ROUTED and not again.misdirected


def test_misrouted_and_not_misdirected_on_track_on_a_route_that_no_longer_goes_there() -> None:
    on_track = [scan("LOADED", "HKHKG", 3, voyage="V100")]
    # The destination became Oslo; the route still ends in Stockholm.
    d = derive([plan(HK_STO), plan(HK_STO, destination="NOOSL", effective_at=at(4))], on_track)
    assert d.routing_status is RoutingStatus.MISROUTED
    # The parcel is exactly where the route expects it: not misdirected.
    assert not d.misdirected
    assert d.next_expected == Expected(ScanEvent.UNLOADED, "USLAX", "V100")  # type: ignore[arg-type]
