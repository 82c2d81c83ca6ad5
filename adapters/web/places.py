"""UN/LOCODEs in words and in their local time.

A UN/LOCODE is a country and a 3-character location; where the location
has an airport, UNECE gives it the airport's IATA code (the code list's
IATA column is filled only where the two differ). So the maintained
``airportsdata`` package, which ships every IATA airport with its city,
country and IANA time zone (and IATA's multi-airport cities: NYC, LON,
TYO, STO ...), names the places a parcel passes through most often. A
code it does not know is shown as the code, in its country's time zone
when the country has one (tzdata's zone.tab), else at the offset the
scanner reported.

Only the ~8,000 airports with an IATA code are kept (about 2 MB per
process); the rest of the 28,000-row file is read once and dropped.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, tzinfo
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec


class Place(msgspec.Struct, frozen=True):
    code: str
    name: str | None  # None: the data does not know this code
    country: str
    zone: str | None  # IANA time zone

    @property
    def label(self) -> str:
        """'Hong Kong, HK', or the code itself when unknown."""
        return f"{self.name}, {self.country}" if self.name else self.code


class Places:
    def __init__(self, names: dict[str, tuple[str, str]], country_zones: dict[str, str]) -> None:
        self._names = names  # LOCODE -> (name, zone)
        self._country_zones = country_zones
        self._zones: dict[str, tzinfo] = {}

    @classmethod
    def load(cls) -> Places:
        """From the installed airportsdata and tzdata packages."""
        names: dict[str, tuple[str, str]] = {}
        airports = resources.files("airportsdata")
        rows = csv.DictReader(io.StringIO(airports.joinpath("airports.csv").read_text("utf-8")))
        zone_of: dict[str, str] = {}
        for row in rows:
            iata, country, city, zone = row["iata"], row["country"], row["city"], row["tz"]
            if iata and country and zone:
                names.setdefault(country + iata, (city or row["name"], zone))
                zone_of[iata] = zone
        macs = csv.DictReader(io.StringIO(airports.joinpath("iata_macs.csv").read_text("utf-8")))
        for row in macs:
            zone = zone_of.get(row["Airport Code"])
            if zone:  # a metropolitan code names the city, over any airport of that code
                names[row["Country"] + row["City Code"]] = (row["City Name"], zone)
        return cls(names, _single_zone_countries())

    def get(self, code: str) -> Place:
        found = self._names.get(code)
        if found is not None:
            return Place(code, found[0], code[:2], found[1])
        return Place(code, None, code[:2], self._country_zones.get(code[:2]))

    def local(self, when: datetime, place: Place) -> datetime:
        """``when`` at the place's time zone; where none is known, as reported."""
        zone = self._zone(place.zone) if place.zone else None
        return when.astimezone(zone) if zone is not None else when

    def _zone(self, name: str) -> tzinfo | None:
        zone = self._zones.get(name)
        if zone is None:
            try:
                zone = self._zones[name] = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                return None
        return zone


def _single_zone_countries() -> dict[str, str]:
    """Countries with exactly one time zone in tzdata's zone.tab."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    zones: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _, zone = line.split("\t")[:3]
            zones[country].append(zone)
    return {c: z[0] for c, z in zones.items() if len(z) == 1}
