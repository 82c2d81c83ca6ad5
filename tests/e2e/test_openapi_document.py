"""The OpenAPI document tells the truth: real schemas for every answer and
body, the constraints the domain enforces, the bearer scheme with the roles
each route's guard lets in, and examples that fit their schemas."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.e2e.conftest import TOKENS
from tracking.declaration import CurrencyCode, HsCode
from tracking.errors import InvalidInput
from tracking.identifiers import CountryCode, Locode, TrackingNumber

METHODS = ("get", "post", "put", "patch", "delete")
STREAM = "/api/v1/track/{tracking_number}/stream"  # Server-Sent Events, not JSON
TOKEN_OF = {role: token for token, role in TOKENS.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    db = Path(tmp_path_factory.mktemp("openapi")) / "tracking.db"
    app = create_app(build_api(Settings(database_url=f"sqlite:///{db}", api_tokens=TOKENS)))
    with TestClient(app=app) as client:
        yield client


@pytest.fixture(scope="module")
def document(served: TestClient[Any]) -> dict[str, Any]:
    return served.get("/schema/openapi.json").json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]  # type: ignore[no-any-return]


def test_every_answer_has_a_schema_that_is_more_than_a_string(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            media = answer["content"]
            if path == "/metrics":
                assert "text/plain" in media
                continue
            if path == STREAM and status.startswith("2"):
                assert list(media) == ["text/event-stream"], (method, path, status)
                continue
            schema = media["application/json"]["schema"]
            assert schema != {"type": "string"}, (method, path, status)
        statuses = set(operation["responses"])
        assert any(s.startswith("2") for s in statuses), (method, path)
        if path.startswith("/api/v1/"):
            assert {"400", "429"} <= statuses, (method, path)
            if method == "post":
                assert "422" in statuses and "requestBody" in operation, (method, path)


def test_a_scan_or_a_batch_is_the_documented_body_of_post_scans(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/scans"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"] == [{"$ref": "#/components/schemas/ScanIn"},
                             {"$ref": "#/components/schemas/ScanBatchIn"}]
    scan = component(document, "ScanIn")
    assert set(scan["required"]) == {"scan_id", "tracking_number", "event", "location",
                                     "occurred_at"}
    fields = scan["properties"]
    assert fields["tracking_number"]["pattern"] == "^[A-Z0-9]{6,40}$"
    assert "SE" in fields["location"]["pattern"] and fields["location"]["pattern"].startswith("^")
    assert "EXCEPTION" in fields["event"]["enum"]
    assert fields["scan_id"]["maxLength"] == 100
    assert fields["lat"]["oneOf"][0]["minimum"] == -90
    batch = component(document, "ScanBatchIn")["properties"]["scans"]
    assert batch["items"] == {"$ref": "#/components/schemas/ScanIn"}
    answers = operation["responses"]
    assert answers["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScanResultOut"}
    assert answers["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"}


def test_the_track_view_is_documented_although_it_is_sent_ready_encoded(
    document: dict[str, Any]
) -> None:
    answer = document["paths"]["/api/v1/track/{tracking_number}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TrackingView"}
    view = component(document, "TrackingView")
    assert "recipient" not in view["properties"]
    assert view["properties"]["status"] == {"$ref": "#/components/schemas/Status"}


def test_bodies_that_forbid_unknown_fields_say_so(document: dict[str, Any]) -> None:
    for name in ("BookingIn", "LegIn", "RouteIn", "CustomsEntryIn", "CustomsEventIn"):
        assert component(document, name)["additionalProperties"] is False, name
    assert "additionalProperties" not in component(document, "ScanIn")  # scans may carry more
    assert {"to", "departs_at", "arrives_at"} <= set(component(document, "LegIn")["required"])


def role_list(operation: dict[str, Any]) -> list[str]:
    found = re.search(r"Roles: ([a-z, ]+) \(bearer token\)", operation.get("description", ""))
    return found[1].split(", ") if found else []


def test_each_guarded_route_documents_the_bearer_scheme_and_the_roles_its_guard_lets_in(
    served: TestClient[Any], document: dict[str, Any]
) -> None:
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"]}
    guarded = 0
    for method, path, operation in operations(document):
        url = (path.replace("{tracking_number}", "LX123456785CN")
               .replace("{entry_id}", str(uuid.uuid4())).replace("{letter_id}", "no-such"))
        roles = role_list(operation)
        if "security" not in operation:
            assert roles == [], (method, path)
            continue
        guarded += 1
        assert operation["security"] == [{"bearer": []}]
        assert {"401", "403"} <= set(operation["responses"])
        assert served.request(method, url).status_code == 401, (method, path)
        for role, token in TOKEN_OF.items():
            status = served.request(method, url, headers={"Authorization": f"Bearer {token}"},
                                    content=b"{}").status_code
            assert (status != 403) == (role in roles), (method, path, role, status)
    assert guarded >= 15


def test_every_example_fits_its_schema(document: dict[str, Any]) -> None:
    def check(schema: dict[str, Any], example: Any, where: str) -> None:
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": document["components"]})
        errors = [e.message for e in validator.iter_errors(example)]
        assert errors == [], (where, errors)

    checked = 0
    for method, path, operation in operations(document):
        media = [("request", m) for m in operation.get("requestBody", {}).get("content", {}).values()]
        media += [(status, m) for status, answer in operation["responses"].items()
                  for m in answer.get("content", {}).values()]
        for where, content in media:
            schema = content.get("schema", {})
            examples = [e["value"] for e in content.get("examples", {}).values()]
            examples += schema.get("examples", [])
            if "$ref" in schema:
                examples += component(document, schema["$ref"].rsplit("/", 1)[1]).get(
                    "examples", [])
            for example in examples:
                check(schema, example, f"{method} {path} {where}")
                checked += 1
    assert checked >= 15


DOCUMENTED = {"TrackingNumber": "tracking_number", "Locode": "location"}


@pytest.mark.parametrize(("kind", "field"), [
    (TrackingNumber, "tracking_number"), (Locode, "location")])
def test_what_the_documented_patterns_allow_the_domain_accepts(
    document: dict[str, Any], kind: type, field: str
) -> None:
    pattern = component(document, "ScanIn")["properties"][field]["pattern"]

    @settings(max_examples=200, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern, fullmatch=True))
    def accepted(text: str) -> None:
        if kind is TrackingNumber and re.fullmatch(r"[A-Z]{2}\d{9}[A-Z]{2}", text):
            return  # a UPU S10 number also needs its check digit (said in the description)
        kind(text)

    accepted()


def test_what_the_documented_customs_values_allow_the_domain_accepts(
    document: dict[str, Any]
) -> None:
    line = component(document, "DeclarationLineIn")["properties"]
    entry = component(document, "CustomsEntryIn")["properties"]
    for code in entry["destination_country"]["enum"]:
        CountryCode(code)
    for code in entry["currency"]["enum"]:
        CurrencyCode(code)

    @settings(max_examples=200, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(line["hs_code"]["pattern"], fullmatch=True))
    def hs_codes(text: str) -> None:
        HsCode(text)

    hs_codes()
    with pytest.raises(InvalidInput):
        HsCode("770000")  # chapter 77 is reserved: the pattern leaves it out too
    assert not re.fullmatch(line["hs_code"]["pattern"], "770000")
