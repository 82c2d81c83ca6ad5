"""Whose objects a caller may see (OWASP API1, object-level authorisation):
a merchant its own account's only; agents, carriers, devices and admins
every account's.

The check is made in one place for every route: the roles guard
(``auth.Requires``) calls ``check_path`` once it knows the caller, and for a
merchant every path parameter naming an object is resolved to the account
the object belongs to. Another account's object answers exactly what an
unknown one answers (the same error with the same wording, raised for both
before the handler reads the body), so nothing tells the two apart. A path parameter the
check does not know fails closed for merchants (500) rather than let a new
route through unchecked; tests/e2e/test_ownership_matrix.py walks the app's
route table so such a route fails the suite. Objects named in a body (the
shipment a customs declaration is for) are checked by ``check_shipment``,
one line in the handler.

What an object belongs to: a shipment, its booking's account; a customs
entry, its shipment's (an entry is declared for a shipment, and a merchant
can only declare for its own); a webhook subscription, the account that
created it. Purchase orders, named warehouses, suppliers' figures and stock are kept per
account (an order's key is its account and number), so their handlers read
only the caller's account and another's is not found by construction.
Accounts never change, so the views are asked first and the event log
only for an object the views do not know yet (a write just after a booking).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import InternalServerException

from projections.customs import CustomsView
from projections.lookup import NumberLookup
from tracking.application import ShipmentService
from tracking.customs import CustomsEntryNotFound
from tracking.errors import ShipmentNotFound, TrackingError
from tracking.identifiers import TrackingNumber
from tracking.webhook import WebhookNotFound

OWNERS = "owners"  # the key of app.state that holds the app's Owners


class _Account(msgspec.Struct):
    account: str


class _Entry(msgspec.Struct):
    tracking_number: str


_account = msgspec.json.Decoder(_Account)
_entry = msgspec.json.Decoder(_Entry)


@dataclass(frozen=True)
class Owners:
    """The account each kind of object belongs to; None when it does not
    exist (the handler then answers as it does for an unknown object)."""

    service: ShipmentService
    lookup: NumberLookup
    customs: CustomsView

    def shipment(self, tn: TrackingNumber) -> str | None:
        view = self.lookup.full_view(tn)
        if view is not None:
            return _account.decode(view).account
        try:  # not in the views yet: the log decides
            return self.service.get(tn).require_booked().account
        except (TrackingError, LookupError):
            return None

    def customs_entry(self, raw: str) -> str | None:
        try:
            entry_id = UUID(raw)
        except ValueError:
            return None
        view = self.customs.entry(entry_id)
        if view is not None:
            return self.shipment(TrackingNumber(_entry.decode(view).tracking_number))
        try:
            entry = self.service.customs.customs_entry(entry_id)
        except (TrackingError, LookupError):
            return None
        return self.shipment(entry.declaration.tracking_number)

    def webhook(self, raw: str) -> str | None:
        try:
            return self.service.webhooks.get(UUID(raw)).account
        except (ValueError, TrackingError, LookupError):
            return None


@dataclass(frozen=True)
class Kind:
    """How a path parameter's object is found, and what an unknown one raises."""

    owner: Callable[[Owners, str], str | None]
    unknown: Callable[[str], Exception]


# Path parameters naming an object whose account the check resolves.
OWNED: Mapping[str, Kind] = {
    "tracking_number": Kind(lambda o, raw: o.shipment(TrackingNumber(raw)),
                            lambda raw: ShipmentNotFound(TrackingNumber(raw))),
    "entry_id": Kind(Owners.customs_entry, CustomsEntryNotFound),
    "webhook_id": Kind(Owners.webhook, WebhookNotFound),
}
# Path parameters the handler looks up within the caller's account only (the
# account is part of the key), so another account's is not found by construction.
SCOPED = frozenset({"po_number", "supplier", "warehouse"})


def sees_all(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the caller sees every account's objects (every role but merchant)."""
    return connection.state.role != "merchant"


def scope(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The account whose objects a list shows the caller: a merchant's own,
    None (every account) for the others."""
    return None if sees_all(connection) else str(connection.state.account)


async def check_path(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Raise, for a merchant, what an unknown object raises when a path
    parameter names another account's object or an unknown one."""
    if sees_all(connection):
        return
    owners: Owners = connection.app.state[OWNERS]
    for name, raw in connection.path_params.items():
        kind = OWNED.get(name)
        if kind is None:
            if name in SCOPED:
                continue
            raise InternalServerException(f"the path parameter {name!r} has no ownership check")
        owner = await anyio.to_thread.run_sync(kind.owner, owners, str(raw))
        # an unknown object too: were it left to the handler, a body it refuses
        # first (400) would tell an unknown object from another account's (404)
        if owner != connection.state.account:
            raise kind.unknown(str(raw))


def check_shipment(connection: ASGIConnection[Any, Any, Any, Any], tn: TrackingNumber) -> None:
    """For a shipment named in a body: raise, for a merchant, what an
    unbooked number raises when it is another account's. (Blocking: call
    it from a handler running in a worker thread.)"""
    if sees_all(connection):
        return
    owner = connection.app.state[OWNERS].shipment(tn)
    if owner is not None and owner != connection.state.account:
        raise ShipmentNotFound(tn)
