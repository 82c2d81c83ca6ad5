"""An account's named warehouses: names and LOCODEs each unique in the
book, a name never read as a LOCODE, and a ``warehouse`` field taken as
either."""

from __future__ import annotations

import pytest

from tests.builders import AGENT
from tracking.errors import InvalidInput
from tracking.identifiers import Locode
from tracking.warehouse import UnknownWarehouse, WarehouseBook, WarehouseConflict, resolve


def test_a_name_is_given_once_and_a_locode_named_once() -> None:
    book = WarehouseBook.open("acme")
    assert book.name("  Hamburg   DC ", Locode("DEHAM"), AGENT)
    assert not book.name("Hamburg DC", Locode("DEHAM"), AGENT)  # as recorded
    with pytest.raises(WarehouseConflict):
        book.name("Hamburg DC", Locode("NLRTM"), AGENT)
    with pytest.raises(WarehouseConflict):
        book.name("Hamburg North", Locode("DEHAM"), AGENT)
    assert book.named == {"Hamburg DC": "DEHAM"} and book.name_of("DEHAM") == "Hamburg DC"
    assert [type(e).__name__ for e in book.collect_events()] == ["Opened", "Named"]


@pytest.mark.parametrize("name", ["NLRTM", "nlrtm", "", "-dash first", "x" * 65])
def test_a_name_that_reads_as_a_locode_or_is_malformed_names_its_field(name: str) -> None:
    with pytest.raises(InvalidInput) as e:
        WarehouseBook.open("acme").name(name, Locode("NLRTM"), AGENT)
    assert e.value.field == "name"


def test_a_warehouse_field_is_a_locode_or_a_name() -> None:
    named = {"Hamburg DC": Locode("DEHAM")}
    assert resolve(named, "Hamburg DC", "warehouse") == "DEHAM"
    assert resolve(named, "sesto", "warehouse") == "SESTO"
    with pytest.raises(UnknownWarehouse) as unknown:
        resolve(named, "Berlin DC", "lines[0].warehouse")
    assert unknown.value.field == "lines[0].warehouse" and "Berlin DC" in unknown.value.reason
    with pytest.raises(InvalidInput) as malformed:
        resolve(named, "ZZZZZ", "warehouse")
    assert malformed.value.field == "warehouse" and "ISO" in malformed.value.reason
