"""The support console's exceptions queue at 10,000 open exceptions, on
PostgreSQL, through the app the composition root builds (in this process,
over Litestar's TestClient: the ASGI app without sockets).

Seeds N shipments (default 10,000), each booked and given one EXCEPTION
(DAMAGED) scan, so N exceptions are open; brings the views up to date;
signs in. Then, one request at a time, after a warm-up, for each of:

  ceiling  GET /livez: the same stack answering nothing (the floor of any
           request here);
  reads    the queue page's reads alone, called on the view (a page of the
           oldest open, the counts per kind, the 50 latest closed): no HTTP;
  api      GET /api/v1/exceptions/queue?limit=200 (agent token);
  page     GET /agent: the queue page rendered (session, CSRF cookie,
           template).

p50 and p99 of each, and each beside the ceiling (page - ceiling is what
the page itself costs). The issue's bar: the queue page < 50 ms p99 with
10,000 open exceptions. Nothing is asserted; the machine's 2 cores are
shared by this process and PostgreSQL (and, on the project's machine,
other work: say so beside the figures).

    .venv/bin/python bench/console.py              # 10,000 exceptions, 300 requests each
    .venv/bin/python bench/console.py --quick      # 1,000 exceptions, 100 requests each
    .venv/bin/python bench/console.py --reuse      # measure again what the last run seeded

The database is TRACKING_BENCH_DATABASE_URL (default below); its schema is
dropped and recreated at every run.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import store  # noqa: E402  (bench/store.py: the journey maker, schema reset, helpers)
from adapters.composition import build_api  # noqa: E402
from adapters.http.app import create_app  # noqa: E402
from adapters.http.console import CLOSED_SHOWN, QUEUE_PAGE  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from projections.shipments import READ_MODEL as SHIPMENTS  # noqa: E402
from tracking.codes import ExceptionReason, ScanEvent  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_console"
TOKENS = "agent:bench-agent,device:bench-device,merchant:bench-merchant"
AGENT = {"Authorization": "Bearer bench-agent"}
BAR_PAGE_P99 = 0.050
BATCH = 500


def seed(settings: Settings, shipments: int) -> float:
    """Book ``shipments`` and give each a DAMAGED exception; the seconds it took."""
    service = store.fresh_service(settings)
    maker = store.JourneyMaker(random.Random(17))
    now = datetime.now(UTC)
    started = time.perf_counter()
    journeys = [maker.make(3, now) for _ in range(shipments)]
    for i, j in enumerate(journeys):
        service.book(j.tracking_number, j.booking, j.route, j.source)
        if i % 2000 == 1999:
            store.progress(f"booked {i + 1:,}")
    scans = [maker.scan(j.tracking_number, ScanEvent.EXCEPTION, j.route.legs[0].from_,
                        now - timedelta(hours=random.Random(i).uniform(1, 500)),
                        reason=ExceptionReason.DAMAGED)
             for i, j in enumerate(journeys)]
    recorded = sum(store.count_recorded(service.record_scans(b))
                   for b in store.chunks(scans, BATCH))
    store.check_recorded("exceptions", len(scans), recorded)
    service.close()
    return time.perf_counter() - started


def timings(call: Callable[[], object], requests: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(requests):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def ok(response: object) -> object:
    status = getattr(response, "status_code", 0)
    if status != 200:
        raise SystemExit(f"bench: answered {status}: {getattr(response, 'text', '')[:300]}")
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--exceptions", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="measure the schema a previous run seeded (no reset, no seeding)")
    args = parser.parse_args()
    n = args.exceptions or (1_000 if args.quick else 10_000)
    requests = args.requests or (100 if args.quick else 300)
    settings = Settings.from_env({
        "TRACKING_DATABASE_URL": os.environ.get("TRACKING_BENCH_DATABASE_URL", DEFAULT_URL),
        "TRACKING_API_TOKENS": TOKENS,
    })
    seeded = 0.0
    if not args.reuse:
        schema, version = store.reset_schema(settings)
        store.progress(f"seeding {n:,} open exceptions into schema {schema} "
                       f"(PostgreSQL {version})")
        seeded = seed(settings, n)

    from litestar.testing import TestClient

    api = build_api(settings)
    started = time.perf_counter()
    with TestClient(app=create_app(api)) as client:  # startup brings the views up to date
        caught_up = time.perf_counter() - started
        view = api.store[SHIPMENTS]
        open_now = sum(view.exception_counts(state="open").values())
        sign_in = client.get("/agent/sign-in")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', sign_in.text)
        assert token, "the sign-in form carries a CSRF token"
        signed = client.post("/agent/sign-in", data={"token": "bench-agent",
                                                     "_csrf_token": token.group(1)},
                             follow_redirects=False)
        assert signed.status_code == 303, signed.text

        def reads() -> None:  # as the page reads (adapters/http/console.py, queue)
            view.exceptions(state="open", kind=None, limit=QUEUE_PAGE + 1, offset=0)
            closed = sum(view.exception_counts(state="closed").values())
            view.exceptions(state="closed", kind=None, limit=CLOSED_SHOWN,
                            offset=max(0, closed - CLOSED_SHOWN))
            view.exception_counts(state="open")

        store.progress(f"measuring, {requests} requests each")
        figures = {
            "ceiling": timings(lambda: ok(client.get("/livez")), requests),
            "reads": timings(reads, requests),
            "api": timings(lambda: ok(client.get("/api/v1/exceptions/queue",
                                                 params={"limit": 200}, headers=AGENT)),
                           requests),
            "page": timings(lambda: ok(client.get("/agent")), requests),
        }
        page = client.get("/agent").text
    shown = page.count('href="/agent/shipments/')

    print(f"# bench/console.py: {open_now:,} open exceptions (seeded in {seeded:.0f} s, views "
          f"caught up in {caught_up:.0f} s); {requests} requests each, one at a time; "
          f"the page shows {shown} rows")
    ceiling = figures["ceiling"]
    c50, c99 = statistics.median(ceiling), store.percentile(ceiling, 0.99)
    print(f"{'':8} {'p50 ms':>8} {'p99 ms':>8} {'p50 / ceiling':>14} {'p99 - ceiling ms':>17}")
    for name, values in figures.items():
        p50, p99 = statistics.median(values), store.percentile(values, 0.99)
        print(f"{name:8} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p50 / c50:14.1f} "
              f"{(p99 - c99) * 1000:17.1f}")
    p99 = store.percentile(figures["page"], 0.99)
    print(f"bar: the queue page < {BAR_PAGE_P99 * 1000:.0f} ms p99 at 10,000 open: "
          f"{p99 * 1000:.1f} ms at {open_now:,}: {'met' if p99 < BAR_PAGE_P99 else 'NOT met'}"
          + ("" if open_now >= 10_000 else " (fewer than 10,000: not the bar's size)"))


if __name__ == "__main__":
    main()
