"""Signing out of the console ends the session in every worker process:
two apps built by the composition root on one database, as two workers of
`tracking serve` are, share the sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.e2e.conftest import Clock
from tests.e2e.test_console import csrf, sign_in

COOKIE = "tracking_console"


@pytest.fixture
def other_worker(settings: Settings, clock: Clock) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(build_api(settings, clock=clock))) as c:
        yield c


def test_a_sign_out_in_one_worker_ends_the_session_in_the_other(
    client: TestClient[Any], other_worker: TestClient[Any],
) -> None:
    assert sign_in(client).status_code == 303
    cookie = client.cookies.get(COOKIE)
    assert cookie
    other_worker.cookies.set(COOKIE, cookie, path="/agent")
    assert other_worker.get("/agent", follow_redirects=False).status_code == 200  # one session

    r = client.post("/agent/sign-out", data={"_csrf_token": csrf(client, "/agent")},
                    follow_redirects=False)
    assert r.status_code == 303
    answer = other_worker.get("/agent", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/agent/sign-in"
    # And a new sign-in is a new session, in either.
    assert sign_in(other_worker).status_code == 303
    assert other_worker.get("/agent", follow_redirects=False).status_code == 200


def test_a_merchant_signing_out_in_one_worker_is_signed_out_in_the_other(
    client: TestClient[Any], other_worker: TestClient[Any],
) -> None:
    """The merchant's pages keep their sign-outs where every worker reads
    them too, as the console does."""
    r = client.post("/merchant/sign-in", follow_redirects=False, data={
        "token": "m-token", "_csrf_token": csrf(client, "/merchant/sign-in")})
    assert r.status_code == 303
    cookie = client.cookies.get("tracking_merchant")
    assert cookie
    other_worker.cookies.set("tracking_merchant", cookie, path="/merchant")
    assert other_worker.get("/merchant", follow_redirects=False).status_code == 200

    r = client.post("/merchant/sign-out", data={"_csrf_token": csrf(client, "/merchant")},
                    follow_redirects=False)
    assert r.status_code == 303
    answer = other_worker.get("/merchant", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/merchant/sign-in"
