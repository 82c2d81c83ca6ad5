"""An account's named warehouses: each a name the merchant gives a place of
its own and the UN/LOCODE it is at, so that orders, inbound stock and pages
can name the warehouse as the merchant does (``Hamburg DC``) while stock is
still counted by the place scans name (a DELIVERED at ``DEHAM``).

One book per account (its id derived from the account): names are unique
within it, and so are LOCODEs, since a scan names a place by its LOCODE
only and two warehouses at one could not be told apart when goods are
delivered. A name cannot look like a LOCODE, so a ``warehouse`` field can
take either and mean one thing.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from eventsourcing.domain import Aggregate

from tracking.errors import InvalidInput, TrackingError
from tracking.identifiers import Locode
from tracking.occurred import WHEN_RECORDED
from tracking.scan import Source

_NAMESPACE = uuid.UUID("8d2f4b1e-6c3a-4e57-9b08-1f7a2c5d9e63")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/&'()-]{0,63}")
_LOCODE_SHAPED = re.compile(r"[A-Za-z]{2}[A-Za-z2-9]{3}")


def warehouse_book_id(account: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, account)


def check_name(field: str, text: str) -> str:
    name = " ".join(text.split())
    if not _NAME.fullmatch(name):
        raise InvalidInput(field, "must be 1 to 64 letters, digits, spaces or . _ / & ' ( ) -, "
                                  "starting with a letter or digit")
    if _LOCODE_SHAPED.fullmatch(name):
        raise InvalidInput(field, f"{name!r} reads as a UN/LOCODE: a warehouse's name must not")
    return name


def looks_like_locode(text: str) -> bool:
    return bool(_LOCODE_SHAPED.fullmatch(text.strip()))


class WarehouseConflict(TrackingError):
    """A name already given to another LOCODE, or a LOCODE already named otherwise."""


class WarehouseNotFound(TrackingError, LookupError):
    """No warehouse of that name in the account (another account's: the same answer)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no warehouse named {name}")


class UnknownWarehouse(InvalidInput):
    """A ``warehouse`` that is neither a UN/LOCODE nor one of the account's names."""

    def __init__(self, field: str, text: str) -> None:
        super().__init__(field, f"{text!r} is neither a UN/LOCODE nor the name of one of "
                                "your warehouses (POST /api/v1/warehouses names one)")


class WarehouseBook(Aggregate):
    """The account's book of named warehouses."""

    class Opened(Aggregate.Created):
        account: str

    class Named(Aggregate.Event):
        account: str  # the book's (so a view needs no other event to file it)
        name: str
        locode: Locode
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.named[self.name] = self.locode

    def __init__(self, account: str) -> None:
        self.account = account
        self.named: dict[str, Locode] = {}

    @staticmethod
    def create_id(account: str, **_: Any) -> uuid.UUID:
        return warehouse_book_id(account)

    @classmethod
    def open(cls, account: str) -> WarehouseBook:
        return cls._create(cls.Opened, account=account)

    def name(self, name: str, locode: Locode, source: Source) -> bool:
        """Name a warehouse at ``locode``; False when it is named so already."""
        name = check_name("name", name)
        was = self.named.get(name)
        if was == locode:
            return False
        if was is not None:
            raise WarehouseConflict(f"{name} is already the warehouse at {was}")
        other = self.name_of(locode)
        if other is not None:
            raise WarehouseConflict(
                f"{locode} is already named {other}: a delivery scan at {locode} could not "
                "tell two warehouses there apart")
        self.trigger_event(self.Named, account=self.account, name=name, locode=locode,
                           source=source)
        return True

    def name_of(self, locode: str) -> str | None:
        return next((n for n, at in self.named.items() if at == locode), None)

    def locode_of(self, text: str, field: str) -> Locode:
        """The LOCODE a ``warehouse`` field means: a LOCODE itself, or one of
        the book's names."""
        return resolve(self.named, text, field)


def resolve(named: dict[str, Locode], text: str, field: str) -> Locode:
    """``text`` as a LOCODE (checked, the error naming ``field``), or the
    LOCODE of the warehouse ``named`` so."""
    if looks_like_locode(text):
        return Locode(text, field)
    found = named.get(" ".join(text.split()))
    if found is None:
        raise UnknownWarehouse(field, text)
    return found
