"""Carrier configuration is read with the rest, and a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.carriers.masterdata import MasterData
from adapters.settings import ConfigError, Settings


def test_carrier_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    master = tmp_path / "m.toml"
    master.write_text("")
    s = Settings.from_env({
        "TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "TRACKING_DCSA_SECRET": "d", "TRACKING_AGGREGATOR_SECRET": "a",
        "TRACKING_CARRIER_MASTER_DATA": str(master),
        "TRACKING_PARCEL_API_URL": "http://127.0.0.1:9/", "TRACKING_PARCEL_API_KEY": "k",
        "TRACKING_PARCEL_REQUESTS_PER_MINUTE": "250", "TRACKING_PARCEL_POLL_SECONDS": "60",
    }).carriers
    assert (s.dcsa_secret, s.aggregator_secret, s.master_data) == ("d", "a", master)
    assert (s.parcel_api_url, s.parcel_requests_per_minute, s.parcel_poll_seconds) == (
        "http://127.0.0.1:9/", 250, 60)
    assert (s.parcel_carrier, s.parcel_expire_days, s.signature_tolerance_seconds) == (
        "dhl", 60, 300)


@pytest.mark.parametrize(("variable", "value"), [
    ("TRACKING_PARCEL_API_URL", "ftp://carrier"),
    ("TRACKING_DCSA_API_URL", "carrier.example"),
    ("TRACKING_DCSA_LOOKBACK_DAYS", "-1"),
    ("TRACKING_PARCEL_REQUESTS_PER_MINUTE", "0"),
    ("TRACKING_SIGNATURE_TOLERANCE_SECONDS", "soon"),
    ("TRACKING_CARRIER_MASTER_DATA", "/nonexistent/master.toml"),
])
def test_a_bad_carrier_setting_names_its_variable(tmp_path: Path, variable: str,
                                                  value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({"TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
                           variable: value})


def test_master_data_that_cannot_be_right_names_the_entry(tmp_path: Path) -> None:
    master = tmp_path / "m.toml"
    master.write_text('[epcis.locations]\n"urn:epc:id:sgln:1.2.3" = "ZZZZZ"\n')
    with pytest.raises(ConfigError, match=r"TRACKING_CARRIER_MASTER_DATA.*epcis.locations"):
        MasterData.load(master)
