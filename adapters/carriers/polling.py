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

from adapters.carriers import dcsa, parcel
from adapters.carriers.masterdata import MasterData
from adapters.carriers.translation import carrier, record
from adapters.metrics import Metrics
from tracking.application import ScanResult, ShipmentService
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import TrackingNumber

log = logging.getLogger(__name__)
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None = None
    next_page: str | None = None


def http_get(url: str, headers: dict[str, str], timeout: float = 10.0) -> Answer:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310: the URL is checked http(s) when read (settings)
            return Answer(response.status, response.read(),
                          next_page=response.headers.get("Next-Page"))
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read(), e.headers.get("Retry-After"))


class ParcelClient:
    """``GET {base}/track/shipments?trackingNumber=N`` with the API key."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"DHL-API-Key": api_key} if api_key else {}
        self.timeout = timeout

    def fetch(self, tn: str) -> Answer:
        query = urllib.parse.urlencode({"trackingNumber": tn})
        return http_get(f"{self.base_url}/track/shipments?{query}", self.headers, self.timeout)


class Pacer:
    """One carrier's request budget: requests spaced by its rate limit, and
    after a 429 or 5xx none until the back-off it asked for (Retry-After,
    else doubling) is over."""

    def __init__(self, requests_per_minute: int, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.spacing = 60.0 / requests_per_minute
        self.monotonic = monotonic
        self.sleep = sleep
        self.resume_at = 0.0
        self.failures = 0
        self._last_request: float | None = None

    def backing_off(self) -> float | None:
        """Seconds of back-off left, or None when requests may be made."""
        left = self.resume_at - self.monotonic()
        return left if left > 0 else None

    def wait_turn(self) -> None:
        if self._last_request is not None:
            wait = self._last_request + self.spacing - self.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_request = self.monotonic()

    def refused(self, answer: Answer) -> bool:
        return answer.status == 429 or answer.status >= 500

    def back_off(self, answer: Answer, now: datetime) -> float:
        self.failures += 1
        delay = _retry_after(answer.retry_after, now)
        if delay is None:
            delay = min(MAX_BACKOFF, self.spacing * 2**self.failures)
        self.resume_at = self.monotonic() + delay
        return delay

    def answered(self) -> None:
        self.failures = 0


class Background:
    """Runs a poller's rounds in a thread until stopped."""

    def __init__(self, name: str, poll_once: Callable[[], Round]) -> None:
        self.name = name
        self.poll_once = poll_once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                done = self.poll_once()
            except OSError as e:  # the carrier cannot be reached: next round
                log.warning("polling %s: %s", self.name, e)
            else:
                # A line per round, beside the metrics (TRACKING_METRICS_PORT).
                log.info("polled %s: %d requests, %d events recorded, %d finished, %d refused%s",
                         self.name, len(done.polled), done.recorded, len(done.finished),
                         len(done.refused), f", backing off {done.backed_off_for:.0f} s"
                         if done.backed_off_for else "")
            self._stop.wait(interval)

    def start(self, interval: float) -> None:
        self._thread = threading.Thread(target=self.run, args=(interval,), daemon=True,
                                        name=f"poll-{self.name}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)


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
        self.pacer = Pacer(requests_per_minute, monotonic=monotonic, sleep=sleep)
        self.expire_after = expire_after
        self.master = master
        self.metrics = metrics
        self.finished: set[str] = set()
        self.background = Background(carrier_name, self.poll_once)

    def poll_once(self) -> Round:
        """One pass over the shipments to poll. Stops early when the carrier
        asks to back off; the next round resumes after the back-off."""
        done = Round(backed_off_for=self.pacer.backing_off())
        if done.backed_off_for is not None:
            return done
        for tn in self.watch():
            if self.background.stopping:
                break
            if tn in self.finished or not self._ours(tn, done):
                continue
            self.pacer.wait_turn()
            answer = self.client.fetch(tn)
            done.polled.append(tn)
            if self.pacer.refused(answer):
                done.backed_off_for = self._back_off(answer)
                return done
            self.pacer.answered()
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
        done.recorded += sum(o.result is ScanResult.RECORDED for o in outcomes)
        if delivered:
            self._finish(tn, done)

    def _finish(self, tn: str, done: Round) -> None:
        self.finished.add(tn)
        done.finished.append(tn)

    def _back_off(self, answer: Answer) -> float:
        delay = self.pacer.back_off(answer, self.service.clock())
        log.warning("%s answered %s: backing off for %.0f s", self.carrier_name, answer.status,
                    delay)
        return delay


class DcsaPoller:
    """``GET {base}/v2/events?eventCreatedDateTime:gte=<cursor>&limit=N``,
    following ``Next-Page`` links; the cursor moves to the latest
    ``eventCreatedDateTime`` recorded, page by page, so after a back-off or a
    restart polling resumes from there (``gte``: events created in the same
    instant are asked again and are duplicates, never lost). On start the
    cursor is ``since`` (a look-back: re-reading is harmless)."""

    def __init__(
        self,
        service: ShipmentService,
        base_url: str,
        api_key: str | None,
        *,
        since: datetime,
        requests_per_minute: int,
        page_size: int = 100,
        metrics: Metrics | None = None,
        get: Callable[[str, dict[str, str]], Answer] = http_get,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.cursor = since
        self.page_size = page_size
        self.metrics = metrics
        self.get = get
        self.pacer = Pacer(requests_per_minute, monotonic=monotonic, sleep=sleep)
        self.background = Background(dcsa.FORMAT, self.poll_once)

    def poll_once(self) -> Round:
        done = Round(backed_off_for=self.pacer.backing_off())
        if done.backed_off_for is not None:
            return done
        query = urllib.parse.urlencode({"eventCreatedDateTime:gte": self.cursor.isoformat(),
                                        "limit": self.page_size}, safe=":")
        url: str | None = urllib.parse.urljoin(self.base_url, f"v2/events?{query}")
        while url is not None and not self.background.stopping:
            self.pacer.wait_turn()
            answer = self.get(url, self.headers)
            done.polled.append(url)
            if self.pacer.refused(answer):
                done.backed_off_for = self.pacer.back_off(answer, self.service.clock())
                log.warning("DCSA answered %s: backing off for %.0f s", answer.status,
                            done.backed_off_for)
                return done
            self.pacer.answered()
            if answer.status != 200:
                done.refused[url] = f"HTTP {answer.status}"
                return done
            try:
                events = dcsa.decode_events(answer.body)
                translated = dcsa.translate_all(events)
            except InvalidInput as e:
                log.warning("DCSA answered a page that cannot be read: %s", e)
                done.refused[url] = e.message
                return done
            outcomes = record(self.service, translated, source_format=dcsa.FORMAT,
                              source=carrier(dcsa.FORMAT), metrics=self.metrics)
            done.recorded += sum(o.result is ScanResult.RECORDED for o in outcomes)
            created = [e.eventCreatedDateTime for e in events if e.eventCreatedDateTime]
            self.cursor = max([self.cursor, *created])
            url = urllib.parse.urljoin(self.base_url, answer.next_page) if answer.next_page else None
        return done


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
