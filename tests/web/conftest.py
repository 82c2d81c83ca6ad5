"""The pages and the stream on a real server (uvicorn in a thread, on a free
port), and a real browser: Debian's chromium driven by Playwright. Outside
CI a missing chromium skips the browser tests; under CI=true it fails them."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.builders import at
from tests.conftest import IN_CI
from tests.e2e.conftest import DEVICE, TOKENS, Clock
from tests.e2e.conftest import client, clock, settings  # noqa: F401  (the same fixtures here)
from tests.ports import free_port
from tests.waiting import eventually

CHROMIUM = os.environ.get("TRACKING_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Server:
    url: str
    clock: Clock

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 10, **options})

    def post_scan(self, body: dict[str, Any]) -> int:
        """POST a scan as a device, the clock just after it; its log position."""
        self.clock.now = datetime.fromisoformat(body["occurred_at"]) + timedelta(minutes=5)
        with self.client() as c:
            r = c.post("/api/v1/scans", json=body, headers=DEVICE)
        assert r.status_code == 201, r.text
        return int(r.json()["position"])


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    yield from serve(Settings(database_url=database_url, api_tokens=TOKENS))


def serve(settings: Settings) -> Iterator[Server]:
    """The app of these settings on a free port until the generator is closed."""
    clock = Clock(at(1))
    app = create_app(build_api(settings, clock=clock))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                            timeout_graceful_shutdown=1)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    eventually(lambda: running.started or not thread.is_alive(), timeout=20,
               what="the server started")
    assert thread.is_alive(), "the server did not start"
    yield Server(f"http://127.0.0.1:{port}", clock)
    running.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not shutil.which(CHROMIUM):
        message = f"no chromium at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[Any]:
    """Gone when tests/web is: while a sync Playwright is open its thread
    has a running event loop, so other tests could neither start one of
    their own (asyncio.run) nor open another Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()
