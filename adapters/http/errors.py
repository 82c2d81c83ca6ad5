"""The one place where errors become HTTP statuses. Every error answer is
JSON with ``status_code`` and ``detail`` (and ``field`` where one is wrong)."""

from __future__ import annotations

import logging

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from adapters.http.schemas import ErrorOut, NotJSON, field_of
from tracking.customs import CustomsEntryNotFound, InvalidTransition
from tracking.purchase_order import PurchaseOrderConflict, PurchaseOrderNotFound
from tracking.warehouse import WarehouseConflict, WarehouseNotFound
from tracking.webhook import WebhookNotFound
from tracking.errors import (
    BookingConflict,
    CustomsConflict,
    InvalidInput,
    ShipmentNotFound,
    TrackingError,
    WriteContention,
)

log = logging.getLogger(__name__)

STATUS = {
    InvalidInput: 422,
    ShipmentNotFound: 404,
    BookingConflict: 409,
    CustomsEntryNotFound: 404,
    CustomsConflict: 409,
    InvalidTransition: 409,
    PurchaseOrderNotFound: 404,
    PurchaseOrderConflict: 409,
    WebhookNotFound: 404,
    WarehouseConflict: 409,
    WarehouseNotFound: 404,
    WriteContention: 503,
}


def error(status: int, detail: str, field: str | None = None, **headers: str) -> Response[bytes]:
    return Response(
        msgspec.json.encode(ErrorOut(status, detail, field)),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers or None,
    )


def domain_error(_: Request, exc: Exception) -> Response[bytes]:
    assert isinstance(exc, TrackingError)
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
    if isinstance(exc, InvalidInput):
        return error(status, exc.message, exc.field)
    if isinstance(exc, WriteContention):
        return error(status, exc.message, **{"Retry-After": "1"})
    return error(status, exc.message)


def not_json(_: Request, exc: Exception) -> Response[bytes]:
    return error(400, str(exc), "body")


def http_error(_: Request, exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if isinstance(exc, ValidationException) and exc.status_code == 400:
        # Litestar decoded the request: a body that is JSON but not what the
        # route takes is a 422 naming the field; a bad query or path is a 400.
        problems = [e for e in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(e, dict)]
        if problems:
            key, message = str(problems[0].get("key", "")), str(problems[0].get("message", ""))
            if key == "data" or problems[0].get("source") == "body":
                field = field_of(message) if key == "data" else key
                return error(422, f"{field}: {message.split(' - at ')[0]}", field)
            return error(400, f"{key}: {message}", key or None)
        return error(400, detail)
    headers = {k: v for k, v in (exc.headers or {}).items()}
    return error(exc.status_code, detail, **headers)


def too_deep(request: Request, exc: Exception) -> Response[bytes]:
    """The JSON decoder gives up on bodies nested thousands deep (hostile
    input, never a real scan); logged in case it ever comes from elsewhere."""
    log.warning("recursion limit answering %s %s", request.method, request.url.path,
                exc_info=exc)
    return error(400, "the request body is nested too deeply to be read", "body")


def unexpected(request: Request, exc: Exception) -> Response[bytes]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error(500, "an internal error occurred; it has been logged")


HANDLERS = {
    TrackingError: domain_error,
    NotJSON: not_json,
    HTTPException: http_error,
    RecursionError: too_deep,
    Exception: unexpected,
}
