"""Value types validate on construction and name the field that is wrong."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.builders import at, leg, route, scan
from tracking.booking import Booking, Recipient
from tracking.codes import RoutingStatus, ScanEvent, TransportMode
from tracking.errors import InvalidInput
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit, shipment_id
from tracking.route import Leg
from tracking.scan import Scan


class TestTrackingNumber:
    def test_is_upper_cased_and_trimmed_on_the_way_in(self) -> None:
        assert TrackingNumber(" lx123456785cn ") == "LX123456785CN"

    def test_accepts_carrier_numbers_that_are_not_s10(self) -> None:
        assert TrackingNumber("1Z999AA10123456784") == "1Z999AA10123456784"
        assert TrackingNumber("JJD000390007") == "JJD000390007"

    def test_s10_check_digit_is_verified(self) -> None:
        assert s10_check_digit("12345678") == 5
        with pytest.raises(InvalidInput, match="check digit should be 5, not 4") as e:
            TrackingNumber("LX123456784CN")
        assert e.value.field == "tracking_number"

    @pytest.mark.parametrize(
        ("serial", "digit"),
        [("47312482", 9), ("00000000", 5), ("00000008", 0), ("00000001", 4)],
    )
    def test_s10_check_digit_special_cases(self, serial: str, digit: int) -> None:
        # RR473124829US is the UPU's own example; a remainder of 0 gives 5, of 1 gives 0
        assert s10_check_digit(serial) == digit
        TrackingNumber(f"RR{serial}{digit}US")

    @pytest.mark.parametrize(
        "printed", ["LX 123 456 785 CN", "lx-123-456-785-cn", "LX\u00a0123\u2013456 785\tCN"])
    def test_spaces_and_dashes_between_groups_are_taken_out(self, printed: str) -> None:
        assert TrackingNumber(printed) == "LX123456785CN"

    def test_a_number_printed_in_groups_still_has_its_check_digit_verified(self) -> None:
        with pytest.raises(InvalidInput, match="LX123456784CN .* should be 5, not 4"):
            TrackingNumber("LX 123 456 784 CN")

    @pytest.mark.parametrize(
        "bad", ["", "ABC12", "A" * 41, "LX_123_456", "ÅÄÖ123", "LX1234/5678", "LX 12", "- - -"])
    def test_refuses_what_is_not_6_to_40_of_a_z_0_9(self, bad: str) -> None:
        with pytest.raises(InvalidInput) as e:
            TrackingNumber(bad)
        assert e.value.field == "tracking_number"

    def test_shipment_id_is_stable_per_number(self) -> None:
        assert shipment_id("LX123456785CN") == shipment_id("LX123456785CN")
        assert shipment_id("LX123456785CN") != shipment_id("RR473124828US")


class TestLocode:
    @pytest.mark.parametrize("code", ["HKHKG", "USNYC", "SESTO", "sesto", "DEHAM", "CNSZX", "GBLO2"])
    def test_accepts_iso_country_and_three_characters(self, code: str) -> None:
        assert Locode(code) == code.upper()
        assert Locode(code).country == code[:2].upper()

    def test_refuses_a_country_part_that_is_not_iso(self) -> None:
        with pytest.raises(InvalidInput, match="ZZ is not an ISO 3166-1 country code") as e:
            Locode("ZZZZZ", field="origin")
        assert e.value.field == "origin"

    @pytest.mark.parametrize("bad", ["HKHK", "HKHKGG", "HK-HK", "12345", "SES0T", "SE10T"])
    def test_refuses_malformed_codes(self, bad: str) -> None:
        with pytest.raises(InvalidInput, match="not a UN/LOCODE"):
            Locode(bad)


def test_country_code_is_iso_3166() -> None:
    assert CountryCode("se") == "SE"
    with pytest.raises(InvalidInput, match="not an ISO 3166-1"):
        CountryCode("XX", field="recipient.country")


class TestRoute:
    def test_leg_must_arrive_after_it_departs(self) -> None:
        with pytest.raises(InvalidInput) as e:
            leg("V1", "HKHKG", "USNYC", 9, 3)
        assert e.value.field == "arrives_at"

    def test_leg_times_need_an_offset(self) -> None:
        with pytest.raises(InvalidInput) as e:
            Leg(
                voyage="V1",
                mode=TransportMode.AIR,
                from_=Locode("HKHKG"),
                to=Locode("USNYC"),
                departs_at=datetime(2009, 3, 3),
                arrives_at=at(4),
            )
        assert e.value.field == "departs_at"

    def test_legs_must_connect(self) -> None:
        with pytest.raises(InvalidInput, match="not where the leg before it ends") as e:
            route(leg("V1", "HKHKG", "USNYC", 3, 9), leg("V2", "USLAX", "SESTO", 10, 12))
        assert e.value.field == "route[1].from"

    def test_a_leg_cannot_depart_before_the_one_before_arrives(self) -> None:
        with pytest.raises(InvalidInput) as e:
            route(leg("V1", "HKHKG", "USNYC", 3, 9), leg("V2", "USNYC", "SESTO", 8, 12))
        assert e.value.field == "route[1].departs_at"

    def test_routing_status(self) -> None:
        r = route(leg("V1", "HKHKG", "USNYC", 3, 9))
        assert route().routing_status("SESTO") is RoutingStatus.NOT_ROUTED
        assert r.routing_status("USNYC") is RoutingStatus.ROUTED
        assert r.routing_status("SESTO") is RoutingStatus.MISROUTED


def raw_scan(**overrides: object) -> Scan:
    """A Scan built field by field, so any one field can be made wrong."""
    fields: dict[str, object] = {
        "scan_id": "s1",
        "tracking_number": TrackingNumber("LX123456785CN"),
        "event": ScanEvent.RECEIVED,
        "location": Locode("HKHKG"),
        "occurred_at": at(3),
    }
    return Scan(**{**fields, **overrides})  # type: ignore[arg-type]


class TestScan:
    def test_exception_needs_a_reason(self) -> None:
        with pytest.raises(InvalidInput) as e:
            scan("EXCEPTION", "HKHKG", 3)
        assert e.value.field == "reason"
        assert scan("EXCEPTION", "HKHKG", 3, reason="WEATHER").reason == "WEATHER"

    def test_occurred_at_needs_an_offset(self) -> None:
        with pytest.raises(InvalidInput) as e:
            raw_scan(occurred_at=datetime(2009, 3, 3))
        assert e.value.field == "occurred_at"

    @pytest.mark.parametrize(
        ("lat", "lon", "field"), [(91.0, 0.0, "lat"), (0.0, 181.0, "lon"), (1.0, None, "lon")]
    )
    def test_coordinates_are_checked(self, lat: float, lon: float | None, field: str) -> None:
        with pytest.raises(InvalidInput) as e:
            raw_scan(lat=lat, lon=lon)
        assert e.value.field == field

    def test_only_a_hand_over_carries_a_new_tracking_number(self) -> None:
        with pytest.raises(InvalidInput) as e:
            raw_scan(event=ScanEvent.LOADED, new_tracking_number=TrackingNumber("JJD000390007"))
        assert e.value.field == "new_tracking_number"

    @pytest.mark.parametrize("voyage", ["", "V" * 41, "XX\x00999", "V1\n"])
    def test_voyage_must_be_printable_and_bounded(self, voyage: str) -> None:
        # A NUL byte reached a PostgreSQL text column through exception details.
        with pytest.raises(InvalidInput) as e:
            raw_scan(voyage=voyage)
        assert e.value.field == "voyage"
        with pytest.raises(InvalidInput):
            leg(voyage, "HKHKG", "USNYC", 3, 9)

    def test_booking_text_must_be_printable(self) -> None:
        with pytest.raises(InvalidInput) as e:
            Booking(carrier="post\x00nord", origin=Locode("HKHKG"), destination=Locode("SESTO"))
        assert e.value.field == "carrier"

    def test_scan_id_must_be_printable_and_bounded(self) -> None:
        for bad in ("", "x" * 101, "a\nb"):
            with pytest.raises(InvalidInput) as e:
                raw_scan(scan_id=bad)
            assert e.value.field == "scan_id"


class TestBooking:
    def test_recipient_lives_in_the_destination_country(self) -> None:
        with pytest.raises(InvalidInput) as e:
            Booking(
                carrier="postnord",
                origin=Locode("HKHKG"),
                destination=Locode("SESTO"),
                recipient=Recipient("A", "11122", CountryCode("NO")),
            )
        assert e.value.field == "recipient.country"

    def test_origin_and_destination_differ(self) -> None:
        with pytest.raises(InvalidInput) as e:
            Booking(carrier="x", origin=Locode("SESTO"), destination=Locode("SESTO"))
        assert e.value.field == "destination"
