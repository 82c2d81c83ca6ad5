"""Writes docs/tracking-page-en.png and docs/tracking-page-zh.png: the
tracking page of a parcel from Hong Kong to Stockholm, part-way, as a phone
shows it. Needs Debian's chromium (and fonts-noto-cjk for the Chinese).

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.composition import build_api  # noqa: E402
from adapters.http.app import create_app  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

TN = "LX123456785CN"
TOKENS = {"m": "merchant", "d": "device"}


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2009, 3, day, hour, tzinfo=UTC)


def main() -> None:
    now = [at(1)]
    folder = tempfile.mkdtemp()
    app = create_app(build_api(Settings(database_url=f"sqlite:///{folder}/t.db", api_tokens=TOKENS),
                               clock=lambda: now[0]))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"

    def leg(v: str, a: str, b: str, d: int, e: int, mode: str) -> dict[str, str]:
        return {"voyage": v, "mode": mode, "from": a, "to": b,
                "departs_at": at(d).isoformat(), "arrives_at": at(e).isoformat()}

    with httpx.Client(base_url=url) as c:
        c.post("/api/v1/shipments", headers={"Authorization": "Bearer m"}, json={
            "tracking_number": TN, "carrier": "postnord", "origin": "HKHKG",
            "destination": "SESTO", "deliver_by": at(18).isoformat(),
            "recipient": {"name": "A. Lindgren", "postcode": "11122", "country": "SE"},
            "route": [leg("V100", "HKHKG", "USLAX", 3, 9, "sea"),
                      leg("R200", "USLAX", "USNYC", 10, 13, "rail"),
                      leg("A300", "USNYC", "SESTO", 14, 15, "air")]}).raise_for_status()
        last = 0
        for event, place, when, voyage in [("RECEIVED", "HKHKG", at(2, 1), None),
                                           ("LOADED", "HKHKG", at(3, 6), "V100"),
                                           ("DEPARTED", "HKHKG", at(3, 8), "V100"),
                                           ("ARRIVED", "USLAX", at(9, 15), "V100"),
                                           ("UNLOADED", "USLAX", at(9, 18), "V100")]:
            now[0] = when + timedelta(minutes=5)
            r = c.post("/api/v1/scans", headers={"Authorization": "Bearer d"}, json={
                "scan_id": uuid.uuid4().hex, "device_id": "dock-1", "tracking_number": TN,
                "event": event, "location": place, "occurred_at": when.isoformat(),
                "voyage": voyage})
            r.raise_for_status()
            last = r.json()["position"]
        c.get(f"/api/v1/track/{TN}", params={"min_position": last}).raise_for_status()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for lang in ("en", "zh"):
            page = browser.new_page(viewport={"width": 480, "height": 900}, device_scale_factor=1)
            page.goto(f"{url}/track/{TN}?lang={lang}")
            page.locator("#tracking[data-live=open]").wait_for()
            page.screenshot(path=str(ROOT / "docs" / f"tracking-page-{lang}.png"), full_page=True)
            page.close()
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main()
