"""The support agents' console, ``/agent``: server-rendered pages over the
same views and commands the JSON API uses (adapters/http/exceptions.py,
adapters/http/explain.py, the dead-letter store), behind a session
(adapters/http/session.py) and Litestar's CSRF protection on every form.

Pages: sign-in and sign-out; the exceptions queue (open ones oldest first,
counts per kind, filter by kind, the closed list); a shipment (the
customer's view as of any recorded moment, the audit timeline, why each
field is what it is, its customs entries, casework forms on its open
exceptions); search (adapters/http/console_search.py); dead letters with
resubmission, one or several (adapters/http/console_letters.py). In the
agent's language, through the tracking page's catalogues. A page is
complete without JavaScript.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import msgspec
from babel.dates import format_datetime
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from litestar import Controller, MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.utils.scope.state import ScopeState

from adapters.access_records import AccessRecords, MemoryAccessRecords
from adapters.deadletters import DeadLetterStore
from adapters.http import console_search, schemas
from adapters.http.exceptions import CaseworkIn, queue_item, record_casework
from adapters.http.personal_data import masked, personal_view, reason_of
from adapters.http.ratelimit import Buckets
from adapters.http.security import page_headers
from adapters.http.session import COOKIE, PATH, ConsoleSession, Sessions, SignInRefused
from adapters.http.signin import SessionPages, see_other
from adapters.http.signouts import SignOuts
from adapters.web.i18n import Catalogues, Language
from projections.customs import READ_MODEL as CUSTOMS
from projections.exceptions import Queue
from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS
from projections.views import shipment_view
from tracking.application import ShipmentService
from tracking.errors import InvalidInput, ShipmentNotFound, TrackingError
from tracking.exceptions import ExceptionKind
from tracking.explanation import explain
from tracking.identifiers import TrackingNumber
from tracking.shipment import Shipment

# Sign-in tries one address may make: 5 at once, then one every 30 s.
SIGN_INS, SIGN_IN_REFILL_PER_SECOND = 5, 1 / 30
_RETRACTIONS = ("ScanRetracted", "RetractedEventRecorded")
# The queue page: open exceptions 50 at a time, oldest first; the 50 latest closed.
QUEUE_PAGE, CLOSED_SHOWN = 50, 50


class SignInForm(msgspec.Struct):
    token: str = ""


class CaseworkForm(msgspec.Struct):
    action: str = ""
    assignee: str = ""
    text: str = ""
    until: str = ""


class Console:
    """What the console's pages need, built once per app."""

    def __init__(self, service: ShipmentService, views: Views, sessions: Sessions,
                 letters: DeadLetterStore | None, records: AccessRecords | None = None) -> None:
        self.service, self.sessions, self.letters = service, sessions, letters
        self.pages = SessionPages(PATH, COOKIE, "console_session", sessions)
        # every agent's look at a recipient, on the record (adapters/access_records.py)
        self.records = records if records is not None else MemoryAccessRecords()
        self.views = views
        self.devices: frozenset[str] | None = None
        self.shipments, self.customs = views[SHIPMENTS], views[CUSTOMS]
        self.sign_ins = Buckets(SIGN_INS, SIGN_IN_REFILL_PER_SECOND)
        # Templates of their own (adapters/web/console), through the same
        # catalogues as the tracking page, one environment per language.
        self.catalogues = Catalogues.installed()
        self.envs = {tag: self._environment(lang)
                     for tag, lang in self.catalogues.languages.items()}

    def _environment(self, lang: Language) -> Environment:
        # its own templates first, then the frame it shares with the merchant's pages
        env = Environment(loader=ChoiceLoader([PackageLoader("adapters.web", "console"),
                                               PackageLoader("adapters.web", "templates")]),
                          autoescape=select_autoescape(default=True),
                          extensions=["jinja2.ext.i18n"], trim_blocks=True,
                          lstrip_blocks=True, auto_reload=False)
        env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
        env.filters["when"] = lambda value: _when(value, lang)
        env.filters["open_for"] = _open_for
        env.globals.update(quote=quote, utc=UTC, none=None, lang=lang)
        return env

    def language(self, request: Request[Any, Any, Any]) -> Language:
        """``?lang=``, else the browser's Accept-Language, else English."""
        return self.catalogues.choose(request.query_params.get("lang"),
                                      request.headers.get("accept-language"))

    def render(self, request: Request[Any, Any, Any], template: str, status: int = 200,
               headers: dict[str, str] | None = None, **context: Any) -> Response[bytes]:
        session = request.scope.get("console_session")
        lang = self.language(request)
        for key in _TRANSLATED:  # the handlers' sentences (N_), as they are when not marked
            if isinstance(context.get(key), str):
                context[key] = lang.gettext(context[key])
        html = self.envs[lang.tag].get_template(template).render(
            session=session, csrf=ScopeState.from_scope(request.scope).csrf_token, **context)
        return Response(html.encode(), status_code=status, media_type=MediaType.HTML,
                        headers={**page_headers(), "Cache-Control": "no-store",
                                 "Content-Language": lang.tag, "Vary": "Accept-Language",
                                 **(headers or {})})


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "extract, translate later"
    return message


_TRANSLATED = ("heading", "text", "error")


def _when(value: Any, lang: Language) -> str:
    """A time as agents read it: Babel's medium format in their language, in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is None:
        return ""
    return format_datetime(value, "medium", tzinfo=UTC, locale=lang.locale) + " UTC"


def _open_for(seconds: int) -> str:
    """How long an exception has been open: the SLA clock, in hours and minutes."""
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class SignIn(Controller):
    path = PATH
    include_in_schema = False

    @get("/sign-in")
    async def form(self, request: Request[Any, Any, Any],
                   console: NamedDependency[Console]) -> Response[bytes]:
        return console.render(request, "sign_in.html", error=None)

    @post("/sign-in", status_code=303)
    async def sign_in(
        self, request: Request[Any, Any, Any], console: NamedDependency[Console],
        data: SignInForm = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
    ) -> Response[bytes]:
        wait = console.sign_ins.wait(_client(request))
        if wait > 0:
            return console.render(request, "sign_in.html", 429,
                                  {"Retry-After": str(int(wait) + 1)},
                                  error=N_("Too many sign-in attempts from your address. Try again in "
                                           "30 seconds."))
        try:
            _, value = console.sessions.sign_in(data.token.strip())
        except SignInRefused as refused:
            if refused.known:
                return console.render(request, "sign_in.html", 403, error=N_(
                    "That token may not use the console: only agent and admin tokens may."))
            return console.render(request, "sign_in.html", 401,
                                  error=N_("That token is not known."))
        return console.pages.signed_in(request, value, PATH)

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any],
                       console: NamedDependency[Console]) -> Response[bytes]:
        return console.pages.signed_out(request)


class ConsolePages(Controller):
    path = PATH
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def queue(self, request: Request[Any, Any, Any],
              console: NamedDependency[Console]) -> Response[bytes]:
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in ExceptionKind.__members__.values():
            kind = None
        try:
            page = max(0, int(request.query_params.get("page") or 0))
        except ValueError:
            page = 0
        now = console.service.clock()
        # One page of the oldest first (one more row read: is there a next page?).
        rows = console.shipments.exceptions(state="open", kind=kind, limit=QUEUE_PAGE + 1,
                                            offset=page * QUEUE_PAGE)
        closed_counts = console.shipments.exception_counts(state="closed")
        closed_total = closed_counts.get(kind, 0) if kind else sum(closed_counts.values())
        closed = console.shipments.exceptions(state="closed", kind=kind, limit=CLOSED_SHOWN,
                                              offset=max(0, closed_total - CLOSED_SHOWN))
        return console.render(
            request, "queue.html", kind=kind, kinds=list(ExceptionKind), page=page,
            more=len(rows) > QUEUE_PAGE,
            counts=console.shipments.exception_counts(state="open"),
            open=[queue_item(r, now) for r in rows[:QUEUE_PAGE]],
            closed=[queue_item(r, now) for r in reversed(closed)])

    @get("/search", sync_to_thread=True)
    def search(self, request: Request[Any, Any, Any],
               console: NamedDependency[Console]) -> Response[bytes]:
        q = request.query_params.get("q") or request.query_params.get("tracking_number", "")
        try:
            asking = console_search.Asking(
                console.views, request.scope["console_session"],  # type: ignore[typeddict-item]
                console.service.personal_data, console.records, console.service.clock,
                reason_of(request))
            found = console_search.search(asking, q)
        except InvalidInput as e:
            return console.render(request, "message.html", 400, heading=N_("Nothing to search for"),
                                  text=e.reason)
        if len(found) == 1 and found[0].kind == "tracking number":
            return see_other(f"{PATH}/shipments/{found[0].tracking_numbers[0]}")
        return console.render(request, "search.html", 200 if found else 404, q=q.strip(),
                              found=found)

    @get("/shipments/{tracking_number:str}", sync_to_thread=True)
    def shipment(self, tracking_number: FromPath[str], request: Request[Any, Any, Any],
                 console: NamedDependency[Console]) -> Response[bytes]:
        try:
            tn = TrackingNumber(tracking_number)
            as_of = _as_of(request.query_params.get("as_of", ""))
            page = shipment_page(console, tn, as_of)
            session: ConsoleSession = request.scope["console_session"]  # type: ignore[typeddict-item]
            page["view"] = personal_view(
                page["view"], service=console.service, records=console.records,
                principal=session.principal, role=session.role, what="console shipment page",
                reason=reason_of(request))
            return console.render(request, "shipment.html", done=request.query_params.get("done"),
                                  **page)
        except InvalidInput as e:
            return console.render(request, "message.html", 400, heading=N_("Cannot show that"),
                                  text=f"{e.field}: {e.reason}")
        except ShipmentNotFound as e:
            return console.render(request, "message.html", 404, heading=N_("Not found"),
                                  text=str(e))

    @post("/shipments/{tracking_number:str}/exceptions/{kind:str}", sync_to_thread=True,
          status_code=303)
    def work(
        self, tracking_number: FromPath[str], kind: FromPath[str],
        request: Request[Any, Any, Any], console: NamedDependency[Console],
        data: CaseworkForm = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
    ) -> Response[bytes]:
        session: ConsoleSession = request.scope["console_session"]  # type: ignore[typeddict-item]
        try:
            until = _as_of(data.until, "until") if data.until else None
            body = CaseworkIn(action=data.action, assignee=data.assignee or None,  # type: ignore[arg-type]
                              text=data.text or None, until=until)
            record_casework(console.service, session.principal, tracking_number, kind, body)
        except TrackingError as e:
            return console.render(request, "message.html", 422, heading=N_("Not recorded"),
                                  text=str(e), back=f"{PATH}/shipments/{quote(tracking_number)}")
        return see_other(f"{PATH}/shipments/{quote(tracking_number)}?done={quote(data.action)}")


def _as_of(raw: str, field: str = "as_of") -> datetime | None:
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(field, f"{raw!r} is not a time (RFC 3339)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # the form's field is UTC


def shipment_page(console: Console, tn: TrackingNumber, as_of: datetime | None) -> dict[str, Any]:
    """Everything the shipment page shows, from its history (cut at ``as_of``)."""
    events = console.service.history(tn)
    if as_of is not None:
        events = list(itertools.takewhile(lambda e: e.timestamp <= as_of, events))
    shipment: Any = None
    for event in events:
        shipment = event.mutate(shipment)
    if not isinstance(shipment, Shipment) or not shipment.is_booked:
        raise ShipmentNotFound(tn, as_of=as_of)
    delivery = shipment.delivery()
    view = msgspec.to_builtins(shipment_view(shipment, delivery, []),
                               enc_hook=lambda o: str(o))
    retracted = {e.retracted_id: e.originator_version for e in events
                 if type(e).__name__ in _RETRACTIONS}
    timeline = []
    for e in events:
        entry = msgspec.to_builtins(masked(schemas.history_entry(e)))
        scan_id = getattr(getattr(e, "scan", None), "scan_id", None) or getattr(e, "note_id", None)
        entry["retracted_at"] = retracted.get(scan_id) if scan_id else None
        entry["retracts"] = getattr(e, "retracted_id", None)
        timeline.append(entry)
    own = str(shipment.tracking_number)
    rows = console.shipments.exceptions(state=None, kind=None, limit=100, offset=0,
                                        queue=Queue(tracking_number=own))
    now = console.service.clock()
    return {
        "number": own, "asked": str(tn), "as_of": as_of, "view": view,
        "timeline": list(reversed(timeline)), "explained": explain(events).fields,
        "customs": [msgspec.json.decode(doc) for doc in console.customs.entries(
            status=None, country=None, tracking_number=own, limit=50, offset=0)],
        "exceptions": [queue_item(r, now) for r in rows],
        "actions": ["acknowledge", "assign", "comment", "snooze", "resolve"],
    }


def routes(service: ShipmentService, views: Views, tokens: Any,
           letters: DeadLetterStore | None, records: AccessRecords | None = None,
           sign_outs: SignOuts | None = None, devices: frozenset[str] | None = None) -> Router:
    """The console's pages on one router, CSRF-protected (every form).
    ``devices``: the registered scanners (TRACKING_DEVICES), which a dead
    letter resubmitted as stored is parsed against."""
    from adapters.http.console_letters import DeadLetterPages  # it builds on this module

    sessions = Sessions(tokens, sign_outs=sign_outs)
    console = Console(service, views, sessions, letters, records)
    console.devices = devices
    return console.pages.router([SignIn, ConsolePages, DeadLetterPages], "console", console)
