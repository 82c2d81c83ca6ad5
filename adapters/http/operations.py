"""What operators and orchestrators ask of a process: is it alive
(``/livez``), is it ready to serve (``/readyz``: its stores and broker
answer, its views keep up), and its Prometheus metrics. Not under /api/v1,
no token, not rate limited."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency

from adapters import health
from adapters.http import schemas
from adapters.http.metrics import Metrics
from adapters.http.openapi import answer
from adapters.http.responses import json_response


class OperationsController(Controller):
    path = "/"

    @get("/livez", summary="The process answers", tags=["operations"],
         responses={200: answer(dict[str, str], "Alive", {"status": "ok"})})
    async def livez(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=True, summary="Stores and broker answer, views keep up",
         tags=["operations"], responses={
             200: answer(schemas.ReadinessOut, "Ready"),
             503: answer(schemas.ReadinessOut, "Not ready: failed names what does not answer")})
    def readyz(self, readiness: NamedDependency[health.Readiness]) -> Response[bytes]:
        ready, body = readiness.check()
        return json_response(body, 200 if ready else 503)

    @get("/metrics", sync_to_thread=True, summary="Prometheus metrics", tags=["operations"],
         media_type=MediaType.TEXT)
    def metrics_endpoint(self, metrics: NamedDependency[Metrics]) -> str:
        return metrics.render()
