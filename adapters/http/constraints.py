"""The constraints the domain enforces on values, as the OpenAPI document
states them, so that a client generated from it sends valid data.

They are documentation only (Litestar's ``schema_extra``): the domain checks
every value and names the field that is wrong, and that wire behaviour stays
as it is. Values are stated in canonical form; the domain also takes them
in lower case and with surrounding spaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import msgspec
import pycountry
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Parameter, QueryParameter
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from tracking.declaration import CurrencyCode, HsCode
from tracking.identifiers import CountryCode, Locode, TrackingNumber

_COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries)
# The domain's value types: what their constructors accept.
VALUES: dict[type, dict[str, Any]] = {
    TrackingNumber: {
        "pattern": "^[A-Z0-9]{6,40}$", "examples": ["LX123456785CN"],
        "description": "6 to 40 characters of A-Z and 0-9 (upper-cased on the way in); a UPU "
                       "S10 number (2 letters, 8 digits, check digit, 2 letters) must carry "
                       "the right check digit."},
    Locode: {
        "pattern": f"^(?:{'|'.join(_COUNTRIES)})[A-Z2-9]{{3}}$", "examples": ["SESTO"],
        "description": "A UN/LOCODE: an ISO 3166-1 country and 3 letters or digits 2-9."},
    CountryCode: {"enum": _COUNTRIES, "examples": ["SE"],
                  "description": "An ISO 3166-1 alpha-2 country code."},
    CurrencyCode: {"enum": sorted(c.alpha_3 for c in pycountry.currencies), "examples": ["EUR"],
                   "description": "An ISO 4217 currency code."},
    HsCode: {
        "pattern": "^(?:0[1-9]|[1-6][0-9]|7[0-689]|8[0-9]|9[0-7])[0-9]{4}(?:[0-9]{2,4})?$",
        "examples": ["610910"],
        "description": "An HS-6 subheading, or a national tariff line of 8 to 10 digits, in a "
                       "chapter that exists (01-97, not 77)."},
}


def value(kind: type) -> Any:
    """A wire ``str`` documented as the domain value type it becomes."""
    return Annotated[str, Parameter(schema_extra=VALUES[kind])]


def choice(options: Iterable[Any]) -> Any:
    """A wire ``str`` that must be one of the options (an enum's values)."""
    return Annotated[str, Parameter(schema_extra=_enum(options))]


def optional_query(kind: type | None = None, options: Iterable[Any] = ()) -> Any:
    """An optional query parameter that is a value type, or one of the options."""
    extra = VALUES[kind] if kind is not None else _enum(options)
    return Annotated[str | None, QueryParameter(schema_extra=extra)]


def _enum(options: Iterable[Any]) -> dict[str, Any]:
    return {"enum": [getattr(o, "value", o) for o in options]}


def _printable_runs(first: int = 0x20, last: int = 0xFFFF, shortest: int = 64) -> str:
    """A regex character class body of the long runs of characters the domain
    takes as printable (str.isprintable) in the Basic Multilingual Plane:
    most of what it takes, and nothing it refuses (no unassigned code
    point, control, format or separator character but the space)."""
    runs, start = [], None
    for code in range(first, last + 2):
        ok = code <= last and chr(code).isprintable() and not 0xD800 <= code <= 0xDFFF
        if ok and start is None:
            start = code
        elif not ok and start is not None:
            if code - start >= shortest or start == first:
                runs.append(f"\\u{start:04x}-\\u{code - 1:04x}")
            start = None
    return "".join(runs)


_CHAR = _printable_runs()
_VISIBLE = _printable_runs(first=0x21)
PRINTABLE = f"^[{_CHAR}]+$"
_TEXT = f"^[{_CHAR}]*[{_VISIBLE}][{_CHAR}]*$"  # not only spaces


def text(max_length: int, pattern: str = _TEXT) -> Any:
    return Annotated[str, Parameter(schema_extra={
        "minLength": 1, "maxLength": max_length, "pattern": pattern,
        "description": f"1 to {max_length} printable characters"})]


# A time the domain requires, although the field may be absent or null on the
# way in (the domain names it then).
RequiredTime = Annotated[datetime | None, Parameter(schema_extra={
    "oneOf": None, "type": OpenAPIType.STRING, "format": OpenAPIFormat.DATE_TIME})]


def number(**bounds: float) -> Any:
    """A JSON number within bounds (minimum=, exclusiveMinimum=, ...)."""
    return Annotated[float, Parameter(schema_extra=bounds)]


def amount(*, positive: bool) -> Any:
    """A decimal amount, sent as a string ("12.50"; a JSON number is taken as written)."""
    pattern = (r"^(?:[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|[0-9]*\.[0-9]*[1-9][0-9]*)$" if positive
               else r"^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$")
    return Annotated[str | int | float, Parameter(schema_extra={
        "oneOf": None, "type": OpenAPIType.STRING, "pattern": pattern, "examples": ["12.50"],
        "description": f"a {'positive' if positive else 'non-negative'} decimal amount as a string"})]


class WireStructs(OpenAPISchemaPlugin):
    """Request Structs as decoded: no other fields when they forbid unknown
    ones, and the fields the domain requires although the Struct has a
    default for them (listed in a ``required`` ClassVar: their absence is
    named by the domain's own message)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        kind = field_definition.annotation
        return isinstance(kind, type) and issubclass(kind, msgspec.Struct) and (
            kind.__struct_config__.forbid_unknown_fields or bool(getattr(kind, "required", ())))

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        later = schema_creator.plugins[schema_creator.plugins.index(self) + 1:]
        struct = next(p for p in later if schema_creator.plugin_supports_field(p, field_definition))
        schema: Schema = struct.to_openapi_schema(field_definition, schema_creator)
        kind = field_definition.annotation
        if kind.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        schema.required = sorted({*(schema.required or ()), *getattr(kind, "required", ())})
        return schema


class ValueTypes(OpenAPISchemaPlugin):
    """The domain's value types where the views hold them (a Leg's ``from``)."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return isinstance(value, type) and value in VALUES

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        extra = VALUES[field_definition.annotation]
        return Schema(type=OpenAPIType.STRING, pattern=extra.get("pattern"), enum=extra.get("enum"),
                      examples=extra["examples"], description=extra["description"])
