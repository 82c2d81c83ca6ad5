"""The recipients' blind name index, on each key store (memory, SQLite,
PostgreSQL): a subject is found by one word of its recipient's name or by
several (all of them needed), whatever the case and the Unicode form of
the accents; an erased subject is found by nothing, and its rows are gone;
the store's bytes never hold a word of the name."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.keys import PostgresKeyStore, SQLiteKeyStore
from adapters.settings import Settings
from tests.integration.test_erasure import stored_bytes
from tracking.booking import Recipient
from tracking.identifiers import CountryCode
from tracking.personal_data import MemoryKeyStore, Vault, name_words

NOW = datetime(2009, 3, 4, tzinfo=UTC)
ZOE = Recipient("Zoé Lindqvist-Berg Åström", "111 22", CountryCode("SE"))
ANN = Recipient("Ann Lindqvist-Berg", "111 23", CountryCode("SE"))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Any, str | None]]:
    """A key store, and the database URL whose bytes it writes to (None: memory)."""
    master = os.urandom(32)
    if request.param == "memory":
        yield MemoryKeyStore(), None
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/keys.db"
        made: Any = SQLiteKeyStore(f"{tmp_path}/keys.db", master)
    else:
        url = request.getfixturevalue("postgres_schema_url")
        made = PostgresKeyStore(*Settings(database_url=url).postgres_conninfo(), master)
    yield made, url
    made.close()


def test_a_recipient_is_found_by_every_word_of_its_name_and_by_nothing_once_erased(
    store: tuple[Any, str | None],
) -> None:
    keys, url = store
    vault = Vault(keys)
    for subject, recipient in (("subject-2", ZOE), ("subject-1", ANN)):
        vault.seal_recipient(subject, recipient)
        vault.index_recipient(subject, recipient)
    vault.index_recipient("subject-2", ZOE)  # booking the same body again: no second row

    assert vault.find_recipients("lindqvist-berg") == ["subject-1", "subject-2"]
    assert vault.find_recipients("ZOÉ  lindqvist-berg") == ["subject-2"]  # every word, any case
    decomposed = unicodedata.normalize("NFD", "zoé åström")
    assert decomposed != "zoé åström" and vault.find_recipients(decomposed) == ["subject-2"]
    assert vault.find_recipients("Ann Åström") == []  # not one recipient's words
    assert vault.find_recipients("Lindqvist") == []  # a word is whole: no prefix, no part
    assert vault.find_recipients("Z Å") == []  # shorter than two characters: not searched for
    assert vault.find_recipients("ann", limit=1) == ["subject-1"]
    assert name_words("A  Ann\u00a0Berg") == {"ann", "berg"}  # NFKC: a no-break space splits

    if url is not None:
        kept = stored_bytes(url)
        for word in ("Zoé", "zoé", "Lindqvist", "lindqvist", "Åström", "åström", "ann"):
            assert word.encode() not in kept, word
            assert unicodedata.normalize("NFD", word).encode() not in kept, word

    assert vault.erase("subject-2", NOW)
    assert vault.find_recipients("zoé") == [] and vault.find_recipients("lindqvist-berg") == ["subject-1"]
    vault.index_recipient("subject-2", ZOE)  # an erased subject is not made findable again
    assert vault.find_recipients("zoé") == []
    if url is not None:
        assert _indexed(url) == {"subject-1"}  # the erased subject's rows are gone


def _sql(url: str, statement: str) -> list[Any]:
    """One statement on the index's database, straight (not through a store)."""
    if url.startswith("sqlite"):
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(statement).fetchall()
    import psycopg
    conninfo, schema = Settings(database_url=url).postgres_conninfo()
    with psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}") as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def _indexed(url: str) -> set[str]:
    return {r[0] for r in _sql(url, "SELECT subject FROM personal_data_index")}


def _forget_the_index(url: str) -> None:
    """The index as it was before it existed: empty."""
    _sql(url, "DELETE FROM personal_data_index")


def test_reindexing_puts_recipients_booked_before_the_index_in_it(database_url: str) -> None:
    from adapters.commands.names import Reindexed, reindex_names
    from adapters.composition import build_service
    from tests.builders import AGENT, HK_STO, TN, booking
    from tracking.identifiers import shipment_id

    service = build_service(Settings(database_url=database_url, master_key=os.urandom(32)))
    try:
        service.book(TN, booking(), HK_STO, AGENT)  # Astrid Lindgren
        vault, sid = service.personal_data, str(shipment_id(TN))
        assert vault.find_recipients("astrid lindgren") == [sid]
        _forget_the_index(database_url)
        assert vault.find_recipients("astrid") == []
        assert reindex_names(service) == Reindexed(indexed=1, left_out=0)
        assert reindex_names(service) == Reindexed(indexed=1, left_out=0)  # again: the same
        assert vault.find_recipients("LINDGREN astrid") == [sid]
        service.shipments.erase_personal_data(TN, "asked", AGENT)
        assert reindex_names(service) == Reindexed(indexed=0, left_out=1)
        assert vault.find_recipients("astrid") == []
    finally:
        service.close()
