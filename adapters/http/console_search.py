"""The console's search (``/agent/search?q=``): what an agent types, found
as a tracking number (its own or any linked one: a later carrier's after a
hand-over) and as a purchase order number (each account's order of that
number, with the shipments carrying it). Views only: nothing is replayed.

Each way of finding is a ``Finder``; ``FINDERS`` lists them in the order
their results are shown. Search by recipient name is a finder of its own
(it reads personal data, so it records the access: see the access trail),
added to ``FINDERS`` by that change; the signed-in agent is passed to every
finder for that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import msgspec

from adapters.http.session import ConsoleSession
from projections.links import READ_MODEL as LINKS
from projections.lookup import NumberLookup
from projections.purchase_orders import READ_MODEL as PURCHASE_ORDERS
from projections.purchase_orders import decode_order
from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS
from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber
from tracking.purchase_order import purchase_order_id

MAX_QUERY = 100


class Found(NamedTuple):
    """One thing the query names, and the shipments it leads to."""

    kind: str  # what matched: "tracking number", "purchase order"
    label: str  # as the agent reads it
    tracking_numbers: tuple[str, ...]


class _Own(msgspec.Struct):
    tracking_number: str


Finder = Callable[[Views, ConsoleSession, str], list[Found]]


def by_tracking_number(views: Views, session: ConsoleSession, q: str) -> list[Found]:
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


def by_purchase_order(views: Views, session: ConsoleSession, q: str) -> list[Found]:
    orders = views[PURCHASE_ORDERS]
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


FINDERS: list[Finder] = [by_tracking_number, by_purchase_order]


def search(views: Views, session: ConsoleSession, q: str) -> list[Found]:
    """Everything each finder finds for ``q`` (InvalidInput when it is empty
    or too long to be anything)."""
    q = q.strip()
    if not q or len(q) > MAX_QUERY or not q.isprintable():
        raise InvalidInput("q", f"type a tracking number or an order number (1 to {MAX_QUERY} "
                           "characters)")
    return [f for finder in FINDERS for f in finder(views, session, q)]
