"""The merchant's pages, ``/merchant``: purchase orders and stock arriving,
server-rendered in the merchant's language over the same reader the JSON
API uses (``projections.stock.StockReader``), behind a session of their
own (a merchant token signs in; the cookie is HttpOnly, SameSite=Strict,
scoped to /merchant, and signed with a key no other pages' cookie shares)
and Litestar's CSRF protection on every form.

``GET /merchant``: the account's orders, those at risk first, each line's
progress and why it is at risk; and per warehouse a chart of what is
expected to arrive each day, at the ETAs and at the windows' latest
(``?days=`` how far ahead). A page is complete without JavaScript.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Controller, MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.utils.scope.state import ScopeState

from adapters.http.auth import principal_of
from adapters.http.purchase_orders import stock_reader
from adapters.http.security import page_headers
from adapters.http.session import ConsoleSession, Sessions, SignInRefused
from adapters.http.signin import SessionPages
from adapters.http.signouts import SignOuts
from adapters.web.i18n import Catalogues, Language
from adapters.web.inbound_chart import inbound_chart, warehouse_label
from projections.readmodel import Views
from projections.stock import StockReader
from tracking.account import DEFAULT_ACCOUNT
from tracking.application import ShipmentService

PATH = "/merchant"
COOKIE = "tracking_merchant"
MAX_ORDERS = 200
DAYS, MAX_DAYS = 30, 120


class SignInForm(msgspec.Struct):
    token: str = ""
    lang: str = ""


class Merchants:
    """What the merchant's pages need, built once per app."""

    def __init__(self, stock: StockReader, tokens: Any,
                 sign_outs: SignOuts | None = None) -> None:
        self.stock = stock
        self.sessions = Sessions(tokens, roles=frozenset({"merchant"}), purpose="merchant",
                                 sign_outs=sign_outs)
        self.pages = SessionPages(PATH, COOKIE, "merchant_session", self.sessions)
        known = self.sessions.tokens  # digests only
        self.accounts = {principal_of(role, digest): known.accounts.get(digest, DEFAULT_ACCOUNT)
                         for digest, role in known.items()}
        self.catalogues = Catalogues.installed()
        static = resources.files("adapters.web").joinpath("static")
        self.etags = {name: hashlib.blake2b(static.joinpath(name).read_bytes(),
                                            digest_size=8).hexdigest()
                      for name in ("page.css", "merchant.css")}
        self.environments = {tag: self._environment(lang)
                             for tag, lang in self.catalogues.languages.items()}

    def _environment(self, lang: Language) -> Environment:
        env = Environment(loader=PackageLoader("adapters.web", "templates"),
                          autoescape=select_autoescape(default=True),
                          extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                          auto_reload=False)
        env.install_gettext_translations(lang.translations, newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(lang=lang, languages=list(self.catalogues.languages.values()),
                           asset=lambda name: f"/static/{name}?v={self.etags[name]}",
                           label=warehouse_label)
        env.filters["day"] = lambda when: lang.date(when) if when else ""
        env.filters["moment"] = lambda when: lang.time_at(when) if when else ""
        return env

    def language(self, request: Request[Any, Any, Any], asked: str = "") -> Language:
        return self.catalogues.choose(asked or request.query_params.get("lang"),
                                      request.headers.get("accept-language"))

    def render(self, request: Request[Any, Any, Any], lang: Language, template: str,
               status: int = 200, **context: Any) -> Response[bytes]:
        html = self.environments[lang.tag].get_template(template).render(
            session=request.scope.get("merchant_session"),
            csrf=ScopeState.from_scope(request.scope).csrf_token, **context)
        return Response(html.encode(), status_code=status, media_type=MediaType.HTML,
                        headers={**page_headers(), "Cache-Control": "no-store",
                                 "Content-Language": lang.tag, "Vary": "Accept-Language"})


def _days(raw: str | None) -> int:
    """``?days=``: a whole number of days ahead, kept within the page's range."""
    try:
        return min(max(int(raw or DAYS), 1), MAX_DAYS)
    except ValueError:
        return DAYS


class MerchantPages(Controller):
    path = PATH
    include_in_schema = False

    @get("/sign-in")
    async def sign_in_form(self, request: Request[Any, Any, Any],
                           merchants: NamedDependency[Merchants]) -> Response[bytes]:
        return merchants.render(request, merchants.language(request), "merchant_sign_in.html",
                                error=None)

    @post("/sign-in", status_code=303)
    async def sign_in(
        self, request: Request[Any, Any, Any], merchants: NamedDependency[Merchants],
        data: SignInForm = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
    ) -> Response[bytes]:
        lang = merchants.language(request, data.lang)
        try:
            _, value = merchants.sessions.sign_in(data.token.strip())
        except SignInRefused as refused:
            error = (lang.gettext("Only a merchant token can sign in here.") if refused.known
                     else lang.gettext("That token is not known."))
            return merchants.render(request, lang, "merchant_sign_in.html",
                                    403 if refused.known else 401, error=error)
        return merchants.pages.signed_in(request, value, f"{PATH}?lang={lang.tag}")

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any],
                       merchants: NamedDependency[Merchants]) -> Response[bytes]:
        return merchants.pages.signed_out(request)

    @get("/", sync_to_thread=True)
    def orders(self, request: Request[Any, Any, Any],
               merchants: NamedDependency[Merchants]) -> Response[bytes]:
        session: ConsoleSession = request.scope["merchant_session"]  # type: ignore[typeddict-item]
        account = merchants.accounts.get(session.principal, DEFAULT_ACCOUNT)
        lang, days = merchants.language(request), _days(request.query_params.get("days"))
        stock = merchants.stock
        orders = stock.orders(account=account, supplier=None, warehouse=None, at_risk=None,
                              limit=MAX_ORDERS, offset=0)
        warehouses = sorted({o.warehouse for o in orders})
        charts = [inbound_chart(stock.inbound(warehouse=w, sku=None, days=days,
                                              account=account), lang) for w in warehouses]
        return merchants.render(request, lang, "merchant_orders.html", orders=orders,
                                charts=charts, days=days, account=account,
                                at_risk=sum(o.at_risk for o in orders))


def routes(service: ShipmentService, views: Views, tokens: Any,
           sign_outs: SignOuts | None = None) -> Router:
    """The merchant's pages on one router, CSRF-protected (every form)."""
    merchants = Merchants(stock_reader(views, service), tokens, sign_outs)
    return merchants.pages.router([MerchantPages], "merchants", merchants)
