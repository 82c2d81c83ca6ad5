"""Examples in the OpenAPI document: the contract's own samples. A test
checks each against the schema it illustrates."""

from __future__ import annotations

from litestar.openapi.spec import Example

BOOKING = Example(summary="A booking with its route", value={
    "tracking_number": "LX123456785CN", "carrier": "postnord", "origin": "HKHKG",
    "destination": "SESTO", "deliver_by": "2009-03-18T00:00:00Z",
    "recipient": {"name": "Astrid Lindgren", "postcode": "11122", "country": "SE"},
    "route": [{"voyage": "V100", "mode": "sea", "from": "HKHKG", "to": "SESTO",
               "departs_at": "2009-03-03T00:00:00Z", "arrives_at": "2009-03-15T00:00:00Z"}]})

SCAN = {"scan_id": "9f6c1c0e-loaded-hkhkg", "device_id": "hkg-dock-7",
        "tracking_number": "LX123456785CN", "event": "LOADED", "location": "HKHKG",
        "occurred_at": "2009-03-03T08:00:00+08:00", "voyage": "V100", "lat": 22.3, "lon": 114.2}

TRACKING = {
    "tracking_number": "LX123456785CN", "status": "IN_TRANSIT", "transport_status": "ONBOARD",
    "routing_status": "ROUTED", "last_location": "HKHKG", "current_voyage": "V100",
    "misdirected": False,
    "next_expected": {"event": "UNLOADED", "location": "SESTO", "voyage": "V100"},
    "eta": "2009-03-15T00:00:00Z", "deliver_by": "2009-03-18T00:00:00Z",
    "origin": "HKHKG", "destination": "SESTO", "carrier": "postnord",
    "events": [{"event": "LOADED", "location": "HKHKG", "occurred_at": "2009-03-03T00:00:00Z",
                "description": "Loaded onto V100 at HKHKG", "voyage": "V100"}],
    "customs": []}

CUSTOMS_ENTRY = Example(summary="A declaration of one line of goods", value={
    "tracking_number": "LX123456785CN", "destination_country": "SE", "incoterm": "DAP",
    "currency": "EUR", "lines": [{"description": "cotton t-shirt", "hs_code": "610910",
                                  "quantity": 2, "unit_value": "12.50", "origin_country": "CN"}]})

CUSTOMS_EVENT = Example(summary="Customs holds the entry", value={
    "event": "HELD", "occurred_at": "2009-03-16T09:00:00+01:00", "reason": "INSPECTION"})
