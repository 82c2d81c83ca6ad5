"""Polling a carrier's tracking API: one request per shipment, spaced by the
carrier's rate limit; on 429 or 5xx it backs off for the Retry-After the
carrier asks for (else exponentially), then resumes; it stops
polling a shipment the carrier says is delivered, or whose booking is older
than the expiry. Time is injected (``monotonic`` and ``sleep``), so tests
drive it without waiting.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from adapters.carriers import parcel
from adapters.carriers.masterdata import MasterData
from adapters.carriers.translation import carrier, record
from adapters.http.metrics import Metrics
from tracking.application import ShipmentService
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import TrackingNumber

log = logging.getLogger(__name__)
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None = None


class ParcelClient:
    """``GET {base}/track/shipments?trackingNumber=N`` with the API key."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def fetch(self, tn: str) -> Answer:
        url = f"{self.base_url}/track/shipments?{urllib.parse.urlencode({'trackingNumber': tn})}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.api_key:
            request.add_header("DHL-API-Key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.read(), e.headers.get("Retry-After"))


@dataclass
class Round:
    """What one polling round did."""

    polled: list[str] = field(default_factory=list)
    recorded: int = 0
    finished: list[str] = field(default_factory=list)  # delivered or expired: no longer polled
    backed_off_for: float | None = None
    refused: dict[str, str] = field(default_factory=dict)  # payloads that could not be read


class Poller:
    def __init__(
        self,
        service: ShipmentService,
        client: ParcelClient,
        watch: Callable[[], Iterable[str]],
        *,
        carrier_name: str,
        requests_per_minute: int,
        expire_after: timedelta,
        master: MasterData,
        metrics: Metrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.client = client
        self.watch = watch
        self.carrier_name = carrier_name
        self.spacing = 60.0 / requests_per_minute
        self.expire_after = expire_after
        self.master = master
        self.metrics = metrics
        self.monotonic = monotonic
        self.sleep = sleep
        self.finished: set[str] = set()
        self.resume_at = 0.0  # no request before this (monotonic), after a 429 or 5xx
        self.failures = 0
        self._last_request: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> Round:
        """One pass over the shipments to poll. Stops early when the carrier
        asks to back off; the next round resumes after the back-off."""
        done = Round()
        if self.monotonic() < self.resume_at:
            done.backed_off_for = self.resume_at - self.monotonic()
            return done
        for tn in self.watch():
            if self._stop.is_set():
                break
            if tn in self.finished or not self._ours(tn, done):
                continue
            self._wait_turn()
            answer = self.client.fetch(tn)
            done.polled.append(tn)
            if answer.status == 429 or answer.status >= 500:
                done.backed_off_for = self._back_off(answer)
                return done
            self.failures = 0
            if answer.status == 404:
                continue  # not (yet) known to the carrier
            if answer.status != 200:
                done.refused[tn] = f"HTTP {answer.status}"
                continue
            self._record(TrackingNumber(tn), answer.body, done)
        return done

    def _ours(self, tn: str, done: Round) -> bool:
        """Booked with this carrier and not expired."""
        try:
            shipment = self.service.get(tn)
        except ShipmentNotFound:
            return False
        booking = shipment.require_booked()
        if booking.carrier != self.carrier_name:
            return False
        assert shipment.booked_at is not None
        if self.service.clock() - shipment.booked_at > self.expire_after:
            self._finish(tn, done)
            return False
        return True

    def _record(self, tn: TrackingNumber, body: bytes, done: Round) -> None:
        try:
            delivered, translated = parcel.parse(body, tn, self.master)
        except InvalidInput as e:
            # The carrier's answer cannot be read: kept in the log and the
            # round's report; polled again next round.
            log.warning("%s: %s answered what cannot be read: %s", tn, self.carrier_name, e)
            done.refused[tn] = e.message
            return
        outcomes = record(self.service, translated, source_format=parcel.FORMAT,
                          source=carrier(self.carrier_name), metrics=self.metrics)
        done.recorded += sum(o.result.value == "recorded" for o in outcomes)
        if delivered:
            self._finish(tn, done)

    def _finish(self, tn: str, done: Round) -> None:
        self.finished.add(tn)
        done.finished.append(tn)

    def _wait_turn(self) -> None:
        if self._last_request is not None:
            wait = self._last_request + self.spacing - self.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_request = self.monotonic()

    def _back_off(self, answer: Answer) -> float:
        self.failures += 1
        delay = _retry_after(answer.retry_after, self.service.clock())
        if delay is None:
            delay = min(MAX_BACKOFF, self.spacing * 2**self.failures)
        self.resume_at = self.monotonic() + delay
        log.warning("%s answered %s: backing off for %.0f s", self.carrier_name, answer.status,
                    delay)
        return delay

    # -- running in the background -------------------------------------------------

    def run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except OSError as e:  # the carrier cannot be reached: next round
                log.warning("polling %s: %s", self.carrier_name, e)
            self._stop.wait(interval)

    def start(self, interval: float) -> Poller:
        self._thread = threading.Thread(target=self.run, args=(interval,), daemon=True,
                                        name=f"poll-{self.carrier_name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return min(MAX_BACKOFF, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        return min(MAX_BACKOFF, max(0.0, (parsedate_to_datetime(value) - now).total_seconds()))
    except (TypeError, ValueError):
        return None
