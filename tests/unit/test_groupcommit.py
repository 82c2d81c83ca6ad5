"""Group commit: concurrent callers' scans share transactions, and each
caller gets exactly its own outcomes (adapters/groupcommit.py)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.groupcommit import GroupCommit
from tests.builders import AGENT, scan
from tests.waiting import eventually
from tracking.application import ScanOutcome, ScanResult
from tracking.scan import Scan, Source


class Store:
    """Records what each transaction held; the first one can be held open
    so that others queue up behind it."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.transactions: list[tuple[list[str], Source | None]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail_on = fail_on

    def record(self, scans: Sequence[Scan], source: Source | None) -> list[ScanOutcome]:
        self.entered.set()
        self.hold.wait(10)
        ids = [s.scan_id for s in scans]
        if self.fail_on in ids:
            raise ConnectionError("the store went away")
        self.transactions.append((ids, source))
        return [ScanOutcome(scan_id=s.scan_id, tracking_number=s.tracking_number,
                            result=ScanResult.RECORDED, position=len(self.transactions))
                for s in scans]  # fmt: skip


def scans(prefix: str, n: int) -> list[Scan]:
    return [scan("RECEIVED", "CNSZX", 1, scan_id=f"{prefix}-{i}") for i in range(n)]


def held_then_queued(store: Store, writer: GroupCommit, calls: list[list[Scan]],
                     sources: list[Source | None] | None = None):  # type: ignore[no-untyped-def]
    """Start a first call and hold its transaction open, queue ``calls``
    behind it, then let everything through; the futures of all calls."""
    pool = ThreadPoolExecutor(len(calls) + 1)
    store.hold.clear()
    first = pool.submit(writer.record, scans("first", 1))
    assert store.entered.wait(5)
    sources = sources or [None] * len(calls)
    futures = [pool.submit(writer.record, c, s) for c, s in zip(calls, sources, strict=True)]
    eventually(lambda: len(writer._queue) == len(calls), 5, "every call queued")
    store.hold.set()
    pool.shutdown(wait=True)
    return first, futures


def test_a_lone_call_is_written_at_once_in_its_own_transaction() -> None:
    store = Store()
    writer = GroupCommit(store.record)
    outcomes = writer.record(scans("a", 3))
    assert [o.scan_id for o in outcomes] == ["a-0", "a-1", "a-2"]
    assert store.transactions == [(["a-0", "a-1", "a-2"], None)]


def test_calls_arriving_during_a_transaction_share_the_next_one() -> None:
    store = Store()
    written: list[tuple[int, int]] = []
    writer = GroupCommit(store.record, written=lambda calls, n: written.append((calls, n)))
    calls = [scans(f"c{i}", i + 1) for i in range(5)]
    first, futures = held_then_queued(store, writer, calls)

    assert first.result()[0].scan_id == "first-0"
    assert len(store.transactions) == 2  # the held one, then all five together
    assert sorted(store.transactions[1][0]) == sorted(s.scan_id for c in calls for s in c)
    assert written == [(1, 1), (5, 15)]
    for call, future in zip(calls, futures, strict=True):
        # Each caller gets its own scans' outcomes, in its own order.
        assert [o.scan_id for o in future.result()] == [s.scan_id for s in call]
        assert {o.position for o in future.result()} == {2}


def test_a_transaction_holds_at_most_max_scans_but_a_bigger_call_goes_whole() -> None:
    store = Store()
    writer = GroupCommit(store.record, max_scans=10)
    calls = [scans("a", 6), scans("b", 6), scans("big", 25), scans("c", 3)]
    _, futures = held_then_queued(store, writer, calls)

    sizes = [len(ids) for ids, _ in store.transactions[1:]]
    assert sizes == [6, 6, 25, 3]  # a+b would be 12 > 10; big alone; c after it
    assert [len(f.result()) for f in futures] == [6, 6, 25, 3]


def test_scans_from_different_sources_never_share_a_transaction() -> None:
    store = Store()
    writer = GroupCommit(store.record)
    carrier = Source(AGENT.kind, "carrier-x")
    calls = [scans("dev1", 2), scans("car", 2), scans("dev2", 2)]
    held_then_queued(store, writer, calls, [None, carrier, None])

    by_source = {tuple(ids): source for ids, source in store.transactions[1:]}
    assert by_source == {("dev1-0", "dev1-1", "dev2-0", "dev2-1"): None,
                         ("car-0", "car-1"): carrier}  # fmt: skip


def test_a_failed_transaction_fails_each_of_its_callers_and_the_next_ones_go_on() -> None:
    store = Store(fail_on="bad-0")
    writer = GroupCommit(store.record, max_scans=4)
    calls = [scans("bad", 2), scans("also", 2), scans("later", 3)]
    _, futures = held_then_queued(store, writer, calls)

    for failed in futures[:2]:  # bad and also shared the failed transaction
        with pytest.raises(ConnectionError, match="the store went away"):
            failed.result()
    assert [o.scan_id for o in futures[2].result()] == ["later-0", "later-1", "later-2"]
    assert writer.record(scans("after", 1))[0].result is ScanResult.RECORDED


def test_nothing_to_record_is_no_transaction() -> None:
    store = Store()
    assert GroupCommit(store.record).record([]) == []
    assert store.transactions == []
