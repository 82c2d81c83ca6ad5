"""The token buckets behind the rate limits (adapters/http/ratelimit.py)."""

from __future__ import annotations

import pytest

from adapters.http import ratelimit


@pytest.mark.parametrize("start", [1000.493, 1000.123, 86_400.25, 3_456_789.5])
def test_a_client_that_waits_its_retry_after_gets_its_token(
    start: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1000.493 s of monotonic clock, (start + 360 - start) / 360 came out
    a hair under one token, and a client that had waited exactly the
    Retry-After it was given was refused again."""
    now = [start]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    bucket = ratelimit.Buckets(ratelimit.GUESSES, ratelimit.GUESS_REFILL_PER_SECOND)
    for _ in range(ratelimit.GUESSES):
        assert bucket.wait("198.51.100.7") == 0
    wait = bucket.wait("198.51.100.7", take=False)
    assert wait > 0
    now[0] += max(1, int(wait + 0.999))  # as _refuse rounds it for Retry-After
    assert bucket.wait("198.51.100.7") == 0
    assert bucket.wait("198.51.100.7") > 0  # one token, not more
