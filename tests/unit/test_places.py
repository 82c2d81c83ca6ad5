"""UN/LOCODEs as place names with their time zones, from the installed
airportsdata, pyunlocode (UNECE's code list), timezonefinder and tzdata
packages; codes the data does not know stay codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.web.places import Places


@pytest.fixture(scope="module")
def places() -> Places:
    return Places.load()


@pytest.mark.parametrize(("code", "label", "zone"), [
    ("HKHKG", "Hong Kong, HK", "Asia/Hong_Kong"),
    ("USLAX", "Los Angeles, US", "America/Los_Angeles"),
    ("DEHAM", "Hamburg, DE", "Europe/Berlin"),
    ("USNYC", "New York, US", "America/New_York"),  # IATA's multi-airport city code
    ("SESTO", "Stockholm, SE", "Europe/Stockholm"),
    ("JPTYO", "Tokyo, JP", "Asia/Tokyo"),
])
def test_a_known_code_is_its_place_and_country(places: Places, code: str, label: str,
                                              zone: str) -> None:
    place = places.get(code)
    assert (place.label, place.zone) == (label, zone)


@pytest.mark.parametrize(("code", "label", "zone"), [
    ("SEMMA", "Malmö, SE", "Europe/Stockholm"),  # a port with no airport of its code; diacritics kept
    ("USBAL", "Baltimore, US", "America/New_York"),  # a country of many zones: by its coordinates
    ("USPEF", "Port Everglades, US", "America/New_York"),
    ("CAVAN", "Vancouver, CA", "America/Vancouver"),  # no coordinates: the zone of its airport (YVR)
])
def test_a_code_only_the_un_locode_list_knows_is_its_place_in_its_zone(
        places: Places, code: str, label: str, zone: str) -> None:
    place = places.get(code)
    assert (place.label, place.zone) == (label, zone)


def test_a_listed_code_with_no_coordinates_in_a_country_of_many_zones_has_no_zone(
        places: Places) -> None:
    algeciras = places.get("ESALG")  # Spain has two zones; the list gives no coordinates here
    assert (algeciras.label, algeciras.zone) == ("Algeciras, ES", None)


def test_an_unknown_code_shows_as_the_code_in_its_country_s_only_zone(places: Places) -> None:
    se = places.get("SEZZ9")
    assert (se.label, se.zone) == ("SEZZ9", "Europe/Stockholm")
    us = places.get("USZZ9")  # the US has many zones: none is guessed
    assert (us.label, us.zone) == ("USZZ9", None)


def test_times_are_shown_where_it_happened_or_as_reported(places: Places) -> None:
    when = datetime(2009, 3, 3, 6, tzinfo=UTC)
    local = places.local(when, places.get("HKHKG"))
    assert local.utcoffset() == timedelta(hours=8) and local.hour == 14
    summer = places.local(datetime(2009, 7, 1, 12, tzinfo=UTC), places.get("USNYC"))
    assert summer.utcoffset() == timedelta(hours=-4)  # the zone's rules, daylight saving too
    reported = datetime(2009, 3, 3, 9, tzinfo=timezone(timedelta(hours=-6)))
    assert places.local(reported, places.get("USZZ9")) is reported
