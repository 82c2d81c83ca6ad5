"""The ETA accuracy answer over HTTP: ``GET /api/v1/eta/accuracy`` (all
lanes, and filtered by lane) from a real ``tracking serve`` on PostgreSQL,
closed loop, beside ``GET /livez`` on the same server in the same run (the
ceiling: the cheapest route, through the same stack). Bar: p99 < 100 ms.

A simulated history (``tracking simulate --history``'s generator) is
recorded, a lane model published, the history recorded again under it, and
``tracking project`` brings the views to the end of the log before the
clock starts. The schema named in the URL is DROPPED and recreated.

    .venv/bin/python bench/eta_http.py [--history 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reads  # noqa: E402  (bench/reads.py: the server processes)
from adapters import lanes  # noqa: E402
from adapters.composition import build_service  # noqa: E402
from adapters.history import simulate_history  # noqa: E402
from adapters.settings import Settings  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_eta_http"
BAR_P99 = 0.100
CONNECTIONS = 4
FILTERS = ("", "?mode=sea", "?origin=KRSEL&destination=DEHAM", "?carrier=dhl")


def recreate(url: str) -> None:
    schema = url.split("schema=")[1]
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


async def closed_loop(base: str, paths: list[str], seconds: float) -> tuple[list[float], int]:
    """CONNECTIONS clients, each asking for the next path on the answer."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    headers = {"authorization": f"Bearer {reads.AGENT_TOKEN}"}

    async def run(i: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
            n = i
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                r = await client.get(paths[n % len(paths)])
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                n += 1

    await asyncio.gather(*(run(i) for i in range(CONNECTIONS)))
    return latencies, errors


def summary(name: str, latencies: list[float], errors: int, seconds: float) -> tuple[float, float]:
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)]
    print(f"  {name:<34} {len(latencies) / seconds:8,.0f} req/s   p50 {p50 * 1000:6.1f} ms   "
          f"p99 {p99 * 1000:6.1f} ms   errors {errors}")
    return p50, p99


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"bench/eta_http.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.url}")
    recreate(args.url)
    service = build_service(Settings.from_env({"TRACKING_DATABASE_URL": args.url}))
    started = time.perf_counter()
    simulate_history(service, args.history, seed=5)
    lanes.publish(service, out=sys.stderr)
    simulate_history(service, args.history, seed=6)
    print(f"  recorded {2 * args.history:,} simulated shipments and a lane model in "
          f"{time.perf_counter() - started:.0f} s (not part of the figures)")
    with tempfile.TemporaryDirectory() as logs:
        servers = reads.Servers(args.url, reads.free_port(), Path(logs))
        servers.start()
        try:
            servers.wait_ready(timeout=600)
            with httpx.Client(base_url=servers.base, timeout=10,
                              headers={"authorization": f"Bearer {reads.AGENT_TOKEN}"}) as c:
                answer = c.get("/api/v1/eta/accuracy").json()
            print(f"  the answer over all lanes: n={answer['n']:,} deliveries scored, "
                  f"coverage {answer['coverage']}")
            accuracy = asyncio.run(closed_loop(
                servers.base, [f"/api/v1/eta/accuracy{f}" for f in FILTERS], args.seconds))
            ceiling = asyncio.run(closed_loop(servers.base, ["/livez"], args.seconds))
        finally:
            servers.stop()
    print(f"closed loop, {CONNECTIONS} connections, {args.seconds:g} s each, one server process:")
    _, p99 = summary("GET /api/v1/eta/accuracy (4 lanes)", *accuracy, args.seconds)
    _, ceiling_p99 = summary("GET /livez (the ceiling)", *ceiling, args.seconds)
    verdict = "met" if p99 < BAR_P99 else "NOT met"
    print(f"  accuracy p99 {p99 * 1000:.1f} ms (bar < {BAR_P99 * 1000:.0f} ms: {verdict}); "
          f"x ceiling p99 {p99 / ceiling_p99:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
