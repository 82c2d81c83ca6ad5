"""The named warehouses endpoints (merchants): name a warehouse of the
account at a UN/LOCODE, list them, read one. A merchant sees its own
account's only (the account is part of the key: another's is not found);
agents read every account's. Orders, inbound stock and reorder points then
take a warehouse's name wherever they take its LOCODE."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from adapters.http import openapi
from adapters.http.auth import BOOKERS, allowed
from adapters.http.openapi import answer, operation
from adapters.http.order_wire import LocodeText, body
from adapters.http.ownership import scope
from adapters.http.purchase_orders import source
from adapters.http.responses import json_response
from projections.warehouses import Warehouse, WarehousesView
from tracking.application import ShipmentService
from tracking.identifiers import Locode
from tracking.warehouse import WarehouseNotFound, check_name

Name = Annotated[str, Parameter(schema_extra={"minLength": 1, "maxLength": 64,
                                              "examples": ["Hamburg DC"]})]


class WarehouseIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    locode: LocodeText


class WarehouseOut(msgspec.Struct, kw_only=True):
    account: str
    name: str
    locode: str


class WarehouseWritten(WarehouseOut, kw_only=True):
    position: int | None


_WAREHOUSE = msgspec.json.Decoder(WarehouseIn)


def _out(w: Warehouse) -> WarehouseOut:
    return WarehouseOut(account=w.account, name=w.name, locode=w.locode)


class WarehouseController(Controller):
    path = "/warehouses"
    tags = ["purchase orders"]

    @post("/", sync_to_thread=True, status_code=201, summary="Name a warehouse",
          dto=openapi.raw_body(WarehouseIn), **operation(
              allowed("merchant"), errors=(400, 409, 422, 503),
              description="A name of the account's for the warehouse at a UN/LOCODE: "
                          "purchase orders, inbound and reorder points then take it "
                          "wherever they take the LOCODE, and show it. Names and LOCODEs "
                          "are unique within the account (a delivery scan names a place "
                          "by its LOCODE only); the same again answers 200.",
              answers={201: answer(WarehouseWritten, "Named"),
                       200: answer(WarehouseWritten, "Already named so")}))
    def name(self, request: Request[Any, Any, Any], service: NamedDependency[ShipmentService],
             data: JSONBody[bytes] = b"") -> Response[bytes]:
        given = body(_WAREHOUSE, data)
        account, locode = request.state.account, Locode(given.locode, "locode")
        result = service.warehouses.name(account, given.name, locode, source(request))
        out = WarehouseWritten(account=account, name=check_name("name", given.name),
                               locode=str(locode), position=result.position)
        return json_response(out, 201 if result.changed else 200)

    @get("/", sync_to_thread=True, summary="The account's named warehouses", **operation(
        BOOKERS, errors=(400, 503),
        answers={200: answer(list[WarehouseOut], "By name (an agent's: every account's)")}))
    def warehouses(self, request: Request[Any, Any, Any],
                   named_warehouses: NamedDependency[WarehousesView]) -> Response[bytes]:
        return json_response([_out(w) for w in named_warehouses.warehouses(scope(request))])

    @get("/{warehouse:str}", sync_to_thread=True, summary="One named warehouse", **operation(
        BOOKERS, errors=(400, 404, 503),
        answers={200: answer(WarehouseOut, "The warehouse")}))
    def warehouse(self, warehouse: Name, request: Request[Any, Any, Any],
                  named_warehouses: NamedDependency[WarehousesView]) -> Response[bytes]:
        name = " ".join(warehouse.split())
        found = [w for w in named_warehouses.warehouses(scope(request)) if w.name == name]
        if len(found) != 1:  # none, or (for an agent) several accounts' of that name
            raise WarehouseNotFound(name)
        return json_response(_out(found[0]))
