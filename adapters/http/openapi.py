"""What the OpenAPI document says beyond the handlers' signatures: the
answers (most handlers return encoded bytes, which say nothing), the errors,
the bodies handlers read themselves, the bearer scheme and each route's
roles. The constraints on values are in adapters/http/constraints.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from litestar.dto import AbstractDTO, DTOConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, Example, Schema, SecurityScheme
from litestar.typing import FieldDefinition

from adapters.http.schemas import ErrorOut

BEARER = "bearer"
COMPONENTS = Components(security_schemes={BEARER: SecurityScheme(
    type="http", scheme="bearer",
    description="A token of TRACKING_API_TOKENS (role:token,...). No token: 401; a token whose "
                "role may not use the route: 403. Each operation names its roles; admin may "
                "use every route.")})

def raw_body(*documented: Any, examples: list[Any] | None = None) -> type[AbstractDTO[Any]]:
    """A DTO for handlers that read their body themselves (to verify a
    signature on the exact bytes, or decode one scan or a batch): ``data`` is
    the body's bytes, and the document shows the types it is decoded into."""

    class RawBody(AbstractDTO[Any]):
        config = DTOConfig()

        @classmethod
        def generate_field_definitions(cls, model_type: type[Any]) -> Any:
            return iter(())

        @classmethod
        def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
            return False

        @classmethod
        def create_for_field_definition(cls, field_definition: FieldDefinition, handler_id: str,
                                        backend_cls: Any = None) -> None:
            return None  # nothing to build: the bytes are handed over as they came

        def decode_bytes(self, value: bytes) -> bytes:
            return value

        @classmethod
        def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str,
                                  schema_creator: Any) -> Any:
            schemas = [schema_creator.for_field_definition(FieldDefinition.from_annotation(t))
                       for t in documented]
            if len(schemas) == 1 and not examples:
                return schemas[0]
            return Schema(one_of=schemas, examples=examples)

    return RawBody


_ERRORS = {
    400: ("The request is not JSON, or a query or path parameter is malformed (named in "
          "`field`); or min_position is not a whole number.",
          {"status_code": 400, "detail": "limit: Expected `int` <= 1000", "field": "limit"}),
    401: ("No bearer token, or one that is not known (or a carrier payload's signature is "
          "wrong); nothing was recorded.",
          {"status_code": 401, "detail": "the bearer token is not known"}),
    403: ("The token's role may not use this route.",
          {"status_code": 403,
           "detail": "role 'device' may not use this route (allowed: admin, agent)"}),
    404: ("No such shipment, customs entry or dead letter.",
          {"status_code": 404, "detail": "no shipment LX123456785CN"}),
    409: ("The request conflicts with what is recorded (a different booking for the same "
          "number, a transition the state does not allow); nothing was recorded.",
          {"status_code": 409, "detail": "LX123456785CN is booked with a different booking"}),
    422: ("A value cannot be right; `field` names it and nothing was recorded.",
          {"status_code": 422, "detail": "location: 'ZZZZZ' is not a UN/LOCODE",
           "field": "location"}),
    429: ("Too many requests from this address (TRACKING_RATE_LIMIT_PER_MINUTE), or on the "
          "public track routes too many unknown tracking numbers from it (10, then one per "
          "6 minutes); Retry-After says when to try again.",
          {"status_code": 429, "detail": "too many requests from this address; try again in 1 s"}),
    503: ("The views have not reached min_position within 5 s, or the write met too much "
          "contention; Retry-After says when to try again.",
          {"status_code": 503, "detail": "the views have processed position 7, not yet 9; "
                                         "try again shortly", "field": "min_position"}),
}


def error(status: int) -> ResponseSpec:
    description, example = _ERRORS[status]
    return ResponseSpec(ErrorOut, description=description, generate_examples=False,
                        examples=[Example(summary=description.split(";")[0], value=example)])


def answer(container: Any, description: str, example: Any = None) -> ResponseSpec:
    return ResponseSpec(container, description=description, generate_examples=False,
                        examples=[Example(summary=description, value=example)] if example else None)


def operation(guard: Any = None, *, answers: Mapping[int, ResponseSpec], errors: Iterable[int] = (),
              description: str = "", rate_limited: bool = True) -> dict[str, Any]:
    """The route decorator's arguments that document an operation: its
    answers and errors and, for a guarded route, the bearer scheme and the
    roles that may use it (the guard's own, so the two cannot differ)."""
    statuses = {*errors, *((429,) if rate_limited else ())}
    kwargs: dict[str, Any] = {}
    if guard is not None:
        statuses |= {401, 403}
        roles = ", ".join(guard.roles)
        description = f"{description}\n\nRoles: {roles} (bearer token).".strip()
        kwargs |= {"guards": [guard], "security": [{BEARER: []}]}
    kwargs["responses"] = {**{s: error(s) for s in sorted(statuses)}, **answers}
    if description:
        kwargs["description"] = description
    return kwargs
