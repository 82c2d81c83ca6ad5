"""The carrier endpoints are part of the published contract."""

from __future__ import annotations


def test_the_carrier_endpoints_are_documented_with_their_bodies_and_signatures(client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    dcsa = paths["/api/v1/carriers/dcsa/notifications"]["post"]
    assert dcsa["requestBody"]["required"] is True
    assert [p["name"] for p in dcsa["parameters"]] == ["Notification-Signature"]
    assert "requestBody" in paths["/api/v1/epcis/capture"]["post"]
    hook = paths["/api/v1/carriers/aggregator/webhooks"]["post"]
    assert [p["name"] for p in hook["parameters"]] == ["aftership-hmac-sha256"]
