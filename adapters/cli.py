"""The ``tracking`` command.

Until the HTTP API lands, ``tracking demo`` is what ``make run`` starts: it
books a demo shipment on the configured store, feeds it scans one by one and
prints the view derived after each.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from adapters.composition import build_service
from adapters.settings import ConfigError, Settings, _redact
from tracking.booking import Booking, Recipient
from tracking.codes import ScanEvent, SourceKind, TransportMode
from tracking.identifiers import CountryCode, Locode, TrackingNumber
from tracking.mapper import enc_hook
from tracking.route import Leg, Route
from tracking.scan import Scan, Source

ENVIRONMENT_HELP = """environment:
  TRACKING_DATABASE_URL  postgresql://user:pass@host:port/db[?schema=s] or
                         sqlite:///path (default sqlite:///./var/tracking.db)
  TRACKING_MQTT_URL      mqtt://user:pass@host:port (default: in-process)
  TRACKING_MQTT_CLIENT_ID  stable MQTT client id (default tracking-ingest)
  TRACKING_MQTT_GROUP    shared-subscription group ("" for none; default ingest)
  TRACKING_MQTT_EMBEDDED_PORT  port of the in-process broker (default 1883)
  TRACKING_DEVICES       registered device ids, comma-separated (default: any device)
  TRACKING_HTTP_HOST     default 127.0.0.1
  TRACKING_HTTP_PORT     default 8000
  TRACKING_API_TOKENS    role:token,role:token,... (default: none)
  TRACKING_RATE_LIMIT_PER_MINUTE  requests per minute per client (default 60000)
  TRACKING_DCSA_SECRET, TRACKING_AGGREGATOR_SECRET  HMAC secrets of pushed carrier events
  TRACKING_SIGNATURE_TOLERANCE_SECONDS  signed timestamps older than this are refused (300)
  TRACKING_CARRIER_MASTER_DATA  TOML: EPCIS objects and locations, carriers' places
  TRACKING_PARCEL_API_URL, TRACKING_PARCEL_API_KEY  the polled parcel carrier's API
  TRACKING_PARCEL_CARRIER  the booking carrier whose shipments are polled (default dhl)
  TRACKING_PARCEL_POLL_SECONDS  between polling rounds (default 300)
  TRACKING_PARCEL_REQUESTS_PER_MINUTE  the carrier's rate limit (default 60)
  TRACKING_PARCEL_EXPIRE_DAYS  stop polling shipments booked longer ago (default 60)
  TRACKING_DCSA_API_URL, TRACKING_DCSA_API_KEY  the ocean carrier's T&T v2 API (bearer key)
  TRACKING_DCSA_POLL_SECONDS, TRACKING_DCSA_REQUESTS_PER_MINUTE  (defaults 300, 60)
  TRACKING_DCSA_LOOKBACK_DAYS  where polling starts after a (re)start (default 7)
"""


def _demo_plan(start: datetime) -> tuple[TrackingNumber, Booking, Route, list[Scan]]:
    def day(n: float) -> datetime:
        return start + timedelta(days=n)

    def leg(voyage: str, mode: str, frm: str, to: str, dep: float, arr: float) -> Leg:
        return Leg(voyage=voyage, mode=TransportMode(mode), from_=Locode(frm), to=Locode(to),
                   departs_at=day(dep), arrives_at=day(arr))

    tn = TrackingNumber("LX123456785CN")
    booking = Booking(
        carrier="postnord", origin=Locode("HKHKG"), destination=Locode("SESTO"),
        deliver_by=day(16), recipient=Recipient("Demo Recipient", "11122", CountryCode("SE")),
    )
    route = Route((
        leg("CX100", "air", "HKHKG", "DEFRA", 1, 1.6),
        leg("DB200", "rail", "DEFRA", "DEHAM", 2.5, 3),
        leg("TT300", "sea", "DEHAM", "SESTO", 4, 6),
    ))
    steps = [
        ("RECEIVED", "HKHKG", 0.5, None),
        ("LOADED", "HKHKG", 1.1, "CX100"),  # a little late
        ("UNLOADED", "DEFRA", 1.7, "CX100"),
        ("LOADED", "DEFRA", 2.5, "DB200"),
        ("UNLOADED", "DEHAM", 3.1, "DB200"),
        ("LOADED", "DEHAM", 4.2, "TT300"),
        ("UNLOADED", "SESTO", 6.2, "TT300"),
        ("OUT_FOR_DELIVERY", "SESTO", 6.5, None),
        ("DELIVERED", "SESTO", 6.7, None),
    ]
    scans = [
        Scan(scan_id=f"demo-{tn}-{i}", tracking_number=tn, event=ScanEvent(event),
             location=Locode(loc), occurred_at=day(when), device_id="demo-scanner", voyage=voyage)
        for i, (event, loc, when, voyage) in enumerate(steps, 1)
    ]
    return tn, booking, route, scans


def demo(settings: Settings) -> int:
    service = build_service(settings)
    start = datetime(2009, 3, 1, tzinfo=UTC)
    tn, booking, route, scans = _demo_plan(start)
    print(f"store: {_redact(settings.database_url)}")
    booked = service.book(tn, booking, route, Source(SourceKind.AGENT, "demo"))
    print(f"booked {tn}: {'new' if booked.changed else 'already booked (same data)'}")
    for scan in scans:
        outcome = service.record_scan(scan)
        d = service.delivery(tn)
        expected = d.next_expected
        print(
            f"{scan.occurred_at:%Y-%m-%d %H:%M} {scan.event.value:<17} {scan.location} "
            f"[{outcome.result.value}] -> {d.status.value}, {d.transport_status.value}, "
            f"next: {f'{expected.event.value} {expected.location}' if expected else '-'}, "
            f"eta: {d.eta:%Y-%m-%d %H:%M}" if d.eta else "eta: -"
        )
    print("derived view:")
    print(msgspec.json.format(msgspec.json.encode(service.delivery(tn), enc_hook=enc_hook)).decode())
    service.close()
    return 0


def serve(settings: Settings, *, run_projections: bool, run_ingest: bool = False) -> int:
    import uvicorn

    from adapters.composition import build_api
    from adapters.http.app import create_app

    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(build_api(settings, run_projections=run_projections, run_ingest=run_ingest))
    print(f"tracking: API on http://{settings.http_host}:{settings.http_port} "
          f"(store: {_redact(settings.database_url)}; "
          f"views {'kept in this process' if run_projections else 'kept by `tracking project`'})",
          file=sys.stderr)
    # No access log: one line per request costs an eighth of a read's time;
    # /metrics counts requests by route and status.
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="info",
                access_log=False)
    return 0


def project(settings: Settings) -> int:
    """Keep the views up to date until interrupted."""
    import signal
    import threading

    from adapters.composition import build_runner, build_service, build_view_store

    service = build_service(settings)
    store = build_view_store(settings)
    runner = build_runner(settings, service, store)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    caught_up = runner.catch_up()
    print(f"tracking: views caught up ({caught_up} events); following the log", file=sys.stderr)
    runner.start()
    while not done.wait(1.0):
        if runner.error is not None:
            print(f"tracking: projection runner stopped: {runner.error!r}", file=sys.stderr)
            return 1
    runner.stop()
    store.close()
    service.close()
    return 0


def ingest(settings: Settings) -> int:
    """Consume scans from TRACKING_MQTT_URL until SIGTERM or SIGINT; then
    finish and acknowledge the batch in hand."""
    import logging
    import signal
    import threading

    from adapters.composition import build_consumer, build_dead_letters, build_service

    if settings.mqtt_url is None:
        print("tracking: ingest needs TRACKING_MQTT_URL (mqtt://user:pass@host:port)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    service = build_service(settings)
    dead_letters = build_dead_letters(settings)
    consumer = build_consumer(settings, service, dead_letters)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    consumer.start()
    print(f"tracking: consuming scans from {_redact(settings.mqtt_url)} as "
          f"{settings.mqtt_client_id}", file=sys.stderr)
    done.wait()
    consumer.stop()
    dead_letters.close()
    service.close()
    return 0


def poll(settings: Settings) -> int:
    """Poll the configured carriers (parcel, DCSA) until SIGTERM or SIGINT.
    One process per carrier API key: the carrier's rate limit is per key, so
    polling is not part of the API processes, which are scaled out."""
    import logging
    import signal
    import threading

    from adapters.composition import (
        build_dcsa_poller,
        build_poller,
        build_service,
        build_view_store,
    )

    conf = settings.carriers
    if conf.parcel_api_url is None and conf.dcsa_api_url is None:
        print("tracking: poll needs TRACKING_PARCEL_API_URL or TRACKING_DCSA_API_URL",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    service = build_service(settings)
    store = build_view_store(settings)
    running = []
    if conf.parcel_api_url is not None:
        running.append((build_poller(settings, service, store).background, conf.parcel_poll_seconds))
        print(f"tracking: polling {conf.parcel_carrier} at {conf.parcel_api_url} every "
              f"{conf.parcel_poll_seconds} s", file=sys.stderr)
    if conf.dcsa_api_url is not None:
        running.append((build_dcsa_poller(settings, service).background, conf.dcsa_poll_seconds))
        print(f"tracking: polling DCSA events at {conf.dcsa_api_url} every "
              f"{conf.dcsa_poll_seconds} s", file=sys.stderr)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    for background, interval in running:
        background.start(interval)
    done.wait()
    for background, _ in running:
        background.stop()
    store.close()
    service.close()
    return 0


def simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Publish realistic scan traffic over MQTT, for demos and benchmarks."""
    from adapters.mqtt.simulate import simulate as run

    report = run(settings, shipments=args.shipments, rate=args.rate, duplicates=args.duplicates,
                 malformed=args.malformed, misroutes=args.misroutes, seed=args.seed,
                 book=not args.no_book)
    print(f"published {report.published:,} messages for {report.shipments:,} shipments in "
          f"{report.elapsed:.1f} s ({report.rate:,.0f}/s): {report.valid:,} valid "
          f"({report.misrouted:,} misrouted), {report.duplicates:,} duplicates, "
          f"{report.malformed:,} malformed; {report.acked:,} PUBACKs, {report.refused:,} refused")
    return 0 if report.acked == report.published and not report.refused else 1


def rebuild(settings: Settings, view: str) -> int:
    from adapters.composition import build_runner, build_service, build_view_store

    service = build_service(settings)
    store = build_view_store(settings)
    started = time.perf_counter()
    count = build_runner(settings, service, store).rebuild()
    elapsed = time.perf_counter() - started
    print(f"rebuilt the {view} views from {count} events in {elapsed:.1f} s "
          f"({count / elapsed if elapsed else 0:,.0f} events/s)")
    store.close()
    service.close()
    return 0


def check_config(settings: Settings) -> int:
    print(f"database: {_redact(settings.database_url)}")
    print(f"mqtt: {_redact(settings.mqtt_url) if settings.mqtt_url else 'in-process broker'}")
    print(f"http: {settings.http_host}:{settings.http_port}")
    print(f"api tokens: {len(settings.api_tokens)} ({', '.join(sorted(set(settings.api_tokens.values()))) or 'none'})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tracking", description="Event-sourced shipment tracking.",
        epilog=ENVIRONMENT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    parsers = {}
    for name, helptext in [
        ("all", "everything in one process: the API, the views and MQTT ingestion (from "
                "TRACKING_MQTT_URL, or an in-process broker when it is not set)"),
        ("serve", "the HTTP API only; the views are kept by `tracking project`"),
        ("project", "keep the views up to date with the event log"),
        ("ingest", "consume scans from the MQTT broker (TRACKING_MQTT_URL)"),
        ("poll", "poll the carriers' tracking APIs: the parcel carrier (TRACKING_PARCEL_API_URL) "
                 "and DCSA GET /v2/events (TRACKING_DCSA_API_URL)"),
        ("simulate", "publish realistic scan traffic for N shipments over MQTT (books them first)"),
        ("rebuild", "empty a view and build it again from the whole event log"),
        ("demo", "book a demo shipment, feed it scans, print the derived view after each"),
        ("check-config", "read the configuration from the environment and print it (no secrets)"),
    ]:
        parsers[name] = commands.add_parser(
            name, help=helptext, description=helptext, epilog=ENVIRONMENT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    sim = parsers["simulate"]
    sim.add_argument("--shipments", type=int, default=100, help="how many shipments (default 100)")
    sim.add_argument("--rate", type=float, default=200.0,
                     help="messages per second, 0 for as fast as possible (default 200)")
    sim.add_argument("--duplicates", type=float, default=0.01, help="share published twice")
    sim.add_argument("--malformed", type=float, default=0.005, help="share that cannot be scans")
    sim.add_argument("--misroutes", type=float, default=0.02, help="share of UNLOADED scans made at the wrong port")
    sim.add_argument("--seed", type=int, default=None, help="for repeatable traffic")
    sim.add_argument("--no-book", action="store_true", help="do not book the shipments first")
    parsers["rebuild"].add_argument("view", choices=["shipments"],
                                    help="the view to rebuild (shipments: status and exceptions)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"tracking: configuration error: {e}", file=sys.stderr)
        return 2
    commands_run = {
        "all": lambda s: serve(s, run_projections=True, run_ingest=True),
        "serve": lambda s: serve(s, run_projections=False),
        "project": project,
        "ingest": ingest,
        "poll": poll,
        "simulate": lambda s: simulate(s, args),
        "rebuild": lambda s: rebuild(s, args.view),
        "demo": demo,
        "check-config": check_config,
    }
    return commands_run[args.command](settings)


if __name__ == "__main__":
    sys.exit(main())
