"""Group commit: scans sent by concurrent callers (HTTP requests, each in a
worker thread) recorded together, one transaction for whatever arrived while
the previous transaction was committing.

A scan per request would otherwise cost a transaction (a table lock, a WAL
flush, the service's per-write overhead) each: about 270 single-scan POSTs/s
on the reference machine, against ~20,000 scans/s in batches. Nothing waits
on purpose: a lone request is written at once; requests only share a
transaction when they arrive while one is in flight, so the latency of a
quiet system is unchanged and a busy one gets bigger batches.

Each caller still gets its own outcomes, in its own order, with its own
scans' positions; grouping changes no result: the service records each scan
of a batch as if recorded alone (duplicates of a scan earlier in the same
batch are duplicates, a rejected scan holds back no other). If the write
itself fails (the store is down, contention never settled), every caller in
that transaction gets the error, and nothing of it was recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tracking.application import ScanOutcome
from tracking.scan import Scan, Source

Record = Callable[[Sequence[Scan], Source | None], list[ScanOutcome]]


@dataclass(eq=False)
class _Request:
    scans: Sequence[Scan]
    source: Source | None
    outcomes: list[ScanOutcome] | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class GroupCommit:
    """``record(scans, source)`` as ``service.record_scans`` does, from any
    number of threads; concurrent calls share transactions of up to
    ``max_scans`` scans (a bigger single call goes alone, whole)."""

    def __init__(
        self, record: Record, *, max_scans: int = 500,
        written: Callable[[int, int], None] | None = None,
    ) -> None:
        self._record = record
        self.max_scans = max_scans
        # Told (calls, scans) after each transaction: for metrics.
        self._written = written
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._writing = False  # one caller at a time writes, for everyone queued

    def record(self, scans: Sequence[Scan], source: Source | None = None) -> list[ScanOutcome]:
        if not scans:
            return []
        mine = _Request(scans, source)
        with self._cond:
            self._queue.append(mine)
            while self._writing and not mine.done:
                self._cond.wait()
            if not mine.done:
                self._writing = True
        if not mine.done:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        assert mine.outcomes is not None
        return mine.outcomes

    def _lead(self, mine: _Request) -> None:
        """Write batches from the queue until this caller's own is written,
        then hand the writing over to whoever waits."""
        try:
            while not mine.done:
                with self._cond:
                    batch = self._take()
                self._write(batch)
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def _take(self) -> list[_Request]:
        """The oldest queued requests with one source, up to ``max_scans``
        scans (at least one request, however big)."""
        first = self._queue[0]
        batch, size = [], 0
        for request in self._queue:
            if request.source != first.source:
                continue
            if batch and size + len(request.scans) > self.max_scans:
                break
            batch.append(request)
            size += len(request.scans)
        taken = {id(r) for r in batch}
        self._queue = [r for r in self._queue if id(r) not in taken]
        return batch

    def _write(self, batch: list[_Request]) -> None:
        scans = [s for request in batch for s in request.scans]
        try:
            outcomes = self._record(scans, batch[0].source)
        except BaseException as e:  # every caller of this transaction gets it
            for request in batch:
                request.error, request.done = e, True
            return
        start = 0
        for request in batch:
            request.outcomes = outcomes[start : start + len(request.scans)]
            start += len(request.scans)
            request.done = True
        if self._written is not None:
            self._written(len(batch), len(scans))
