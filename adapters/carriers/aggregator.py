"""An aggregator's webhook, the catch-all for carriers without a direct
integration: AfterShip's shape (``msg.checkpoints[]`` with ``tag`` and
``subtag``), signed with ``aftership-hmac-sha256: <base64 HMAC-SHA256 of
the body>`` and carrying ``ts``, the time it was sent.

AfterShip rather than EasyPost: its two-level tag/subtag codes say more
(an arrival at a hub, a departure, a damaged parcel) than EasyPost's single
status, and its signature covers exactly the raw body. Checkpoints have no
id of their own: each is known by the digest of its tracking number, time,
code and message, and every webhook repeats them all, so repeats are
duplicates. Places (country and city) become UN/LOCODEs through the master
data; a checkpoint at a place not configured is kept as a note.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pycountry

from adapters.carriers.mapping import content_key, load
from adapters.carriers.masterdata import MasterData
from adapters.carriers.translation import Translated, at_index, scan_or_note
from adapters.wire import decode
from tracking.identifiers import TrackingNumber
from tracking.scan import Reported

FORMAT = "aggregator"
_TABLES = load(FORMAT)
SUBTAGS, TAGS = _TABLES["subtags"], _TABLES["tags"]


class Checkpoint(msgspec.Struct):
    checkpoint_time: datetime
    tag: str
    subtag: str | None = None
    message: str | None = None
    subtag_message: str | None = None
    city: str | None = None
    country_region: str | None = None
    country_iso3: str | None = None
    location: str | None = None


class Tracking(msgspec.Struct):
    tracking_number: str
    tag: str | None = None
    slug: str | None = None
    checkpoints: list[Checkpoint] = []


class Webhook(msgspec.Struct):
    msg: Tracking
    ts: int
    event: str | None = None
    event_id: str | None = None


WEBHOOK = msgspec.json.Decoder(Webhook)


def parse(body: bytes, master: MasterData) -> tuple[datetime, list[Translated]]:
    """When the webhook was sent (``ts``), and its checkpoints translated."""
    hook = decode(WEBHOOK, body)
    tn = TrackingNumber(hook.msg.tracking_number, "msg.tracking_number")
    sent_at = datetime.fromtimestamp(hook.ts, UTC)
    return sent_at, [at_index("msg.checkpoints", i, translate, c, tn, hook.msg.slug, master)
                     for i, c in enumerate(hook.msg.checkpoints)]


def translate(c: Checkpoint, tn: TrackingNumber, slug: str | None,
              master: MasterData) -> Translated:
    code = c.subtag if c.subtag in SUBTAGS else c.tag
    codes = SUBTAGS if c.subtag in SUBTAGS else TAGS
    key = content_key(FORMAT, tn, c.checkpoint_time.isoformat(), c.subtag or c.tag, c.message)
    text = " - ".join(t for t in (c.message, c.subtag_message, c.location, slug) if t)
    reported = Reported(FORMAT, key, c.subtag or c.tag, text or None, codes.provenance)
    location = master.place(_alpha2(c.country_iso3 or c.country_region), c.city)
    return scan_or_note(codes, key=key, reported=reported, tracking_number=tn,
                        occurred_at=c.checkpoint_time, location=location, code=code)


def _alpha2(iso3: str | None) -> str | None:
    if not iso3:
        return None
    country = pycountry.countries.get(alpha_3=iso3.upper())
    return country.alpha_2 if country else None


