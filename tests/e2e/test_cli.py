"""The `tracking` command after the README's walkthrough: `tracking demo`
keeps to a database of its own, and a refusal of the domain is one line on
stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from adapters.cli import main
from adapters.composition import build_api, build_service
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.builders import AGENT, HK_STO, booking
from tests.e2e.conftest import MERCHANT, TOKENS
from tests.readme import curl_body, sh_block
from tracking.identifiers import s10_check_digit

TRACKING = str(Path(sys.executable).parent / "tracking")


def test_demo_after_the_walkthrough_uses_a_database_of_its_own(tmp_path: Path) -> None:
    walkthrough = Settings(database_url=f"sqlite:///{tmp_path}/var/tracking.db", api_tokens=TOKENS)
    body = curl_body(sh_block("Quick start", "/api/v1/shipments"), "/api/v1/shipments")
    with TestClient(app=create_app(build_api(walkthrough))) as client:  # what `make run` recorded
        assert client.post("/api/v1/shipments", content=body, headers=MERCHANT).status_code == 201
    service = build_service(walkthrough)
    before = service.history("LX123456785CN")
    service.close()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no TRACKING_* set, as after make run
    run = subprocess.run([TRACKING, "demo"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "booked LX123456785CN: new" in run.stdout
    assert "var/tracking.db" not in run.stdout.splitlines()[0]  # store: a temporary one
    service = build_service(walkthrough)
    assert service.history("LX123456785CN") == before  # the walkthrough's shipment untouched
    service.close()


def test_a_domain_refusal_is_one_line_and_exit_1_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tracking demo --database URL` where its number is already booked with
    other data: BookingConflict, said in one line."""
    url = f"sqlite:///{tmp_path}/other.db"
    monkeypatch.setattr("adapters.cli.random.randrange", lambda _: 12345678)
    number = f"LX12345678{s10_check_digit('12345678')}CN"
    service = build_service(Settings(database_url=url))
    service.book(number, booking(), HK_STO, AGENT)  # the same number, another booking
    service.close()
    code = main(["demo", "--database", url])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("tracking demo: refused: ")
    assert number in err and "Traceback" not in err


def test_a_malformed_demo_database_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--database", "mysql://db/x"]) == 2
    assert capsys.readouterr().err.startswith("tracking: configuration error: --database: ")


def test_check_config_says_how_scans_are_consumed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRACKING_MQTT_URL", raising=False)
    monkeypatch.delenv("TRACKING_MQTT_GROUP", raising=False)
    monkeypatch.setenv("TRACKING_MQTT_EMBEDDED_PORT", "1884")
    assert main(["check-config"]) == 0
    [mqtt] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("mqtt: ")]
    assert "port 1884 (or the MQTT broker already there)" in mqtt and mqtt.endswith("group none")
