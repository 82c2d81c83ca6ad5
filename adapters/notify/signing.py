"""Standard Webhooks 1.0 signatures: ``v1,<base64 HMAC-SHA256>`` of
``{id}.{timestamp}.{body}``, keyed with each valid secret's key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from tracking.webhook import secret_key


def signature(message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` header: one ``v1,`` signature per secret
    (two while a rotation is under way), space-separated."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets)


def headers(message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(message_id, timestamp, body, secrets),
            "content-type": "application/json", "user-agent": "tracking-webhooks/1"}
