"""Whether value types validate as they are built.

They always do, except while the event store's own events are being loaded:
what was valid when it was recorded must load even if the rules have since
tightened, and re-checking every stored scan was a fifth of the time it took
to load a shipment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_loading_recorded: ContextVar[bool] = ContextVar("loading_recorded", default=False)


def validating() -> bool:
    """False only inside ``loading_recorded()``."""
    return not _loading_recorded.get()


@contextmanager
def loading_recorded() -> Iterator[None]:
    token = _loading_recorded.set(True)
    try:
        yield
    finally:
        _loading_recorded.reset(token)
