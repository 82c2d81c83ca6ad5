"""The customer's tracking page and its live stream, on the real server
(``tracking serve``, one process) and projection runner (``tracking
project``) on PostgreSQL, driven over loopback from this process.

  (1) The page, closed loop at 50 connections for each of: GET
      /api/v1/track/{n} (the JSON view: the ceiling the page is judged
      against), GET /track/{n} rendered (random parcels, Accept-Language
      among the five languages, so the 2 MB of pages the server keeps rendered rarely
      hold it), the same for 20 parcels (cached: the server has it
      rendered) and GET /track/{n} revalidated (the If-None-Match of a
      refresh: 304). Requests/s and p50/p99 latency of
      each, and the server's CPU. Bar: the rendered page costs at most twice
      the JSON view (requests/s at least half of it).
  (2) Streams: 2,000 open GET /api/v1/track/{n}/stream on the one server
      process (two per shipment) while 500 scans/s arrive over POST
      /api/v1/scans (open loop, one scan per POST). For every scan and each
      stream of its shipment: the time from the POST's answer (the scan is
      committed by then) to the first message at or past the scan's
      position (p50/p99; bar p99 < 500 ms), and how many were never seen.
      Memory per open stream: the server's RSS with the streams open and
      idle, less its RSS before, over 2,000 (bar < 50 KB).

The same bench/reads.py machinery (seeding, servers, raw keep-alive HTTP)
is used. Nothing is asserted; figures are from one run of each phase, on a
machine whose 2 cores the server, the runner, PostgreSQL and this load
generator share.

    .venv/bin/python bench/pages.py             # 1,000 shipments, 10 s phases, ~3 min
    .venv/bin/python bench/pages.py --quick     # 200 shipments, 3 s phases
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402

import reads  # noqa: E402  (bench/reads.py: seeding, servers, the raw HTTP client)
import store  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from projections.shipments import READ_MODEL as SHIPMENTS  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_pages"
CONNECTIONS = 50
LANGUAGES = ("en", "de", "fr", "es", "zh")
BAR_PAGE_COST = 2.0  # the rendered page at most this many times the JSON view's cost
BAR_STREAM_P99, BAR_STREAM_BYTES = 0.500, 50_000
STREAMS, SCAN_RATE = int(os.environ.get("BENCH_STREAMS", 2000)), 500
SCANS_PER_POST = 10  # 50 POSTs/s: the stream is measured, not the HTTP write path


# -- (1) the page, closed loop ------------------------------------------------------------------


@dataclass
class Loop:
    name: str
    rps: float
    latencies: list[float]
    statuses: dict[int, int]
    cpu: dict[str, float]


async def closed_loop(port: int, make: Callable[[random.Random], bytes], duration: float,
                      connections: int) -> tuple[float, list[float], dict[int, int]]:
    """Each connection sends its next request on the answer, for ``duration`` s."""
    conns = [reads.Connection("127.0.0.1", port) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))
    latencies: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    end = time.perf_counter() + duration

    async def run(conn: reads.Connection, rng: random.Random) -> None:
        while time.perf_counter() < end:
            raw = make(rng)
            t0 = time.perf_counter()
            try:
                status, _ = await conn.request(raw)
            except Exception:  # noqa: BLE001 - an error, counted as status 0
                status = 0
                conn.close()
            latencies.append(time.perf_counter() - t0)
            statuses[status] += 1

    start = time.perf_counter()
    await asyncio.gather(*(run(c, random.Random(i)) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - start
    for c in conns:
        c.close()
    return len(latencies) / elapsed, latencies, dict(statuses)


def page_phase(servers: reads.Servers, meter: reads.CpuMeter, name: str,
               make: Callable[[random.Random], bytes], duration: float) -> Loop:
    before = meter.snapshot()
    rps, latencies, statuses = asyncio.run(closed_loop(servers.port, make, duration, CONNECTIONS))
    return Loop(name, rps, latencies, statuses, meter.usage(before, meter.snapshot()))


def etags(servers: reads.Servers, numbers: Sequence[str]) -> dict[tuple[str, str], str]:
    import httpx

    found = {}
    with httpx.Client(base_url=servers.base, timeout=10) as c:
        for tn in numbers:
            for lang in LANGUAGES:
                found[(tn, lang)] = c.get(f"/track/{tn}", params={"lang": lang}).headers["etag"]
    return found


# -- (2) streams --------------------------------------------------------------------------------


@dataclass
class Received:
    stream: int
    position: int
    at: float


_ID = re.compile(rb"^id: (\d+)$", re.M)


async def follow(port: int, index: int, tn: str, got: list[Received], opened: asyncio.Event,
                 counter: list[int], stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/v1/track/{tn}/stream HTTP/1.1\r\nHost: x\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    buffer = b""
    first = True
    try:
        while not stop.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                break
            now = time.perf_counter()
            buffer += chunk
            *messages, buffer = buffer.split(b"\n\n")
            for m in messages:
                found = _ID.search(m)
                if found:
                    got.append(Received(index, int(found.group(1)), now))
                    if first:
                        first = False
                        counter[0] += 1
                        if counter[0] == STREAMS:
                            opened.set()
    finally:
        writer.close()


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class StreamPhase:
    streams: int
    memory_per_stream: float
    rss_before: int
    rss_open: int
    latencies: list[float]
    projection: list[float]  # answered -> the shipments view at its position (the runner's part)
    delivery: list[float]  # that view at its position -> received (the stream's part)
    unseen: int
    scans_recorded: int
    offered: float
    achieved: float
    cpu: dict[str, float]


async def stream_phase_async(servers: reads.Servers, settings: Settings, fleet: store.Fleet,
                             maker: store.JourneyMaker, duration: float,
                             meter: reads.CpuMeter) -> StreamPhase:
    server_pid = servers.procs["server"].pid
    numbers = [str(j.tracking_number) for j in fleet.journeys]
    watched = [numbers[i % len(numbers)] for i in range(STREAMS)]
    before = rss(server_pid)
    got: list[Received] = []
    opened, stop = asyncio.Event(), asyncio.Event()
    counter = [0]
    tasks = []
    for i, tn in enumerate(watched):
        tasks.append(asyncio.create_task(follow(servers.port, i, tn, got, opened, counter, stop)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # do not flood the listen backlog
    await asyncio.wait_for(opened.wait(), timeout=120)
    await asyncio.sleep(2.0)  # idle, every stream open
    open_rss = rss(server_pid)
    got.clear()

    scans = fleet.new_scans(maker, int(SCAN_RATE * duration))
    host = f"127.0.0.1:{servers.port}"
    batches = store.chunks(scans, SCANS_PER_POST)
    raws = [reads.post_request(reads.SCANS_ROUTE, host, reads.DEVICE_TOKEN, reads.scan_body(b))
            for b in batches]
    sampler = reads.PositionSampler(settings, SHIPMENTS)  # what the streams are fed from
    sampler.start()
    cpu_before = meter.snapshot()
    posts = await reads.open_loop("127.0.0.1", servers.port, raws, SCAN_RATE / SCANS_PER_POST,
                                  16, 15.0, keep_body=True)
    cpu = meter.usage(cpu_before, meter.snapshot())
    await asyncio.sleep(3.0)  # the last scans' messages
    sampler.stop()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    by_stream: dict[int, list[Received]] = defaultdict(list)
    for r in got:
        by_stream[r.stream].append(r)
    streams_of: dict[str, list[int]] = defaultdict(list)
    for i, tn in enumerate(watched):
        streams_of[tn].append(i)
    latencies, projection, delivery, unseen, recorded = [], [], [], 0, 0
    for batch, answer in zip(batches, posts.answers, strict=True):
        if not 200 <= answer.status < 300:
            continue
        body = msgspec.json.decode(answer.body)
        for scan, result in zip(batch, body["results"], strict=True):
            if result.get("position") is None:
                continue
            recorded += 1
            position = int(result["position"])  # that scan's own event in the log
            projected = sampler.first_reached(position)
            if projected is not None:
                projection.append(max(0.0, projected - answer.done))
            for stream in streams_of[str(scan.tracking_number)]:
                seen = next((r.at for r in by_stream[stream] if r.position >= position), None)
                if seen is None:
                    unseen += 1
                else:
                    latencies.append(max(0.0, seen - answer.done))
                    if projected is not None:
                        delivery.append(max(0.0, seen - max(projected, answer.done)))
    return StreamPhase(
        streams=STREAMS, memory_per_stream=(open_rss - before) / STREAMS, rss_before=before,
        rss_open=open_rss, latencies=latencies, projection=projection, delivery=delivery,
        unseen=unseen, scans_recorded=recorded,
        offered=SCAN_RATE, achieved=posts.achieved, cpu=cpu,
    )


# -- printing -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.1f} ms"


def print_pages(loops: Sequence[Loop]) -> bool:
    print(f"\n(1) the page, closed loop, {CONNECTIONS} connections")
    print(f"  {'':<34}{'req/s':>9}{'p50':>11}{'p99':>11}   server CPU   statuses")
    for loop in loops:
        print(f"  {loop.name:<34}{loop.rps:>9,.0f}{ms(reads.pct(loop.latencies, 0.50)):>11}"
              f"{ms(reads.pct(loop.latencies, 0.99)):>11}   {loop.cpu['server']:.2f} cores"
              f"   {reads.status_text(loop.statuses)}")
    json_view, page, _, cached = loops
    cost = json_view.rps / page.rps if page.rps else float("inf")
    ok = cost <= BAR_PAGE_COST
    print(f"  the rendered page costs {cost:.2f}x the JSON view (its ceiling here; bar <= "
          f"{BAR_PAGE_COST:g}x): {reads.verdict(ok)}; a revalidated refresh (304) "
          f"{cached.rps / json_view.rps:.2f}x the JSON view's rate")
    return ok


def print_streams(phase: StreamPhase) -> bool:
    print(f"\n(2) {phase.streams:,} open streams on one server process, {phase.offered:,.0f} "
          f"scans/s offered (recorded {phase.scans_recorded:,}, {phase.achieved:,.0f}/s)")
    per = phase.memory_per_stream
    p50 = reads.pct(phase.latencies, 0.50) if phase.latencies else float("nan")
    p99 = reads.pct(phase.latencies, 0.99) if phase.latencies else float("nan")
    print(f"  server RSS {phase.rss_before / 1e6:.1f} MB before, {phase.rss_open / 1e6:.1f} MB "
          f"with the streams open: {per / 1e3:.1f} KB per stream (bar < "
          f"{BAR_STREAM_BYTES / 1e3:.0f} KB): {reads.verdict(per < BAR_STREAM_BYTES)}")
    print(f"  scan answered -> message received, {len(phase.latencies):,} deliveries: "
          f"p50 {ms(p50).strip()}, p99 {ms(p99).strip()} (bar < {BAR_STREAM_P99 * 1e3:.0f} ms): "
          f"{reads.verdict(p99 < BAR_STREAM_P99)}; never seen: {phase.unseen}")
    for name, part in (("of which answered -> shipments view at its position (the runner)",
                        phase.projection),
                       ("and that view at its position -> received (the stream)",
                        phase.delivery)):
        print(f"    {name}: p50 {ms(reads.pct(part, 0.5)).strip()}, "
              f"p99 {ms(reads.pct(part, 0.99)).strip()}")
    print(f"  CPU while scans arrived: {reads.cpu_text(phase.cpu)}")
    return per < BAR_STREAM_BYTES and p99 < BAR_STREAM_P99 and phase.unseen == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--shipments", type=int)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--only", choices=("pages", "streams"), help="run one of the two parts")
    args = parser.parse_args(argv)
    shipments = args.shipments or (200 if args.quick else 1_000)
    duration = args.duration or (3.0 if args.quick else 10.0)
    url = os.environ.get("TRACKING_BENCH_DATABASE_URL") or DEFAULT_URL
    settings = Settings(database_url=url)
    if "schema=" not in url:
        sys.exit("bench/pages.py: TRACKING_BENCH_DATABASE_URL must name a schema (it is DROPPED)")
    schema, version = store.reset_schema(settings)
    print(f"bench/pages.py: PostgreSQL {version}, schema {schema} (dropped and recreated), "
          f"{os.cpu_count()} cores shared by server, runner, PostgreSQL and this generator")
    maker = store.JourneyMaker(random.Random(store.SEED))
    plan = reads.Plan(shipments=shipments, duration=duration, read_rates=(1,), scan_rate=1,
                      scan_batches=(1,), post_batches=(1,), post_scans=0, warmup=0, drain=0)
    fleet = reads.seed_store(settings, plan, maker)
    numbers = [str(j.tracking_number) for j in fleet.journeys]
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        servers = reads.Servers(url=url, port=reads.free_port(), logs=Path(tmp), workers=1)
        try:
            servers.start()
            servers.wait_ready()
            meter = reads.CpuMeter(servers.procs["server"].pid, servers.procs["runner"].pid)
            host = f"127.0.0.1:{servers.port}"
            tags = etags(servers, numbers)

            def json_view(rng: random.Random) -> bytes:
                return reads.get_request(f"/api/v1/track/{rng.choice(numbers)}", host)

            def page(rng: random.Random) -> bytes:
                return (f"GET /track/{rng.choice(numbers)} HTTP/1.1\r\nHost: {host}\r\n"
                        f"Accept-Language: {rng.choice(LANGUAGES)}\r\n\r\n").encode()

            hot = numbers[:20]  # 20 parcels x 5 languages: within the server's rendered pages

            def page_again(rng: random.Random) -> bytes:
                return (f"GET /track/{rng.choice(hot)} HTTP/1.1\r\nHost: {host}\r\n"
                        f"Accept-Language: {rng.choice(LANGUAGES)}\r\n\r\n").encode()

            def refresh(rng: random.Random) -> bytes:
                tn, lang = rng.choice(numbers), rng.choice(LANGUAGES)
                return (f"GET /track/{tn}?lang={lang} HTTP/1.1\r\nHost: {host}\r\n"
                        f"If-None-Match: {tags[(tn, lang)]}\r\n\r\n").encode()

            pages_ok = streams_ok = None
            if args.only in (None, "pages"):
                store.progress("warm-up")
                page_phase(servers, meter, "warm-up", page, 2.0)
                loops = []
                for name, make in (("GET /api/v1/track (JSON view)", json_view),
                                   ("GET /track (rendered page)", page),
                                   ("GET /track, a page rendered before", page_again),
                                   ("GET /track, If-None-Match (304)", refresh)):
                    store.progress(name)
                    loops.append(page_phase(servers, meter, name, make, duration))
                pages_ok = print_pages(loops)
            if args.only in (None, "streams"):
                store.progress(f"streams: {STREAMS:,} open, {SCAN_RATE}/s scans, {duration:g} s")
                streams = asyncio.run(stream_phase_async(servers, settings, fleet, maker,
                                                         duration, meter))
                streams_ok = print_streams(streams)
            servers.check_alive()
            problems = servers.log_problems()
            if any(problems.values()):
                print(f"\nerrors in the servers' logs: {problems}\n{servers.tail('server')}")
        finally:
            servers.stop()
    bars = [f"{name} {reads.verdict(ok)}" for name, ok in (("page", pages_ok),
                                                            ("streams", streams_ok))
            if ok is not None]
    print(f"\nbars: {', '.join(bars)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
