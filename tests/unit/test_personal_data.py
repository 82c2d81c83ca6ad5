"""Sealing one data subject's values, erasing them, the master key and the
dead letters' redaction (the SQLite key store: tests/integration/test_erasure.py)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest

from adapters.deadletters import DeadLetter, MemoryDeadLetterStore, redact
from adapters.keys import parse_master_key
from adapters.settings import ConfigError, Settings
from tracking.booking import Recipient
from tracking.identifiers import CountryCode
from tracking.personal_data import MemoryKeyStore, PersonalDataErased, Vault

NOW = datetime(2009, 3, 4, tzinfo=UTC)
ANN = Recipient("Ann Lindqvist", "111 22", CountryCode("SE"))


def test_a_recipient_seals_alike_each_time_and_opens_only_under_its_own_subject() -> None:
    vault = Vault(MemoryKeyStore())
    sealed = vault.seal_recipient("s1", ANN)
    assert sealed == vault.seal_recipient("s1", ANN)  # booking the same again is a no-op
    assert b"Ann" not in sealed.name.box and sealed.name != vault.seal_recipient("s2", ANN).name
    assert vault.open_recipient("s1", sealed).name == "Ann Lindqvist"
    assert vault.open("s2", "name", sealed.name) is None  # another subject's key opens nothing
    assert vault.open("s1", "postcode", sealed.name) is None  # nor another field's purpose
    assert vault.postcode_matches("s1", sealed, "11122")
    assert not vault.postcode_matches("s1", sealed, "11123") and not vault.postcode_matches(
        "s1", sealed, "")
    assert repr(sealed.name) == "Sealed(…)"  # never the value, in a log


def test_erasing_a_subject_makes_its_values_unreadable_and_no_new_key_is_made() -> None:
    vault = Vault(MemoryKeyStore())
    sealed = vault.seal_recipient("s1", ANN)
    email = vault.seal("s1", "email", "ann@example.se")
    assert vault.erase("s1", NOW) and not vault.erase("s1", NOW)
    opened = vault.open_recipient("s1", sealed)
    assert opened.erased and opened.name is None and opened.postcode is None
    assert vault.open("s1", "email", email) is None
    assert not vault.postcode_matches("s1", sealed, "11122")
    with pytest.raises(PersonalDataErased):
        vault.seal("s1", "email", "ann@example.se")


def test_the_master_key_is_32_bytes_of_base64() -> None:
    key = os.urandom(32)
    assert parse_master_key(base64.b64encode(key).decode()) == key
    assert parse_master_key(base64.urlsafe_b64encode(key).decode().rstrip("=")) == key
    with pytest.raises(ConfigError, match="TRACKING_MASTER_KEY"):
        Settings.from_env({"TRACKING_MASTER_KEY": base64.b64encode(b"short").decode()})
    settings = Settings.from_env({"TRACKING_MASTER_KEY": base64.b64encode(key).decode()})
    assert settings.master_key == key and base64.b64encode(key).decode() in settings.secrets()


def test_dead_letters_lose_personal_data_on_the_way_in_and_keep_what_resubmits() -> None:
    raw = (b'{"scan_id":"s-1","event":"LOADD","tracking_number":"LX123456785CN",'
           b'"recipient":{"name":"Ann Lindqvist"},"note":"ring ann@example.se"}')
    letter = DeadLetter(id=DeadLetter.make_id("t", raw), received_at=NOW, topic="t",
                        payload=raw, reason="event: unknown")
    store = MemoryDeadLetterStore()
    store.add([letter])
    kept = store.get(letter.id)
    assert kept is not None and b"Ann" not in kept.payload and b"ann@" not in kept.payload
    assert b'"scan_id":"s-1"' in kept.payload and b'"event":"LOADD"' in kept.payload
    assert kept.reason == "event: unknown (personal data redacted)"
    text = redact(DeadLetter(id="x", received_at=NOW, topic="t", payload=b"{bad ann@example.se",
                             reason="not JSON"))
    assert text.payload == b"{bad [redacted]"
    plain = DeadLetter(id="y", received_at=NOW, topic="t", payload=b'{"scan_id":"s"}', reason="r")
    assert redact(plain) is plain  # nothing personal: the bytes as they came


def test_a_payload_nested_too_deep_to_decode_is_kept_redacted_as_text() -> None:
    """Hostile input (50,000 nested arrays, an address inside) makes msgspec
    give up with a RecursionError: the letter is still kept, as text."""
    raw = b"[" * 50_000 + b'"ann@example.se"' + b"]" * 50_000
    letter = DeadLetter(id="z", received_at=NOW, topic="t", payload=raw, reason="not JSON")
    kept = redact(letter)
    assert kept.payload == b"[" * 50_000 + b'"[redacted]"' + b"]" * 50_000
    deep = DeadLetter(id="w", received_at=NOW, topic="t", payload=b"[" * 50_000 + b"]" * 50_000,
                      reason="not JSON")
    assert redact(deep) is deep
