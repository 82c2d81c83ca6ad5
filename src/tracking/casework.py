"""Casework: what support agents do about a shipment's exceptions, each an
event on the shipment with the agent's identity, so it is in the history.

An agent acknowledges an open exception, assigns it (to an agent's name),
comments on it, snoozes it (until a time) and resolves it. Whether an
exception is open is the domain's answer (``tracking.exceptions``); these
events only record what people did about it. A resolved exception stays
resolved while its condition goes on (the exceptions view judges that after
each event); once the condition ends, the same kind coming back is a new
exception.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from tracking.occurred import WHEN_RECORDED
from tracking.errors import InvalidInput
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.scan import Source
from tracking.shipment import Shipment

MAX_TEXT = 2000
MAX_NAME = 80


class CaseAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    COMMENT = "comment"
    SNOOZE = "snooze"
    RESOLVE = "resolve"


class Casework(msgspec.Struct, frozen=True, kw_only=True):
    """One thing an agent does about one exception, checked (``casework``)."""

    kind: ExceptionKind
    action: CaseAction
    assignee: str | None = None
    text: str | None = None
    until: datetime | None = None


def casework(
    kind: str, action: str, *, assignee: str | None = None, text: str | None = None,
    until: datetime | None = None, now: datetime,
) -> Casework:
    """The casework asked for, or InvalidInput naming the field that cannot be right."""
    try:
        k = ExceptionKind(kind)
    except ValueError:
        raise InvalidInput("kind", f"{kind!r} is not an exception kind") from None
    try:
        a = CaseAction(action)
    except ValueError:
        choices = ", ".join(CaseAction)
        raise InvalidInput("action", f"{action!r} is not one of {choices}") from None
    if a is CaseAction.ASSIGN:
        assignee = (assignee or "").strip()
        if not assignee or len(assignee) > MAX_NAME or not assignee.isprintable():
            raise InvalidInput("assignee", f"an agent's name, 1 to {MAX_NAME} printable characters")
    if a is CaseAction.COMMENT:
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT:
            raise InvalidInput("text", f"a comment of 1 to {MAX_TEXT} characters")
    elif text is not None and len(text) > MAX_TEXT:
        raise InvalidInput("text", f"at most {MAX_TEXT} characters")
    if a is CaseAction.SNOOZE:
        if until is None or until.tzinfo is None:
            raise InvalidInput("until", "a time with a UTC offset (RFC 3339)")
        if until <= now:
            raise InvalidInput("until", f"{until.isoformat()} is not after now")
    return Casework(kind=k, action=a, assignee=assignee if a is CaseAction.ASSIGN else None,
                    text=text or None, until=until if a is CaseAction.SNOOZE else None)


class ExceptionWorked(Shipment.Event):
    """An agent did something about the shipment's open exception ``kind``.
    Nothing derived changes: the exceptions view records it."""

    kind: ExceptionKind
    source: Source
    occurred_at = WHEN_RECORDED  # an agent's act happens as it is recorded

    def apply(self, aggregate: Any) -> None:
        """Nothing of the shipment changes (nor when it was last heard of: an
        agent's note is not news of the parcel)."""


class ExceptionAcknowledged(ExceptionWorked):
    pass


class ExceptionAssigned(ExceptionWorked):
    assignee: str


class ExceptionCommented(ExceptionWorked):
    text: str


class ExceptionSnoozed(ExceptionWorked):
    until: datetime


class ExceptionResolved(ExceptionWorked):
    note: str | None


def work(shipment: Shipment, work: Casework, source: Source) -> None:
    """Record the casework on the shipment: refused (InvalidInput on ``kind``)
    unless the exception's condition holds now."""
    shipment.require_booked()
    if work.kind not in open_exceptions(shipment):
        raise InvalidInput("kind", f"{shipment.tracking_number} has no open {work.kind} exception")
    common: dict[str, Any] = {"kind": work.kind, "source": source}
    if work.action is CaseAction.ACKNOWLEDGE:
        shipment.trigger_event(ExceptionAcknowledged, **common)
    elif work.action is CaseAction.ASSIGN:
        shipment.trigger_event(ExceptionAssigned, assignee=work.assignee, **common)
    elif work.action is CaseAction.COMMENT:
        shipment.trigger_event(ExceptionCommented, text=work.text, **common)
    elif work.action is CaseAction.SNOOZE:
        shipment.trigger_event(ExceptionSnoozed, until=work.until, **common)
    else:
        shipment.trigger_event(ExceptionResolved, note=work.text, **common)
