"""The ``tracking`` command: one subcommand per process (``all``, ``serve``,
``ingest``, ``project``) and per operator task (``rebuild``, ``dead-letters``,
``health``, ``simulate``, ``check-config``, ``demo``). Each one's ``--help``
says what it does and which TRACKING_* variables it reads (``COMMANDS``).

This module parses and dispatches; the processes are in
adapters/commands/processes.py, the tasks on recorded data in
adapters/commands/data.py.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec

from adapters.commands.data import dead_letters_command, eta_command, rebuild, simulate
from adapters.commands.processes import ingest, notify, poll, project, serve, worker_app
from adapters.commands.names import reindex_command
from adapters.commands.remap import add_arguments as add_remap_arguments, remap_command
from adapters.composition import build_service
from adapters.logs import configure as configure_logging
from adapters.settings import VARIABLES, ConfigError, Settings, _redact
from projections.registry import READ_MODELS
from tracking.booking import Booking, Recipient
from tracking.codes import ScanEvent, SourceKind, TransportMode
from tracking.errors import TrackingError
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit
from tracking.mapper import enc_hook
from tracking.route import Leg, Route
from tracking.scan import Scan, Source

__all__ = ["main", "worker_app"]  # worker_app: `tracking serve`'s workers, by its old name too

log = logging.getLogger("tracking.cli")

COMMON = ("TRACKING_DATABASE_URL", "TRACKING_LOG_FORMAT", "TRACKING_LOG_LEVEL", "TRACKING_CACHE_BYTES")
# Read by the API: customs checks, and verifying what carriers push.
CUSTOMS = ("TRACKING_HS_NOMENCLATURE", "TRACKING_CUSTOMS_RULES")
PUSHED = ("TRACKING_DCSA_SECRET", "TRACKING_AGGREGATOR_SECRET",
          "TRACKING_SIGNATURE_TOLERANCE_SECONDS", "TRACKING_CARRIER_MASTER_DATA")
HTTP = ("TRACKING_HTTP_HOST", "TRACKING_HTTP_PORT", "TRACKING_API_TOKENS",
        "TRACKING_RATE_LIMIT_PER_MINUTE", "TRACKING_READY_MAX_LAG_SECONDS", *CUSTOMS, *PUSHED)
MQTT = ("TRACKING_MQTT_URL", "TRACKING_MQTT_CLIENT_ID", "TRACKING_MQTT_GROUP", "TRACKING_MQTT_SLOTS",
        "TRACKING_DEVICES")
CARRIERS = tuple(name for name in VARIABLES
                 if name.startswith(("TRACKING_PARCEL_", "TRACKING_DCSA_API", "TRACKING_DCSA_POLL",
                                     "TRACKING_DCSA_REQUESTS", "TRACKING_DCSA_LOOKBACK",
                                     "TRACKING_CARRIER_")))
OPS = ("TRACKING_METRICS_PORT", "TRACKING_HTTP_HOST", "TRACKING_READY_MAX_LAG_SECONDS")
NOTIFY = ("TRACKING_WEBHOOKS_ALLOW_PRIVATE", "TRACKING_SMTP_URL", "TRACKING_SMTP_FROM",
          "TRACKING_PUBLIC_URL", "TRACKING_HTTP_PORT")
# What each subcommand does, and the variables it reads (its --help lists them).
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "all": ("everything in one process: the API, the views and MQTT ingestion (from "
            "TRACKING_MQTT_URL; when it is not set, from an in-process broker on "
            "TRACKING_MQTT_EMBEDDED_PORT, or from the MQTT broker already there); SIGTERM stops "
            "it gracefully; it sends the notifications too, as `tracking notify` does",
            COMMON + HTTP + MQTT + ("TRACKING_MQTT_EMBEDDED_PORT",) + NOTIFY),
    "serve": ("the HTTP API only (/api/v1, /livez, /readyz, /metrics), in "
              "TRACKING_HTTP_WORKERS processes; the views are kept by `tracking project`",
              COMMON + HTTP + ("TRACKING_HTTP_WORKERS",)),
    "project": ("keep the views up to date with the event log until SIGTERM; health and metrics "
                "on TRACKING_METRICS_PORT", COMMON + OPS),
    "ingest": ("consume scans from the MQTT broker until SIGTERM, then finish and acknowledge "
               "the batch in hand; health and metrics on TRACKING_METRICS_PORT",
               COMMON + MQTT + OPS),
    "poll": ("poll the carriers' tracking APIs until SIGTERM: the parcel carrier "
             "(TRACKING_PARCEL_API_URL) and DCSA GET /v2/events (TRACKING_DCSA_API_URL); "
             "health and metrics on TRACKING_METRICS_PORT", COMMON + CARRIERS + OPS),
    "notify": ("send the outbox's notifications until SIGTERM: signed webhooks to merchants, "
               "e-mail to customers (TRACKING_SMTP_URL), every attempt recorded; health and "
               "metrics on TRACKING_METRICS_PORT", COMMON + OPS + NOTIFY),
    "simulate": ("publish realistic scan traffic for N shipments over MQTT (books them first); "
                 "with --history N, record a delivered history of N shipments instead (see "
                 "adapters/history.py for its lanes and parameters)",
                 COMMON + ("TRACKING_MQTT_URL",)),
    "eta": ("the ETA lane model: `eta publish` fits it on the delivered shipments in the log and "
            "records it (views use it from then on); `eta backtest [--since --until]` replays the "
            "log with no look-ahead and prints its accuracy beside the plan-only ETA's", COMMON),
    "rebuild": ("empty the views named (every one when none is) and build them again from the "
                "whole event log; on PostgreSQL under the views' lease, so it is refused (or, "
                "with --wait, waits) while a `tracking project` or `tracking all` keeps them up",
                COMMON),
    "remap": ("re-translate the carrier codes kept with the events under the code mappings as "
              "they are now; record each difference as a correction (the old translation "
              "retracted, the new one recorded, both citing their mapping); --dry-run prints "
              "them only", COMMON),
    "reindex-names": ("put every booked recipient's name words in the blind name index the "
                      "console searches by (shipments booked before it existed); again "
                      "changes nothing", COMMON),
    "dead-letters": ("list what arrived but could not be a scan, or re-submit it", COMMON
                     + ("TRACKING_DEVICES",)),
    "health": ("exit 0 when this machine's process is ready (or, with --live, answers): GETs "
               "/readyz on TRACKING_METRICS_PORT when set, else TRACKING_HTTP_PORT; for health "
               "checks in images without curl", ("TRACKING_HTTP_HOST", "TRACKING_HTTP_PORT",
                                                 "TRACKING_METRICS_PORT")),
    "demo": ("book a demo shipment, feed it scans, print the derived view after each; in a "
             "temporary SQLite database of its own, deleted afterwards (--database URL to keep "
             "it somewhere, under a fresh tracking number)", CUSTOMS),
    "check-config": ("read the configuration from the environment and print it (no secrets)",
                     tuple(VARIABLES)),
}


def environment_help(names: Sequence[str]) -> str:
    lines = ["environment:"]
    for name in dict.fromkeys(names):
        default, meaning = VARIABLES[name]
        lines.append(f"  {name}\n      {meaning} (default: {default})")
    return "\n".join(lines)


def _demo_plan(start: datetime, tn: TrackingNumber) -> tuple[Booking, Route, list[Scan]]:
    def day(n: float) -> datetime:
        return start + timedelta(days=n)

    def leg(voyage: str, mode: str, frm: str, to: str, dep: float, arr: float) -> Leg:
        return Leg(voyage=voyage, mode=TransportMode(mode), from_=Locode(frm), to=Locode(to),
                   departs_at=day(dep), arrives_at=day(arr))

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
    return booking, route, scans


def demo(settings: Settings, database: str | None) -> int:
    """The demo in a store of its own: never the one `make run` serves, where
    the README's walkthrough booked LX123456785CN with other data."""
    if database is None:
        with tempfile.TemporaryDirectory(prefix="tracking-demo-") as directory:
            url = f"sqlite:///{directory}/demo.db"
            return _demo(replace(settings, database_url=url), TrackingNumber("LX123456785CN"))
    serial = f"{random.randrange(10**8):08d}"  # nosec B311: a demo number; a store with other shipments: a number of its own
    return _demo(replace(settings, database_url=database),
                 TrackingNumber(f"LX{serial}{s10_check_digit(serial)}CN"))


def _demo(settings: Settings, tn: TrackingNumber) -> int:
    try:
        settings.eventstore_env()
    except ConfigError as e:
        raise ConfigError(f"--database: {e}") from None
    service = build_service(settings)
    start = datetime(2009, 3, 1, tzinfo=UTC)
    booking, route, scans = _demo_plan(start, tn)
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

def check_config(settings: Settings) -> int:
    print(f"database: {_redact(settings.database_url)}")
    broker = (_redact(settings.mqtt_url) if settings.mqtt_url else
              f"in-process broker on port {settings.mqtt_embedded_port} (or the MQTT broker "
              "already there)")
    print(f"mqtt: {broker}, client id {settings.mqtt_client_id}, "
          f"group {settings.mqtt_group or 'none'}")
    print(f"http: {settings.http_host}:{settings.http_port}")
    print(f"metrics port (ingest, project): {settings.metrics_port or 'none'}")
    print(f"ready while the views lag by at most {settings.ready_max_lag_seconds} s")
    print(f"logs: {settings.log_format or 'text on a terminal, else json'}, {settings.log_level}")
    print(f"api tokens: {len(settings.api_tokens)} ({', '.join(sorted(set(settings.api_tokens.values()))) or 'none'})")
    return 0


def health_check(settings: Settings, live: bool) -> int:
    """GET /readyz (or /livez) of the process on this machine; 0 when it answers 200."""
    import urllib.error
    import urllib.request

    host = settings.http_host if settings.http_host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # nosec B104: compared, not bound
    port = settings.metrics_port or settings.http_port
    url = f"http://{host}:{port}/{'livez' if live else 'readyz'}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own URL  # nosec B310: our own http://host:port URL
            print(answer.read().decode())
            return 0
    except urllib.error.HTTPError as e:
        print(e.read().decode(), file=sys.stderr)
    except OSError as e:
        print(f"{url}: {e}", file=sys.stderr)
    return 1

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tracking", description="Event-sourced shipment tracking.",
        epilog=environment_help(VARIABLES), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    parsers = {}
    for name, (helptext, variables) in COMMANDS.items():
        parsers[name] = commands.add_parser(
            name, help=helptext, description=helptext, epilog=environment_help(variables),
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
    sim.add_argument("--history", type=_at_least_one, default=None, metavar="N",
                     help="record a delivered history of N shipments through the service "
                          "(no MQTT); --seed makes it repeatable (default 1)")
    sim.add_argument("--days", type=_at_least_one, default=365,
                     help="with --history: the days its bookings spread over (default 365)")
    parsers["rebuild"].add_argument(
        "views", nargs="*", type=_read_model, metavar="VIEW",
        help="a read model's views to rebuild, alone: "
             + ", ".join(m.name for m in READ_MODELS) + " (default: every one)")
    parsers["rebuild"].add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="while another process (tracking project, tracking all) keeps these views up, "
             "wait up to SECONDS for it to stop instead of refusing at once (PostgreSQL)")
    parsers["demo"].add_argument("--database", metavar="URL", default=None,
                                 help="record the demo there (sqlite:///path or postgresql://...) "
                                      "instead of a temporary SQLite database")
    parsers["health"].add_argument("--live", action="store_true",
                                   help="only check that the process answers (/livez)")
    eta = parsers["eta"].add_subparsers(dest="action", required=True)
    eta.add_parser("publish", help="fit the lane model on the delivered shipments and record it",
                   description="Fit the lane model on every delivered shipment in the log and "
                               "record it as a new version.")
    test = eta.add_parser("backtest", help="replay the log with no look-ahead",
                          description="Each ETA from a model fitted on deliveries made before "
                                      "it; printed beside the plan-only ETA.")
    test.add_argument("--since", type=_day, default=None, help="YYYY-MM-DD (default: 90 days "
                      "before --until)")
    test.add_argument("--until", type=_day, default=None, help="YYYY-MM-DD (default: now)")
    eta.add_parser("report", help="draw the reliability diagram and the error by hours out",
                   description="Backtest the last 90 days and draw both into a PNG (needs the "
                               "plot extra: pip install '.[plot]').").add_argument(
        "--plot", required=True, metavar="FILE.png", help="where to write the PNG")
    add_remap_arguments(parsers["remap"], _day)
    letters = parsers["dead-letters"].add_subparsers(dest="action", required=True)
    listing = letters.add_parser("list", help="print dead letters as JSON lines, oldest first",
                                 description="Print dead letters as JSON lines, oldest first.")
    listing.add_argument("--limit", type=_at_least_one, default=100, help="at most N (default 100)")
    listing.add_argument("--all", action="store_true", help="include the re-submitted ones")
    again = letters.add_parser(
        "resubmit", help="parse stored dead letters again and record those that are scans now",
        description="Parse each dead letter's stored message again (with the current "
                    "TRACKING_DEVICES) and record it in its place if it is a scan now. Exits 1 "
                    "if any is still refused. A corrected payload: POST "
                    "/api/v1/dead-letters/{id}/resubmit.")
    again.add_argument("ids", nargs="*", metavar="ID", help="dead letter ids (from list)")
    again.add_argument("--all", action="store_true", help="every pending dead letter")
    args = parser.parse_args(argv)
    if args.command == "dead-letters" and args.action == "resubmit" and bool(args.ids) == args.all:
        again.error("give dead letter ids or --all (not both)")
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"tracking: configuration error: {e}", file=sys.stderr)
        return 2
    if args.command in ("all", "serve", "project", "ingest", "poll", "notify"):
        configure_logging(settings)
    commands_run = {
        "all": lambda s: serve(s, run_projections=True, run_ingest=True),
        "serve": lambda s: serve(s, run_projections=False),
        "project": project,
        "ingest": ingest,
        "poll": poll,
        "notify": notify,
        "simulate": lambda s: simulate(s, args),
        "rebuild": lambda s: rebuild(s, args.views, args.wait),
        "eta": lambda s: eta_command(s, args),
        "dead-letters": lambda s: dead_letters_command(s, args),
        "remap": lambda s: remap_command(s, args),
        "reindex-names": reindex_command,
        "health": lambda s: health_check(s, args.live),
        "demo": lambda s: demo(s, args.database),
        "check-config": check_config,
    }
    try:
        return commands_run[args.command](settings)
    except ConfigError as e:  # found once the parts are built (a nomenclature that does not parse)
        print(f"tracking: configuration error: {e}", file=sys.stderr)
        return 2
    except TrackingError as e:  # the domain refused: its reason is the whole message
        print(f"tracking {args.command}: refused: {e.message}", file=sys.stderr)
        return 1


def _read_model(name: str) -> str:
    # Not choices=: argparse checks an empty list of them against the choices too.
    if name not in [m.name for m in READ_MODELS]:
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a read model (they are {', '.join(m.name for m in READ_MODELS)})")
    return name


def _day(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


if __name__ == "__main__":
    sys.exit(main())
