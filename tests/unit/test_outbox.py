"""The outbox decides, from the events alone, which messages to send: one
per change per matching subscription of the shipment's account, in the
shipment's order, with ids a rebuild decides again."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from projections import outbox
from projections.readmodel import Views
from projections.registry import READ_MODELS
from projections.runner import ReadModelRunner
from tests.builders import AGENT, HK_STO, TN, booking, scan
from tracking.application import ShipmentService
from tracking.webhook import WebhookEvent

KINDS = [k.value for k in WebhookEvent]


class World:
    def __init__(self, threshold: timedelta = outbox.DEFAULT_ETA_THRESHOLD) -> None:
        self.app = ShipmentService(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.views = Views.in_memory(READ_MODELS)
        self.view = self.views[outbox.READ_MODEL]
        self.view.eta_threshold = threshold
        self.runner = ReadModelRunner(self.app, self.views)

    def subscribe(self, account: str = "default", events: list[str] = KINDS) -> object:
        webhook, _ = self.app.webhooks.create("https://example.com/h", events, account,
                                             os.urandom(24), AGENT)
        return webhook.id

    def messages(self, webhook_id: object) -> list[tuple[str, dict[str, object]]]:
        self.runner.catch_up()
        return [(m.kind, json.loads(m.body)["data"])
                for m in self.view.messages(webhook_id)]  # type: ignore[arg-type]


def test_a_status_change_names_the_status_before_it() -> None:
    w = World()
    hook = w.subscribe()
    w.app.book(TN, booking(), HK_STO, AGENT)
    w.app.record_scan(scan("RECEIVED", "HKHKG", 3))
    assert [(k, d["previous_status"], d["status"]) for k, d in w.messages(hook)] == [
        ("shipment.status_changed", "INFO_RECEIVED", "IN_TRANSIT")]


def test_an_eta_moved_past_the_threshold_is_a_revision_and_one_within_it_is_not() -> None:
    for threshold, expected in ((timedelta(hours=2), 1), (timedelta(hours=8), 0)):
        w = World(threshold)
        hook = w.subscribe(events=["shipment.eta_revised"])
        w.app.book(TN, booking(), HK_STO, AGENT)
        w.app.record_scan(scan("RECEIVED", "HKHKG", 3))
        w.app.record_scan(scan("LOADED", "HKHKG", 3, 6, voyage="V100"))  # six hours late
        found = w.messages(hook)
        assert len(found) == expected
        if found:
            assert found[0][1]["previous_eta"] != found[0][1]["eta"]


def test_an_exception_raised_is_told_with_its_kind() -> None:
    w = World()
    hook = w.subscribe(events=["shipment.exception_raised"])
    w.app.book(TN, booking(), HK_STO, AGENT)
    w.app.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"))
    w.app.record_scan(scan("UNLOADED", "JPTYO", 9, voyage="V100"))  # not where the route goes
    [(kind, data)] = w.messages(hook)
    assert kind == "shipment.exception_raised"
    assert data["exception"]["kind"] == "MISDIRECTED"  # type: ignore[index]


def test_only_the_shipment_s_account_is_told_and_only_of_what_it_asked() -> None:
    w = World()
    mine, theirs = w.subscribe("default", ["shipment.delivered"]), w.subscribe("other")
    w.app.book(TN, booking(), HK_STO, AGENT)
    w.app.record_scan(scan("RECEIVED", "HKHKG", 3))
    w.app.record_scan(scan("DELIVERED", "SESTO", 15))
    assert [k for k, _ in w.messages(mine)] == ["shipment.delivered"]
    assert w.messages(theirs) == []


def test_a_subscription_is_not_told_of_changes_before_it() -> None:
    w = World()
    w.app.book(TN, booking(), HK_STO, AGENT)
    w.app.record_scan(scan("RECEIVED", "HKHKG", 3))
    hook = w.subscribe()
    w.app.record_scan(scan("OUT_FOR_DELIVERY", "SESTO", 15))
    assert [(d["previous_status"], d["status"]) for _, d in w.messages(hook)] == [
        ("IN_TRANSIT", "OUT_FOR_DELIVERY")]


def test_a_rebuilt_outbox_decides_the_same_messages_with_the_same_ids() -> None:
    w = World()
    hook = w.subscribe()
    w.app.book(TN, booking(), HK_STO, AGENT)
    for s in (scan("RECEIVED", "HKHKG", 3), scan("LOADED", "HKHKG", 3, 6, voyage="V100"),
              scan("DELIVERED", "SESTO", 15)):
        w.app.record_scan(s)
    w.runner.catch_up()
    before = w.view.messages(hook)  # type: ignore[arg-type]
    w.runner.rebuild(["outbox"])
    assert w.view.messages(hook) == before and len(before) >= 3  # type: ignore[arg-type]


def test_an_end_of_the_eta_window_moved_past_the_threshold_is_a_revision() -> None:
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    window = (at - timedelta(hours=6), at + timedelta(hours=6))
    was = outbox.Tracked(state=None, eta=at, window=window)  # type: ignore[arg-type]
    two = timedelta(hours=2)
    later_end = (window[0], window[1] + timedelta(hours=3))
    assert outbox.revised(was, at, later_end, two)  # the ETA stayed, the window widened
    assert outbox.revised(was, at, (window[0] - timedelta(hours=3), window[1]), two)
    assert not outbox.revised(was, at, (window[0], window[1] + timedelta(hours=1)), two)
    assert outbox.revised(was, at + timedelta(hours=3), window, two)  # the ETA itself
    # a window appearing or going is not a revision (as an ETA appearing is not)
    assert not outbox.revised(was, at, None, two)
    assert not outbox.revised(outbox.Tracked(state=None, eta=at), at, later_end,  # type: ignore[arg-type]
                              two)
