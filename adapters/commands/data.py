"""The operator's tasks on the recorded data: ``simulate``, ``rebuild``,
``eta`` and ``dead-letters``; each runs once and exits."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from adapters.composition import build_service
from adapters.settings import Settings
from tracking.codes import SourceKind
from tracking.scan import Source


def simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Publish realistic scan traffic over MQTT, for demos and benchmarks;
    or, with --history, record a delivered history through the service."""
    from adapters.mqtt.simulate import simulate as run

    if args.history:
        from adapters.history import simulate_history

        service = build_service(settings)
        try:
            planned = simulate_history(service, args.history, seed=args.seed or 1,
                                       days=args.days, out=sys.stderr)
        finally:
            service.close()
        print(f"recorded a history of {len(planned):,} shipments (seed {args.seed or 1})")
        return 0

    report = run(settings, shipments=args.shipments, rate=args.rate, duplicates=args.duplicates,
                 malformed=args.malformed, misroutes=args.misroutes, seed=args.seed,
                 book=not args.no_book)
    print(f"published {report.published:,} messages for {report.shipments:,} shipments in "
          f"{report.elapsed:.1f} s ({report.rate:,.0f}/s): {report.valid:,} valid "
          f"({report.misrouted:,} misrouted), {report.duplicates:,} duplicates, "
          f"{report.malformed:,} malformed; {report.acked:,} PUBACKs, {report.refused:,} refused")
    return 0 if report.acked == report.published and not report.refused else 1


def rebuild(settings: Settings, views: Sequence[str], wait: float = 0.0) -> int:
    """Empty the views named and build them again. On PostgreSQL under the
    read models' lease, as `tracking project` works: while another process
    holds it the rebuild is refused (both would write the views), or, with
    ``wait``, queued for it that long, ahead of the runners standing by."""
    from adapters.composition import build_runner, build_service, build_view_store
    from projections.lease import LeaseHeld, ReadModelLease

    service = build_service(settings)
    store = build_view_store(settings)
    runner = build_runner(settings, service, store)
    try:
        names = list(views or store.names())
        if settings.is_postgres:
            runner.lease = ReadModelLease(*settings.postgres_conninfo(), names)
            try:
                runner.lease.acquire(wait)
            except LeaseHeld as e:
                print(_REFUSED.format(waited=f" for {wait:g} s" if wait else "",
                                      holders="\n".join(f"  {h}" for h in e.holders)),
                      file=sys.stderr)
                return 1
        started = time.perf_counter()
        count = runner.rebuild(views or None)
        elapsed = time.perf_counter() - started
        if runner.lease is not None and runner.lease.held() != set(names):
            print("tracking rebuild: the lease's connection was lost mid-rebuild; the views "
                  "are left for `tracking project` to complete from the log (run the rebuild "
                  "again to start over)", file=sys.stderr)
            return 1
        print(f"rebuilt the {', '.join(names)} views from {count} events in {elapsed:.1f} s "
              f"({count / elapsed if elapsed else 0:,.0f} events/s)")
        return 0
    finally:
        if runner.lease is not None:
            runner.lease.close()  # a runner standing by takes the views on from here
        store.close()
        service.close()


_REFUSED = """tracking rebuild: refused: another process is keeping these views up{waited}, and a
rebuild beside it would have both writing them:
{holders}
Stop every `tracking project` and `tracking all` on this database first, or run
`tracking rebuild --wait SECONDS` and stop (or restart) the one that holds the views
while it waits: the rebuild takes them before any runner standing by does, and they
take over from the rebuilt views once it is done."""


def eta_command(settings: Settings, args: argparse.Namespace) -> int:
    from adapters import eta_report, lanes

    service = build_service(settings)
    try:
        if args.action == "publish":
            lanes.publish(service)
        elif args.action == "report":
            return eta_report.report(service, args.plot)
        else:
            lanes.run_backtest(service, since=args.since, until=args.until)
    finally:
        service.close()
    return 0


def dead_letters_command(settings: Settings, args: argparse.Namespace) -> int:
    """List dead letters, or re-submit them as they were stored (after the
    cause was fixed elsewhere: a device registered, a shipment booked, a
    clock corrected). A corrected payload goes through the HTTP API."""
    from adapters import deadletters
    from adapters.composition import build_dead_letters
    from adapters.mqtt.consumer import stored_scan

    letters = build_dead_letters(settings)
    try:
        if args.action == "list":
            found = letters.list(pending_only=not args.all, limit=args.limit, offset=0)
            for x in found:
                print(json.dumps({
                    "id": x.id, "received_at": x.received_at.isoformat(), "topic": x.topic,
                    "field": x.field, "reason": x.reason,
                    "payload": x.payload.decode("utf-8", "backslashreplace")[:500],
                    "resubmitted_as": x.resubmitted_as}))
            print(f"{len(found)} dead letter(s){' (pending)' if not args.all else ''}", file=sys.stderr)
            return 0
        ids = args.ids
        if args.all:
            ids = [x.id for x in letters.list(pending_only=True, limit=100_000, offset=0)]
        service = build_service(settings)
        try:
            done = deadletters.resubmit_stored(
                letters, service, ids, lambda x: stored_scan(x, settings.devices),
                Source(SourceKind.AGENT, "cli"))
        finally:
            service.close()
        for x in done:
            print(x.line())
        recorded = sum(x.recorded for x in done)
        print(f"re-submitted {recorded} of {len(ids)}", file=sys.stderr)
        return 0 if recorded == len(ids) else 1
    finally:
        letters.close()
