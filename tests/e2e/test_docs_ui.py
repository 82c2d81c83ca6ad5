"""The documentation UI renders in a real browser with no internet: every
file the page needs comes from the API's own origin.

Runs Debian's ``chromium`` through Playwright (whose own browser downloads
are not used). Without chromium the test is skipped, except under CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.integration.test_deploy import need
from tests.ports import free_port, listening
from tests.waiting import eventually

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[TestClient[Any]]:
    app = create_app(build_api(Settings(database_url=f"sqlite:///{tmp_path}/tracking.db")))
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def served_api(tmp_path: Path) -> Iterator[str]:
    """`tracking serve` on a free port, as an operator starts it."""
    port = free_port()
    env = {**os.environ, "TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/tracking.db",
           "TRACKING_HTTP_PORT": str(port), "TRACKING_LOG_FORMAT": "json"}
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        eventually(lambda: listening(port) or process.poll() is not None, timeout=30,
                   what="the API listens")
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)


def test_swagger_ui_renders_the_operations_from_the_api_s_own_origin_only(served_api: str) -> None:
    from playwright.sync_api import sync_playwright

    need("chromium")
    executable = shutil.which("chromium")
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{served_api}/schema/swagger")
            scans = page.locator('.opblock-summary-path[data-path="/api/v1/scans"]')
            scans.wait_for(timeout=30_000)
            assert page.locator(".opblock").count() > 10  # every operation, not just one
            assert page.locator(".swagger-ui .info .title").inner_text().startswith(
                "Shipment tracking")
        finally:
            browser.close()
    assert requested, "the page made no request at all"
    assert [url for url in requested if not url.startswith(f"{served_api}/")] == []


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_docs_page_loads_nothing_from_another_origin(served: TestClient[Any], page: str) -> None:
    """Without a browser too: the page names no URL of another origin."""
    html = served.get(page).text
    assert "SwaggerUIBundle" in html
    head = html.split("<body", 1)[0]  # the inline OpenAPI document may mention sites
    assert re.findall(r"""(?:src|href)=["']([^"']+)""", head) == [
        "/schema/assets/favicon-32x32.png", "/schema/assets/swagger-ui.css",
        "/schema/assets/swagger-ui-bundle.js", "/schema/assets/swagger-ui-standalone-preset.js"]


@pytest.mark.parametrize("ui", ["redoc", "elements", "rapidoc", "scalar"])
def test_no_other_docs_ui_is_offered(served: TestClient[Any], ui: str) -> None:
    assert served.get(f"/schema/{ui}").status_code == 404  # each would need a CDN
