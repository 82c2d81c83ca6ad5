"""``tracking remap``: re-translate the carrier codes kept with the events
under the code mappings as they are now (adapters/carriers/remap.py),
printing each difference; recording them unless ``--dry-run``."""

from __future__ import annotations

import argparse

from adapters.carriers.remap import FORMATS, Mappings, remap
from adapters.composition import build_service
from adapters.settings import Settings


def add_arguments(parser: argparse.ArgumentParser, since: object) -> None:
    parser.add_argument("--source", choices=FORMATS, default=None,
                        help="only this source's events (default: every source)")
    parser.add_argument("--since", type=since, default=None,  # type: ignore[arg-type]
                        help="YYYY-MM-DD: only events recorded since that day (UTC)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the differences and record nothing")


def remap_command(settings: Settings, args: argparse.Namespace) -> int:
    """0 when every difference was recorded (or, dry, none refused)."""
    service = build_service(settings)
    try:
        found = remap(service, Mappings.shipped(), source=args.source, since=args.since,
                      dry_run=args.dry_run)
    finally:
        service.close()
    for c in found:
        print(c.line())
    refused = sum(1 for c in found if c.refused)
    verb = "would correct" if args.dry_run else "corrected"
    print(f"{verb} {len(found) - refused} carrier event(s)"
          + (f", {refused} refused" if refused else "")
          + ("" if found else ": every translation is the current mapping's"))
    return 1 if refused else 0
