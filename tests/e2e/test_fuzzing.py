"""The API against its own OpenAPI document: schemathesis generates requests
for every operation from the document (bodies, parameters, the declared
constraints) and each is sent with every role's token. No answer may be a
server error, have a status the operation does not declare, or break the
schema it declares.

Generation is derandomized (the same cases every run) and bounded by
EXAMPLES, so the run takes under a minute per store on two cores. The live
stream is left out: a case that finds a shipment would never end
(tests/web/test_stream.py tests it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import TOKENS

EXAMPLES = 5  # generated cases per operation and role
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ROLES = {role: {"Authorization": f"Bearer {token}"} for token, role in TOKENS.items()}
ENDLESS = {"GET /api/v1/track/{tracking_number}/stream"}  # Server-Sent Events never end


def send(client: TestClient[Any], case: schemathesis.Case, headers: dict[str, str]) -> Any:
    """The case as the test client sends it (schemathesis shapes it for requests)."""
    request = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    body: dict[str, Any] = {}
    if "json" in request:
        body["json"] = request["json"]
    elif request.get("data") is not None:
        body["content"] = request["data"]
    return client.request(request["method"], request["url"], params=request.get("params"),
                          headers=request.get("headers"), **body)


def test_every_operation_answers_as_its_openapi_says_for_every_role(client: TestClient[Any]) -> None:
    schema = schemathesis.openapi.from_dict(client.get("/schema/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert ENDLESS <= {o.label for o in operations}  # what is left out is there to leave
    operations = [o for o in operations if o.label not in ENDLESS]
    failures: dict[tuple[str, str], str] = {}  # (operation, what is wrong): the first case
    statuses: Counter[tuple[str, int]] = Counter()

    for operation in operations:
        for role, headers in ROLES.items():

            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def exercise(case: schemathesis.Case) -> None:
                response = send(client, case, headers)
                statuses[operation.label, response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as e:
                    for failure in e.exceptions:
                        failures.setdefault((operation.label, failure.title),
                                            f"as {role} ({response.status_code}): {e}")

            exercise()

    assert len(operations) >= 20
    assert not failures, "\n".join(
        [f"{label}: {title}" for label, title in failures]
        + ["", *(f"{label}: {title} {case}" for (label, title), case in list(failures.items())[:5])]
        + ["", "statuses answered:", *(f"{label} {status}: {n}"
                                       for (label, status), n in sorted(statuses.items()))])
