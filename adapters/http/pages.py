"""The customer's pages: ``GET /`` (one field, the tracking number) and
``GET /track/{tracking_number}``, server-rendered in the customer's
language from the same tracking view ``GET /api/v1/track`` answers, and
the assets they need, served from the package.

A handler parses, reads the view, renders: what the parcel's progress is
and what comes next are the domain's (tracking.progress, the view), words
and places are adapters.web's. ``?postcode=`` equal to the recipient's
also shows the destination and the e-mail subscription form; a wrong one
shows exactly what none shows, and wrong guesses from one address are
limited (a token bucket, as the API's rate limit).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import anyio
import msgspec
from jinja2 import BaseLoader, Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from litestar import Controller, MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from adapters.http.plain import Answer, matches
from adapters.http.ratelimit import UnknownNumbers, guesses
from adapters.http.security import page_headers
from adapters.http.stream import stream_route
from adapters.live import LiveViews
from adapters.web.i18n import Catalogues, Language
from adapters.web.model import tracking_page
from adapters.web.places import Places
from projections.links import READ_MODEL as LINKS
from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS
from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber, shipment_id
from tracking.scan import Source
from tracking.booking import Recipient
from tracking.personal_data import SealedRecipient, subject_of
from tracking.subscription import EmailAddress, postcode_matches
from tracking.validation import RecordedDecoder

log = logging.getLogger(__name__)
PAGE_SOURCE = Source(SourceKind.SYSTEM, "tracking-page")
# Rendered pages kept per process, by ETag (a changed view is a new page), in
# bytes, not pages: a page's size grows with its events (2 MB: ~250 pages of 8 KB).
RENDERED_BYTES = 2 * 2**20
CACHE_CONTROL = "private, no-cache"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


class _Full(msgspec.Struct):
    """What a postcode check reads of the agent's view (never rendered): the
    recipient as kept, sealed (tracking.personal_data) or, booked before
    sealing, plain."""

    destination: str
    recipient: Recipient | SealedRecipient | None = None


_full = RecordedDecoder(_Full).decode


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


class Web:
    """Everything the pages need, built once per app: templates, catalogues,
    place names, assets, the live views, the wrong-guess buckets."""

    def __init__(self, service: ShipmentService, views: Views, live: LiveViews,
                 unknown: UnknownNumbers | None = None) -> None:
        self.service, self.live = service, live
        self.shipments, self.links = views[SHIPMENTS], views[LINKS]
        self.catalogues = Catalogues.installed()
        self.places = Places.installed()
        self.guesses = guesses()  # wrong postcodes
        self.unknown = unknown or UnknownNumbers()  # shared with the API's track routes
        static = resources.files("adapters.web").joinpath("static")
        self.assets = {
            f.name: Asset(f.read_bytes(), _STATIC_TYPES[f.name[f.name.rfind("."):]],
                          hashlib.blake2b(f.read_bytes(), digest_size=8).hexdigest())
            for f in static.iterdir() if f.name[f.name.rfind("."):] in _STATIC_TYPES
        }
        # What a page looks like depends on templates, catalogues and assets too.
        version = hashlib.blake2b(digest_size=8)
        for folder in ("templates", "locale"):
            for f in _walk(resources.files("adapters.web").joinpath(folder)):
                version.update(f.read_bytes())
        for a in sorted(self.assets):
            version.update(self.assets[a].etag.encode())
        self.version = version.hexdigest()
        self.rendered: OrderedDict[str, bytes] = OrderedDict()
        self.rendered_bytes = 0
        self.environments = {tag: self._environment(lang)
                             for tag, lang in self.catalogues.languages.items()}

    def _environment(self, lang: Language) -> Environment:
        loader: BaseLoader = _Translated(lang)
        env = Environment(loader=loader,
                          autoescape=select_autoescape(default=True),
                          extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                          auto_reload=False)  # package data: no stat() of three files a page
        env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
        urls = {name: f"/static/{name}?v={a.etag}" for name, a in self.assets.items()}
        env.globals.update(lang=lang, languages=list(self.catalogues.languages.values()),
                           asset=urls.__getitem__)
        # The same in every page of a language: rendered once (an include a page was
        # a context of its own, five language names looked up).
        env.globals["languages_menu"] = Markup(  # nosec B704: our own template's output, autoescaped
            env.get_template("_languages.html").render())
        return env

    def render(self, lang: Language, template: str, status: int = 200,
               headers: dict[str, str] | None = None, **context: Any) -> Response[bytes]:
        html = self.environments[lang.tag].get_template(template).render(**context).encode()
        return self.html(lang, html, status, headers)

    def html(self, lang: Language, html: bytes, status: int = 200,
             headers: dict[str, str] | None = None) -> Response[bytes]:
        return Response(html, status_code=status, media_type=MediaType.HTML,
                        headers={**page_headers(), "Content-Language": lang.tag,
                                 "Vary": "Accept-Language", **(headers or {})})

    def tag(self, view: bytes, lang: Language, destination: str | None = None,
            subscribed: bool = False) -> str:
        """The ETag of the tracking page of this view: what it depends on."""
        return '"%s"' % hashlib.blake2b(
            b"|".join([view, lang.tag.encode(), (destination or "").encode(),
                       b"s" if subscribed else b"", self.version.encode()]),
            digest_size=12).hexdigest()

    def page(self, etag: str, view: bytes, lang: Language, destination: str | None = None,
             subscribed: bool = False, postcode: str = "") -> bytes:
        """The tracking page of this view (``etag``: its tag): rendered, or
        as rendered before (kept by ETag: a changed view is a new page)."""
        html = self.rendered.get(etag)
        if html is not None:
            self.rendered.move_to_end(etag)
            return html
        page = tracking_page(view, lang, self.places)
        page.destination = destination
        html = self.environments[lang.tag].get_template("track.html").render(
            page=page, etag=etag, postcode=postcode if destination else "",
            subscribed=subscribed, email_error=None, number=None).encode()
        self.rendered[etag] = html
        self.rendered_bytes += len(html)
        while self.rendered_bytes > RENDERED_BYTES:
            self.rendered_bytes -= len(self.rendered.popitem(last=False)[1])
        return html

    def message(self, lang: Language, status: int, heading: str, text: str,
                more: str | None = None, number: str | None = None,
                headers: dict[str, str] | None = None) -> Response[bytes]:
        return self.render(lang, "message.html", status, headers, heading=heading, text=text,
                           more=more, number=number)


# {{ _("a constant message") }}: translated once, when a language's template loads.
_CONSTANT = re.compile(r"""\{\{\s*_\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)\s*\}\}""")


class _Translated(PackageLoader):
    """The templates with their constant messages already in one language
    (a third of a page's rendering was gettext calls); messages with
    arguments stay calls. The sources keep ``_()``, so extraction is as ever."""

    def __init__(self, lang: Language) -> None:
        super().__init__("adapters.web", "templates")
        self.lang = lang

    def get_source(self, environment: Environment, template: str) -> Any:
        source, filename, uptodate = super().get_source(environment, template)

        def translated(m: re.Match[str]) -> str:
            text = str(escape(self.lang.gettext(ast.literal_eval(m.group(1)))))
            return text.replace("{", "&#123;").replace("}", "&#125;")

        return _CONSTANT.sub(translated, source), filename, uptodate


def _walk(folder: Any) -> list[Any]:
    found = []
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        found += _walk(f) if f.is_dir() else [f]
    return found


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _language(web: Web, request: Request[Any, Any, Any], asked: str | None = None) -> Language:
    return web.catalogues.choose(asked or request.query_params.get("lang"),
                                 request.headers.get("accept-language"))


class SubscribeForm(msgspec.Struct):
    email: str = ""
    postcode: str = ""
    lang: str = ""


class TrackingPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any],
                    web: NamedDependency[Web]) -> Response[bytes]:
        return web.render(_language(web, request), "index.html", number=None)

    @get("/track")
    async def lookup(self, request: Request[Any, Any, Any],
                     web: NamedDependency[Web]) -> Response[bytes]:
        """The form's answer: on to the number's page (the form works without script)."""
        raw = request.query_params.get("tracking_number", "")
        lang = _language(web, request)
        try:
            tn = TrackingNumber(raw)
        except InvalidInput:
            return _not_a_number(web, lang, raw)
        return Response(b"", status_code=303, headers={
            **page_headers(), "Location": f"/track/{tn}?{urlencode({'lang': lang.tag})}"})

    @get("/track/{tracking_number:str}")
    async def track(self, tracking_number: FromPath[str], request: Request[Any, Any, Any],
                    web: NamedDependency[Web]) -> Response[bytes]:
        lang = _language(web, request)
        postcode = request.query_params.get("postcode", "")
        try:
            tn = TrackingNumber(tracking_number)
        except InvalidInput:
            return _not_a_number(web, lang, tracking_number)
        if postcode and (wait := web.guesses.wait(_client(request), take=False)) > 0:
            return _too_many(web, lang, str(tn), wait)
        if (wait := web.unknown.wait(_client(request))) > 0:
            return _too_many(web, lang, str(tn), wait)  # numbers tried: adapters/http/ratelimit.py
        found = await _read(web, tn)
        if found is None:
            web.unknown.missed(_client(request), str(tn))
            return web.message(
                lang, 404, lang.gettext("Not found"),
                lang.gettext("We have no parcel with the number %(number)s.") % {"number": tn},
                lang.gettext("Check the number on your receipt. A parcel appears here once "
                             "the sender has booked it."), number=str(tn))
        sid, view = found
        destination = None
        if postcode:
            destination = await _destination(web, sid, postcode)
            if destination is None:
                web.guesses.wait(_client(request))  # a wrong guess spends a token
        subscribed = destination is not None and request.query_params.get("subscribed") == "1"
        etag = web.tag(view, lang, destination, subscribed)
        caching = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if matches(etag, request.headers.get("if-none-match")):
            return Response(b"", status_code=304, headers={**page_headers(), **caching,
                                                          "Vary": "Accept-Language"})
        html = web.page(etag, view, lang, destination, subscribed, postcode)
        return web.html(lang, html, headers=caching)

    @post("/track/{tracking_number:str}/subscriptions", status_code=303)
    async def subscribe(
        self, tracking_number: FromPath[str], request: Request[Any, Any, Any],
        web: NamedDependency[Web],
        data: SubscribeForm = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
    ) -> Response[bytes]:
        lang = _language(web, request, data.lang)
        try:
            tn = TrackingNumber(tracking_number)
        except InvalidInput:
            return _not_a_number(web, lang, tracking_number)
        if (wait := web.guesses.wait(_client(request), take=False)) > 0:
            return _too_many(web, lang, str(tn), wait)
        if (wait := web.unknown.wait(_client(request))) > 0:
            return _too_many(web, lang, str(tn), wait)
        found = await _read(web, tn)
        if found is None:
            web.unknown.missed(_client(request), str(tn))
            return _see(tn, lang)
        sid, view = found
        destination = await _destination(web, sid, data.postcode)
        if destination is None:
            web.guesses.wait(_client(request))
            return _see(tn, lang)  # what no postcode shows
        try:
            email = EmailAddress(data.email)
        except InvalidInput:
            page = tracking_page(view, lang, web.places)
            page.destination = destination
            return web.render(lang, "track.html", 422, page=page, etag="",
                              postcode=data.postcode, subscribed=False, number=None,
                              email_error=lang.gettext("That is not an e-mail address."))
        # The shipment's own number: ``tn`` may be a later carrier's, after a hand-over.
        own = TrackingNumber(msgspec.json.decode(view)["tracking_number"])
        await anyio.to_thread.run_sync(web.service.shipments.subscribe, own, email, lang.tag, PAGE_SOURCE)
        return _see(tn, lang, postcode=data.postcode, subscribed="1")

    @get("/static/{name:str}")
    async def static(self, name: FromPath[str], request: Request[Any, Any, Any],
                     web: NamedDependency[Web]) -> Response[bytes]:
        asset = web.assets.get(name)
        if asset is None:
            return Response(b"not found", status_code=404, media_type="text/plain",
                            headers=page_headers())
        headers = {**page_headers(), "ETag": f'"{asset.etag}"',
                   "Cache-Control": "public, max-age=31536000, immutable"}
        if f'"{asset.etag}"' in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)


async def _read(web: Web, tn: TrackingNumber) -> tuple[UUID, bytes] | None:
    """The tracking view, read as GET /api/v1/track reads it (on the event
    loop); a number handed over to a later carrier finds its shipment."""
    sid = shipment_id(tn)
    view = await web.shipments.public_view_async(sid)
    if view is None:
        linked = await anyio.to_thread.run_sync(web.links.shipment_of, str(tn))
        if linked is None:
            return None
        sid = shipment_id(linked)
        view = await anyio.to_thread.run_sync(web.shipments.public_view, sid)
    return None if view is None else (sid, view)


async def _destination(web: Web, sid: Any, postcode: str) -> str | None:
    """The destination's name, for someone who gave the recipient's postcode."""
    doc = await anyio.to_thread.run_sync(web.shipments.full_view, sid)
    if doc is None:
        return None
    full = _full(doc)
    r = full.recipient
    if r is None or not (postcode_matches(r.postcode, postcode) if isinstance(r, Recipient)
                         else web.service.personal_data.postcode_matches(subject_of(sid), r,
                                                                         postcode)):
        return None
    return web.places.get(full.destination).label


def _see(tn: TrackingNumber, lang: Language, **query: str) -> Response[bytes]:
    return Response(b"", status_code=303, headers={
        **page_headers(), "Location": f"/track/{tn}?{urlencode({'lang': lang.tag, **query})}"})


def _not_a_number(web: Web, lang: Language, raw: str) -> Response[bytes]:
    return web.message(lang, 400, lang.gettext("That is not a tracking number"),
                       lang.gettext("A tracking number has 6 to 40 letters and digits."),
                       number=raw[:40])


def _too_many(web: Web, lang: Language, tn: str, wait: float) -> Response[bytes]:
    minutes = max(1, round(wait / 60))
    return web.message(
        lang, 429, lang.gettext("Too many tries"),
        lang.gettext("Too many postcodes were tried from your address. "
                     "Try again in %(minutes)s minutes.") % {"minutes": minutes},
        number=tn, headers={"Retry-After": str(int(wait) + 1)})


class PlainPage:
    """The plain GET /track/{n} (no query: the language from Accept-Language),
    for adapters.http.plain: what ``TrackingPages.track`` answers it."""

    prefix, template = "/track/", "/track/{tracking_number}"

    def __init__(self, web: Web) -> None:
        self.web = web

    async def answer(self, number: TrackingNumber, accept_language: str | None) -> Answer | None:
        found = await _read(self.web, number)
        if found is None:
            return None
        view, lang = found[1], self.web.catalogues.choose(None, accept_language)
        etag = self.web.tag(view, lang)
        return Answer(etag, lambda: self.web.page(etag, view, lang), _PAGE_CACHING,
                      [(b"content-type", b"text/html; charset=utf-8"),
                       (b"content-language", lang.tag.encode())])


_PAGE_CACHING = [*((k.lower().encode(), v.encode()) for k, v in page_headers().items()),
                 (b"cache-control", CACHE_CONTROL.encode()), (b"vary", b"Accept-Language")]


def routes(web: Web) -> Router:
    """The pages, their assets and the live stream, on one router."""
    stream = stream_route(web.shipments, web.links, web.live)
    return Router(path="/", route_handlers=[TrackingPages, stream],
                  dependencies={"web": Provide(lambda: web, use_cache=True, sync_to_thread=False)})
