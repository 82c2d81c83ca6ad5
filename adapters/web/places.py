"""UN/LOCODEs in words and in their local time.

Two maintained packages name the places. Where a location has an airport,
UNECE gives it the airport's IATA code, so ``airportsdata`` (every IATA
airport with its city, country and IANA time zone, and IATA's multi-airport
cities: NYC, LON, TYO, STO ...) names the places a parcel passes most often
by their city. Every other code is looked up in UNECE's own code list, the
edition that ``pyunlocode`` ships (2023-1, about 116,000 locations): its
name, and the time zone at its coordinates (``timezonefinder``). A code
neither knows is shown as the code, in its country's time zone when the
country has only one (tzdata's zone.tab), else at the offset the scanner
reported.

Memory stays small: of airportsdata only the ~8,000 airports with an IATA
code are kept (about 2 MB); the UN/LOCODE list is indexed by country on
first use (byte ranges, no rows) and a country's rows are read when one of
its codes is first asked for.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, tzinfo
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
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
    def __init__(self, names: dict[str, tuple[str, str]], country_zones: dict[str, str],
                 code_list: CodeList | None = None) -> None:
        self._names = names  # LOCODE -> (name, zone)
        self._country_zones = country_zones
        self._code_list = code_list
        self._zones: dict[str, tzinfo] = {}
        self._places: dict[str, Place] = {}

    @classmethod
    @cache
    def installed(cls) -> Places:
        """The installed packages' places, read once per process (each app's pages share them)."""
        return cls.load()

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
        return cls(names, _single_zone_countries(), CodeList.installed())

    def get(self, code: str) -> Place:
        """The code's place (looked up once: a page asks for a place per event)."""
        place = self._places.get(code)
        if place is None:
            if len(self._places) >= 50_000:  # a bound, whatever the codes asked for
                self._places.clear()
            place = self._places[code] = self._look_up(code)
        return place

    def _look_up(self, code: str) -> Place:
        found = self._names.get(code)
        if found is not None:
            return Place(code, found[0], code[:2], found[1])
        listed = self._code_list.get(code) if self._code_list is not None else None
        if listed is not None:
            name, zone, iata = listed
            if zone is None and iata:  # no coordinates, but the IATA code of its airport
                zone = self._names.get(code[:2] + iata, (None, None))[1]
            return Place(code, name, code[:2], zone or self._country_zones.get(code[:2]))
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


# a row's second field: the change indicator (quoted or not), then "SE"
_COUNTRY = re.compile(rb'(?:"[^"]*"|[^,"]*),"([A-Z]{2})"')
# "5920N 01803E": degrees and minutes, as the code list writes coordinates
_COORDINATES = re.compile(r"(\d{2})(\d{2})([NS]) (\d{3})(\d{2})([EW])")


class CodeList:
    """UNECE's UN/LOCODE code list (the CSV parts of one edition): a code's
    name, the IANA zone at its coordinates (None where it has none) and the
    IATA code the list gives it where that differs from its own."""

    def __init__(self, parts: list[Traversable], zone_at: ZoneAt) -> None:
        self._parts = parts
        self._zone_at = zone_at
        self._lock = threading.Lock()
        self._index: dict[bytes, list[tuple[int, int, int]]] | None = None
        self._countries: dict[str, dict[str, tuple[str, str, str]]] = {}  # name, coords, IATA
        self._found: dict[str, tuple[str, str | None, str] | None] = {}

    @classmethod
    def installed(cls) -> CodeList | None:
        """The edition the installed ``pyunlocode`` ships, or None without it."""
        try:
            folder = resources.files("pyunlocode").joinpath("csv")
        except ModuleNotFoundError:
            return None
        parts = sorted((f for f in folder.iterdir() if "CodeListPart" in f.name),
                       key=lambda f: f.name)
        return cls(parts, ZoneAt()) if parts else None

    def get(self, code: str) -> tuple[str, str | None, str] | None:
        """The code's name, time zone and IATA code, or None when the list has no such code."""
        with self._lock:
            if code in self._found:
                return self._found[code]
            found = None
            if len(code) == 5:
                country = self._countries.get(code[:2])
                if country is None:
                    country = self._countries[code[:2]] = dict(self._read(code[:2]))
                row = country.get(code[2:])
                if row is not None:
                    found = (row[0], self._zone(row[1]), row[2])
            if len(self._found) < 100_000:  # a bound however many codes are asked for
                self._found[code] = found
            return found

    def _read(self, country: str) -> Iterator[tuple[str, tuple[str, str, str]]]:
        if self._index is None:
            self._index = self._build_index()
        for part, start, end in self._index.get(country.encode("ascii", "replace"), []):
            with self._parts[part].open("rb") as f:
                f.seek(start)
                text = f.read(end - start).decode("latin-1")
            for row in csv.reader(io.StringIO(text)):
                # change, country, location, name, name without diacritics, subdivision,
                # function, status, date, IATA, coordinates, remark
                if len(row) < 11 or not row[2] or row[0] == "X":  # X: marked for deletion
                    continue
                yield row[2], (row[3] or row[4], row[10], row[9])

    def _build_index(self) -> dict[bytes, list[tuple[int, int, int]]]:
        """Where each country's rows are: (part, start, end) byte ranges."""
        index: dict[bytes, list[tuple[int, int, int]]] = defaultdict(list)
        for n, data in enumerate(p.read_bytes() for p in self._parts):
            start, country = 0, b""
            for line in re.finditer(rb'[^\n]*\n?', data):
                if not line.group():
                    break
                found = _COUNTRY.match(line.group())
                this = found[1] if found else country
                if this != country:
                    if country:
                        index[country].append((n, start, line.start()))
                    start, country = line.start(), this
            if country:
                index[country].append((n, start, len(data)))
        return dict(index)

    def _zone(self, coordinates: str) -> str | None:
        m = _COORDINATES.fullmatch(coordinates.strip())
        if m is None:
            return None
        lat = (int(m[1]) + int(m[2]) / 60) * (1 if m[3] == "N" else -1)
        lng = (int(m[4]) + int(m[5]) / 60) * (1 if m[6] == "E" else -1)
        return self._zone_at(lat, lng)


class ZoneAt:
    """The IANA time zone at a point, by ``timezonefinder`` (its data loaded on
    first use: about 13 MB and half a second, so only where a page needs it)."""

    def __init__(self) -> None:
        self._finder: object | None = None

    def __call__(self, lat: float, lng: float) -> str | None:
        if self._finder is None:
            from timezonefinder import TimezoneFinder

            self._finder = TimezoneFinder()
        zone: str | None = self._finder.timezone_at(lng=lng, lat=lat)  # type: ignore[attr-defined]
        return zone
