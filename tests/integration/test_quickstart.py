"""The README's quick start, followed in order on this machine, where a
Mosquitto runs on port 1883: the tokens are set before `make run` (here its
`tracking all`), the walkthrough's writes are accepted, and the README's
`mosquitto_pub` scan is recorded. Without tokens, the start says so once.

Only what cannot be shared with other runs on this machine is changed: the
HTTP port, and the tracking number (other consumers of the shared broker
get a copy of the scan too)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import mqtt_sessions
from tests.integration.test_deploy import need
from tests.ports import free_port
from tests.readme import sh_block
from tests.waiting import eventually
from tracking.identifiers import s10_check_digit

TRACKING = str(Path(sys.executable).parent / "tracking")
README_TN = "LX123456785CN"


@dataclass
class Run:
    """`tracking all` started as `make run` starts it, in a directory of its own."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]

    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Any]:
    runs: list[Run] = []

    def start(**env: str) -> Run:
        port = free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKING_")}
        log = tmp_path / f"run-{len(runs)}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [TRACKING, "all"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr,
                env={**clean, **env, "TRACKING_HTTP_PORT": str(port), "TRACKING_LOG_FORMAT": "json"})
        run = Run(process, port, log)
        runs.append(run)
        eventually(lambda: process.poll() is not None or ready(port), timeout=60,
                   what="tracking all is ready")
        assert process.poll() is None, run.text()
        return run

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
            assert run.process.wait(30) == 0, run.text()[-2000:]


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def fresh_number() -> str:
    serial = f"{random.randrange(10**8):08d}"
    return f"LX{serial}{s10_check_digit(serial)}CN"


def bash(script: str) -> str:
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_quick_start_followed_in_order_records_the_readme_scans(make_run: Any) -> None:
    need("mosquitto_pub")
    need("curl")
    setup = sh_block("Quick start", "make run")
    [tokens] = re.findall(r"^export TRACKING_API_TOKENS=(\S+)", setup, re.M)
    assert setup.index("TRACKING_API_TOKENS") < setup.index("make run")  # set before the start
    tn = fresh_number()
    run = make_run(TRACKING_API_TOKENS=tokens)
    assert "TRACKING_API_TOKENS" not in run.text()  # tokens are set: nothing to say
    borrowed = [x["msg"] for x in run.lines() if "already has an MQTT broker" in x["msg"]]
    if borrowed:  # this machine's Mosquitto on 1883: consumed from, then forgotten
        [client_id] = re.findall(r"as client id (\S+),", borrowed[0])
        mqtt_sessions.OPENED.add(client_id)
    here = f"localhost:{run.port}"
    try:
        walkthrough = sh_block("Quick start", "curl").replace("localhost:8000", here)
        out = bash(walkthrough.replace(README_TN, tn))
        assert '"status_code":401' not in out.replace(" ", "") and '"position"' in out
        bash(sh_block("Scans over MQTT", "mosquitto_pub").replace(README_TN, tn))  # as written: 1883
        def events() -> list[str]:
            view = httpx.get(f"http://{here}/api/v1/track/{tn}").json()
            return [e["event"] for e in view.get("events", [])]

        eventually(lambda: events() == ["LOADED", "DEPARTED"], timeout=20,
                   what="the README's MQTT scan is recorded")
        assert "Traceback" not in run.text()
    finally:
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(30) == 0
        if borrowed:
            mqtt_sessions.forget(mqtt_sessions.SHARED, client_id)


def test_without_tokens_the_start_says_once_that_only_public_reads_answer(make_run: Any) -> None:
    run = make_run(TRACKING_MQTT_EMBEDDED_PORT=str(free_port()))  # no TRACKING_API_TOKENS
    said = [x for x in run.lines() if "TRACKING_API_TOKENS" in x["msg"]]
    assert len(said) == 1 and said[0]["level"] == "warning"
    assert "only the public reads answer" in said[0]["msg"]
    assert "export TRACKING_API_TOKENS=" in said[0]["msg"]
    base = f"http://127.0.0.1:{run.port}/api/v1"
    assert httpx.post(f"{base}/shipments", json={}).status_code == 401  # as it said
    assert httpx.get(f"{base}/track/{README_TN}").status_code == 404  # public: answers
