"""The console's search (``/agent/search?q=``): what an agent types, found
as a tracking number (its own or any linked one: a later carrier's after a
hand-over), as a purchase order number (each account's order of that
number, with the shipments carrying it) and as words of a recipient's name
(the shipments whose recipient has every word of it, through the blind
name index beside the data keys: tracking.personal_data). Views and that
index only: nothing is replayed, no name is opened.

Each way of finding is a ``Finder``; ``FINDERS`` lists them in the order
their results are shown. Each gets the ``Asking``: who asks, why, and what
it may read; a search by recipient name finds shipments by personal data,
so each shipment it finds goes on the access trail first (who, "search by
recipient name", the tracking number, the reason: ``?reason=``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import msgspec

from adapters.access_records import AccessRecord, AccessRecords
from adapters.http.session import ConsoleSession
from projections.links import READ_MODEL as LINKS
from projections.lookup import NumberLookup
from projections.purchase_orders import READ_MODEL as PURCHASE_ORDERS
from projections.purchase_orders import decode_order
from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS
from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber
from tracking.personal_data import Vault
from tracking.purchase_order import purchase_order_id

MAX_QUERY = 100


class Found(NamedTuple):
    """One thing the query names, and the shipments it leads to."""

    kind: str  # what matched: "tracking number", "purchase order"
    label: str  # as the agent reads it
    tracking_numbers: tuple[str, ...]


class _Own(msgspec.Struct):
    tracking_number: str


class Asking(NamedTuple):
    """Who searches, why, and what a finder may read."""

    views: Views
    session: ConsoleSession
    vault: Vault  # the name index (service.personal_data)
    records: AccessRecords  # where a read of personal data goes on the record
    clock: Callable[[], datetime]
    reason: str  # why the agent searches (?reason=, or "none given")


Finder = Callable[[Asking, str], list[Found]]


def by_tracking_number(asking: Asking, q: str) -> list[Found]:
    views = asking.views
    try:
        tn = TrackingNumber(q)
    except InvalidInput:
        return []
    doc = NumberLookup(views[SHIPMENTS], views[LINKS]).full_view(tn)
    if doc is None:
        return []
    own = msgspec.json.decode(doc, type=_Own).tracking_number
    label = own if own == tn else f"{tn} (a linked number of {own})"
    return [Found("tracking number", label, (own,))]


def by_purchase_order(asking: Asking, q: str) -> list[Found]:
    orders = asking.views[PURCHASE_ORDERS]
    accounts = orders.accounts_with(q)
    docs = orders.projected([purchase_order_id(a, q) for a in accounts])
    found = []
    for doc in docs.values():
        order = decode_order(doc)
        found.append(Found("purchase order",
                           f"{order.po_number} · {order.supplier} → {order.warehouse} "
                           f"(account {order.account}{', cancelled' if order.cancelled else ''})",
                           tuple(sorted(order.notices))))
    return sorted(found, key=lambda f: f.label)


def by_recipient(asking: Asking, q: str) -> list[Found]:
    """Shipments whose recipient's name has every word of ``q`` (words of at
    least two characters; an erased recipient is in no index), each put on
    the access trail before it is shown."""
    shipments = asking.views[SHIPMENTS]
    docs = (shipments.full_view(UUID(subject)) for subject in asking.vault.find_recipients(q))
    found = sorted(msgspec.json.decode(d, type=_Own).tracking_number for d in docs if d)
    at = asking.clock()
    for tn in found:
        asking.records.add(AccessRecord(
            at=at, principal=asking.session.principal, role=asking.session.role,
            tracking_number=tn, what="search by recipient name", reason=asking.reason))
    return [Found("recipient name", q, tuple(found))] if found else []


FINDERS: list[Finder] = [by_tracking_number, by_purchase_order, by_recipient]


def search(asking: Asking, q: str) -> list[Found]:
    """Everything each finder finds for ``q`` (InvalidInput when it is empty
    or too long to be anything)."""
    q = q.strip()
    if not q or len(q) > MAX_QUERY or not q.isprintable():
        raise InvalidInput("q", "type a tracking number, an order number or a recipient's name "
                           f"(1 to {MAX_QUERY} characters)")
    return [f for finder in FINDERS for f in finder(asking, q)]
