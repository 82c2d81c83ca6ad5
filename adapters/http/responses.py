"""JSON answers: domain values and views encoded once, with the domain's
value types, or documents the views hold ready-encoded (bytes) as they are."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Response

from tracking.mapper import enc_hook

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)


def json_response(content: Any, status: int = 200) -> Response[bytes]:
    body = content if isinstance(content, bytes) else _encoder.encode(content)
    return Response(body, status_code=status, media_type=MediaType.JSON)
