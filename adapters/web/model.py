"""The tracking page's content, worded: the tracking view (the same
document GET /api/v1/track answers) decoded, its codes turned into the
request's language, its places into names and its times into local time.
The domain (tracking.progress) judges the milestones and the window; this
only words them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import msgspec

from tracking.codes import ExceptionReason, ScanEvent, Status
from tracking.customs import CustomsStatus, HoldReason
from tracking.progress import Seen, milestones, planned_window

from adapters.web import words
from adapters.web.i18n import Language
from adapters.web.places import Place, Places


class _Expected(msgspec.Struct):
    event: ScanEvent
    location: str
    voyage: str | None = None


class _Event(msgspec.Struct):
    event: ScanEvent
    location: str
    occurred_at: datetime
    voyage: str | None = None
    reason: ExceptionReason | None = None


class _Customs(msgspec.Struct):
    country: str
    status: CustomsStatus
    since: datetime
    hold_reason: HoldReason | None = None


class _View(msgspec.Struct):
    """What the page reads of the tracking view (it ignores the rest)."""

    tracking_number: str
    status: Status
    last_location: str | None
    misdirected: bool
    next_expected: _Expected | None
    eta: datetime | None
    deliver_by: datetime | None
    origin: str
    destination: str
    events: list[_Event]
    customs: list[_Customs] = []


_decode = msgspec.json.Decoder(_View).decode


class Line(NamedTuple):  # a tuple: built 20 times a page, a frozen dataclass twice as slowly
    """One event, newest first on the page."""

    text: str
    detail: str | None
    when: str  # local time, worded
    iso: str


class StepLine(NamedTuple):
    text: str
    state: str  # "done", "current", "todo": a class, and worded beside it
    state_text: str
    when: str | None


@dataclass
class TrackingPage:
    tracking_number: str
    status: str
    status_text: str
    status_code: str
    steps: list[StepLine]
    where: str | None
    next: str | None
    eta: str | None
    window: str | None
    late: str | None
    events: list[Line]
    customs: list[str]
    announce: str
    destination: str | None = None  # only for someone who gave the recipient's postcode


def tracking_page(view_json: bytes, lang: Language, places: Places) -> TrackingPage:
    view = _decode(view_json)
    _ = lang.gettext

    def place(code: str) -> Place:
        return places.get(code)

    title, text = words.STATUS[view.status]
    events = sorted(view.events, key=lambda e: e.occurred_at, reverse=True)
    lines = []
    for e in events:
        at = place(e.location)
        lines.append(Line(
            text=words.sentence(lang, words.EVENT[e.event], at.label, e.voyage),
            detail=_(words.REASON[e.reason]) if e.reason else None,
            when=lang.time_at(places.local(e.occurred_at, at)),
            iso=e.occurred_at.isoformat(),
        ))
    state_words = {"done": _("done"), "current": _("now"), "todo": _("to come")}
    steps = []
    for s in milestones(view.status, view.origin, view.destination,
                        [Seen(e.event, e.location, e.occurred_at) for e in view.events],
                        [(c.country, c.status) for c in view.customs]):
        state = "current" if s.current else "done" if s.reached else "todo"
        steps.append(StepLine(_(words.MILESTONE[s.milestone]), state, state_words[state],
                              lang.date(s.at) if s.at else None))
    nxt = None
    if view.next_expected is not None:
        n = view.next_expected
        nxt = words.sentence(lang, words.NEXT[n.event], place(n.location).label, n.voyage)
    elif view.misdirected:
        nxt = _("Your parcel is not where its route expected it; it is being sent on its way again.")
    elif not view.status.is_terminal:
        nxt = _("No next step is planned yet.")
    window = planned_window(view.eta, view.deliver_by)
    dest = place(view.destination)
    eta = window_text = late = None
    if window is not None:
        at_dest = places.local(window.earliest, dest)
        eta = lang.date(places.local(view.eta, dest)) if view.eta else None
        if window.latest != window.earliest:
            window_text = lang.date_range(at_dest, places.local(window.latest, dest))
        if window.late and view.deliver_by is not None:
            late = _("Later than the promised date, %(date)s.") % {
                "date": lang.date(places.local(view.deliver_by, dest))}
    customs = [
        _("Customs in %(country)s: %(status)s") % {"country": c.country, "status": _(words.CUSTOMS[c.status])}
        + (f" ({_(words.HOLD[c.hold_reason])})" if c.hold_reason else "")
        for c in view.customs
    ]
    where = None
    if view.last_location:
        where = _("Last seen at %(place)s.") % {"place": place(view.last_location).label}
    announce = _("Update: %(event)s.") % {"event": lines[0].text} if lines else _(title)
    return TrackingPage(
        tracking_number=view.tracking_number, status=_(title), status_text=_(text),
        status_code=view.status.value, steps=steps, where=where, next=nxt, eta=eta,
        window=window_text, late=late, events=lines, customs=customs, announce=announce,
    )
