"""Master data for sources that do not speak in our identifiers: EPCIS
object ids (SGTIN, SSCC) to tracking numbers, GLN/SGLN read points and
business locations to UN/LOCODEs, and "country/city" places of carriers
without UN/LOCODEs (parcel, aggregator) to UN/LOCODEs.

A TOML file (TRACKING_CARRIER_MASTER_DATA)::

    [epcis.objects]
    "urn:epc:id:sscc:0614141.1234567890" = "LX123456785CN"
    [epcis.locations]
    "urn:epc:id:sgln:0614141.07346.1234" = "HKHKG"
    [places]
    "NL/OLDENZAAL" = "NLOLZ"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.settings import ConfigError
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber

VARIABLE = "TRACKING_CARRIER_MASTER_DATA"


@dataclass(frozen=True)
class MasterData:
    objects: dict[str, TrackingNumber] = field(default_factory=dict)
    locations: dict[str, Locode] = field(default_factory=dict)
    places: dict[str, Locode] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> MasterData:
        if path is None:
            return cls()
        try:
            data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
            epcis = data.get("epcis", {})
            return cls(
                objects={k: TrackingNumber(v, f"epcis.objects.{k}")
                         for k, v in epcis.get("objects", {}).items()},
                locations={k: Locode(v, f"epcis.locations.{k}")
                           for k, v in epcis.get("locations", {}).items()},
                places={k.upper(): Locode(v, f"places.{k}")
                        for k, v in data.get("places", {}).items()},
            )
        except (OSError, tomllib.TOMLDecodeError, InvalidInput, AttributeError) as e:
            raise ConfigError(f"{VARIABLE}: {path}: {e}") from None

    def place(self, country: str | None, city: str | None) -> Locode | None:
        """The UN/LOCODE of a carrier's "country/city", if configured."""
        if not country or not city:
            return None
        return self.places.get(f"{country.strip().upper()}/{city.strip().upper()}")
