"""The ceiling for bench/reads.py: a bare ASGI application, served by the
same uvicorn as `tracking serve` (one process, no access log), that answers
every GET with the same bytes: one real public view read from the store
(the file named by BARE_ASGI_BODY). No framework, routing, database, logging
or metrics: what is left is uvicorn, the event loop and the sockets.

    BARE_ASGI_BODY=view.json BARE_ASGI_PORT=8001 .venv/bin/python bench/bare_asgi.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BODY = Path(os.environ["BARE_ASGI_BODY"]).read_bytes() if "BARE_ASGI_BODY" in os.environ else b"{}"
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["BARE_ASGI_PORT"]), log_config=None,
                log_level="warning", access_log=False)
