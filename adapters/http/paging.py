"""Paging of every list endpoint, checked once: a handler takes ``page``,
given by the dependency below, whose ``limit`` and ``offset`` Litestar
checks against their bounds (400 naming the parameter) and documents."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import Provide

from adapters.http.schemas import Limit, Offset


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def paging(limit: Limit = 100, offset: Offset = 0) -> Page:
    return Page(limit, offset)


PAGING = Provide(paging, sync_to_thread=False)
