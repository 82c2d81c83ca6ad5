"""The webhook subscription endpoints (merchants): subscribe a URL to kinds
of shipment message, list, rotate the secret, delete, read what was sent
(every attempt) and send again from a time. A merchant sees its own
account's subscriptions only: another's answers 404, as a missing one does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from adapters.http import openapi
from adapters.http.auth import allowed
from adapters.http.ownership import scope
from adapters.http.errors import error
from adapters.http.openapi import answer, operation
from adapters.http.paging import Page
from adapters.http.responses import json_response
from adapters.notify.addresses import check_destination
from adapters.notify.store import Attempt, DeliveryStore
from projections.outbox import READ_MODEL as OUTBOX, OutboxView, SqlOutboxView, Subscriber
from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.scan import Source
from tracking.webhook import MAX_URL, WebhookEvent, WebhookNotFound, check_url

MERCHANTS = allowed("merchant")
KEY_BYTES = 24  # 192-bit signing keys (Standard Webhooks asks for 24 to 64 bytes)
Url = Annotated[str, Parameter(schema_extra={"minLength": 1, "maxLength": MAX_URL,
                                             "format": "uri"})]
Since = Annotated[datetime, QueryParameter(description="re-send messages decided at or after "
                                           "this time (RFC 3339)")]


class WebhookIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    events: Annotated[list[WebhookEvent], Parameter(schema_extra={"minItems": 1})]


class NoBody(msgspec.Struct):
    """Nothing: the body, if any, is not read (what to do is in the path and query)."""


class WebhookOut(msgspec.Struct, kw_only=True):
    id: UUID
    url: str
    events: list[str]
    account: str
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut, kw_only=True):
    secret: str  # shown once, here
    position: int | None


class SecretOut(msgspec.Struct, kw_only=True):
    id: UUID
    secret: str  # the new one; the previous one signs too, until the next rotation
    position: int | None


class Deleted(msgspec.Struct, kw_only=True):
    id: UUID
    deleted: bool
    position: int | None


class Replayed(msgspec.Struct, kw_only=True):
    id: UUID
    messages: int  # how many are sent again (new attempts, the same webhook-ids)


def _out(s: Subscriber) -> WebhookOut:
    return WebhookOut(id=s.webhook_id, url=s.url, events=s.events, account=s.account,
                      active=s.active, created_at=s.created_at)


@dataclass(frozen=True)
class WebhookDesk:
    """What the webhook routes work with, given as one dependency
    (``webhooks``): the service, the outbox view, the delivery log (when the
    views are on a database) and whether http and private hosts are allowed."""

    service: ShipmentService
    view: OutboxView
    deliveries: DeliveryStore | None
    allow_private: bool

    @classmethod
    def load(cls, api: Any) -> WebhookDesk:
        """Over the API's service and views (``api``: adapters.http.app.Api)."""
        views = api.primary or api.store  # deliveries are written: never on a read replica
        view: OutboxView = views[OUTBOX]
        database = views.database
        deliveries = (DeliveryStore(database, view)
                      if isinstance(view, SqlOutboxView) and database is not None else None)
        return cls(api.service, view, deliveries, api.settings.notify.allow_private)

    def owned(self, request: Request[Any, Any, Any], text: str) -> UUID:
        """The id of a subscription the caller may see (WebhookNotFound else)."""
        try:
            webhook_id = UUID(text)
        except ValueError:
            raise WebhookNotFound(text) from None
        webhook = self.service.webhooks.get(webhook_id)
        if not _sees(request, webhook.account):
            raise WebhookNotFound(webhook_id)
        return webhook_id


def _source(request: Request[Any, Any, Any]) -> Source:
    return Source(SourceKind.AGENT, request.state.principal)


def _sees(request: Request[Any, Any, Any], account: str) -> bool:
    """Whether the caller may see an object of ``account``: a merchant its
    own only; an admin every account's."""
    return request.state.role != "merchant" or request.state.account == account


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201, summary="Subscribe a URL to shipment messages",
          **operation(MERCHANTS, errors=(400, 422, 503),
                      description="Answers the secret (whsec_ + base64) once. The URL must "
                                  "be https and must not resolve to loopback, private, "
                                  "link-local or metadata addresses.",
                      answers={201: answer(WebhookCreated, "Subscribed")}))
    async def create(self, data: JSONBody[WebhookIn], request: Request[Any, Any, Any],
                     webhooks: NamedDependency[WebhookDesk]) -> Response[bytes]:
        source, allow = _source(request), webhooks.allow_private
        check_url(data.url, allow_http=allow)  # the URL's shape, then where it goes
        await anyio.to_thread.run_sync(lambda: check_destination(data.url, allow_private=allow))
        webhook, position = await anyio.to_thread.run_sync(lambda: webhooks.service.webhooks.create(
            data.url, [e.value for e in data.events], request.state.account,
            os.urandom(KEY_BYTES), source, allow_http=allow))
        secret = webhooks.service.webhooks.secrets(webhook)[0]  # shown this once, in the clear
        return json_response(WebhookCreated(
            id=webhook.id, url=webhook.url, events=webhook.events, account=webhook.account,
            active=True, created_at=webhook.created_on, secret=secret, position=position), 201)

    @get("/", sync_to_thread=True, summary="The account's webhook subscriptions",
         **operation(MERCHANTS, errors=(400, 503),
                     answers={200: answer(list[WebhookOut], "The subscriptions")}))
    def list_webhooks(self, request: Request[Any, Any, Any],
                      webhooks: NamedDependency[WebhookDesk]) -> Response[bytes]:
        return json_response([_out(s) for s in webhooks.view.subscribers(scope(request))])

    @delete("/{webhook_id:str}", status_code=200, sync_to_thread=True,
            summary="Delete a webhook subscription", **operation(
                MERCHANTS, errors=(400, 404, 503),
                answers={200: answer(Deleted, "Deleted: nothing more is sent")}))
    def remove(self, webhook_id: FromPath[str], request: Request[Any, Any, Any],
               webhooks: NamedDependency[WebhookDesk]) -> Response[bytes]:
        source = _source(request)
        try:
            wid = webhooks.owned(request, webhook_id)
            _, position = webhooks.service.webhooks.change(wid, lambda w: w.delete(source))
        except WebhookNotFound as e:
            return error(404, e.message)
        return json_response(Deleted(id=wid, deleted=True, position=position))

    @post("/{webhook_id:str}/rotate", status_code=200, sync_to_thread=True,
          summary="Rotate a subscription's signing secret", dto=openapi.raw_body(NoBody),
          **operation(
              MERCHANTS, errors=(400, 404, 422, 503),
              description="The new secret is answered once; messages are signed with it "
                          "and with the previous one until the next rotation.",
              answers={200: answer(SecretOut, "Rotated")}))
    def rotate(self, webhook_id: FromPath[str], request: Request[Any, Any, Any],
               webhooks: NamedDependency[WebhookDesk],
               data: JSONBody[bytes] = b"") -> Response[bytes]:
        source = _source(request)
        try:
            wid = webhooks.owned(request, webhook_id)
            secret, position = webhooks.service.webhooks.rotate(wid, os.urandom(KEY_BYTES),
                                                               source)
        except WebhookNotFound as e:
            return error(404, e.message)
        return json_response(SecretOut(id=wid, secret=secret, position=position))

    @get("/{webhook_id:str}/deliveries", sync_to_thread=True,
         summary="Every attempt at sending a subscription's messages, newest first",
         **operation(MERCHANTS, errors=(400, 404, 503),
                     answers={200: answer(list[Attempt], "The attempts")}))
    def attempts(self, webhook_id: FromPath[str], request: Request[Any, Any, Any],
                 webhooks: NamedDependency[WebhookDesk],
                 page: NamedDependency[Page]) -> Response[bytes]:
        try:
            wid = webhooks.owned(request, webhook_id)
        except WebhookNotFound as e:
            return error(404, e.message)
        found = (webhooks.deliveries.attempts(wid, page.limit, page.offset)
                 if webhooks.deliveries else [])
        return json_response(found)

    @post("/{webhook_id:str}/replay", status_code=202, sync_to_thread=True,
          summary="Send a subscription's messages again from a time",
          dto=openapi.raw_body(NoBody), **operation(
              MERCHANTS, errors=(400, 404, 422, 503),
              description="New attempts, the same webhook-id per message, in order.",
              answers={202: answer(Replayed, "Queued to be sent again")}))
    def replay(self, webhook_id: FromPath[str], since: Since, request: Request[Any, Any, Any],
               webhooks: NamedDependency[WebhookDesk],
               data: JSONBody[bytes] = b"") -> Response[bytes]:
        try:
            wid = webhooks.owned(request, webhook_id)
        except WebhookNotFound as e:
            return error(404, e.message)
        if since.tzinfo is None:
            return error(400, "since: needs a UTC offset (RFC 3339)", "since")
        deliveries = webhooks.deliveries
        n = deliveries.replay(wid, since, datetime.now(UTC)) if deliveries else 0
        return json_response(Replayed(id=wid, messages=n), 202)
