"""The console's session cookie: only an agent's or admin's token signs in;
a tampered, expired, signed-out cookie, or one whose token was removed from
TRACKING_API_TOKENS, is no session."""

from __future__ import annotations

import pytest

from adapters.http import session as session_module
from adapters.http.session import Sessions, SignInRefused

TOKENS = {"a-token": "agent", "m-token": "merchant", "x-token": "admin"}


def test_agent_and_admin_sign_in_and_others_are_refused() -> None:
    sessions = Sessions(TOKENS)
    for token, role in (("a-token", "agent"), ("x-token", "admin")):
        s, cookie = sessions.sign_in(token)
        assert s.role == role and token not in cookie
        assert sessions.session(cookie) == s
    with pytest.raises(SignInRefused) as refused:
        sessions.sign_in("m-token")
    assert refused.value.known
    with pytest.raises(SignInRefused) as refused:
        sessions.sign_in("nobody")
    assert not refused.value.known


def test_a_cookie_that_is_not_ours_or_no_longer_good_is_no_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = Sessions(TOKENS)
    s, cookie = sessions.sign_in("a-token")
    payload, _, mac = cookie.rpartition(".")
    assert sessions.session(payload[:-2] + "xx." + mac) is None
    assert sessions.session(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert sessions.session("") is None and sessions.session("garbage") is None
    assert Sessions({"m-token": "merchant"}).session(cookie) is None  # token removed
    now = session_module.time.time()
    monkeypatch.setattr(session_module.time, "time", lambda: now + sessions.lifetime + 1)
    assert sessions.session(cookie) is None  # expired
    monkeypatch.undo()
    sessions.sign_out(s)
    assert sessions.session(cookie) is None
