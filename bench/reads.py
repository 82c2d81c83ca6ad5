"""HTTP benchmark: the real server (``tracking serve``) and the projection
runner (``tracking project``) as separate processes on PostgreSQL, driven
over the loopback interface from this process.

It seeds N shipments (2-3 leg routes, 10-30 scans each, the generator of
bench/store.py) through the shipment service into a schema that is dropped
and recreated at every run (``--reuse`` keeps one already seeded with as
many), rebuilds the views, starts both
processes and waits for /readyz, then measures:

  (1) GET /api/v1/track/{n} over random booked tracking numbers at a FIXED
      offered load (``--rate`` and twice it): achieved requests/s, latency
      p50/p90/p99/p99.9/max and errors. The load generator is open loop
      (this script: asyncio, raw HTTP/1.1 over keep-alive sockets): request
      i is due at start + i/rate whatever happened to the ones before, and
      its latency is taken from that scheduled time, so a stalled server is
      not hidden by a generator that waits for it (no coordinated omission);
  (2) the closed-loop maximum: wrk (2 threads, 32 connections, a Lua script
      of random URLs), if wrk is installed;
  (3) projection lag: a publisher POSTs new scans (unique scan_ids, into
      existing shipments) to /api/v1/scans at a fixed rate of scans/s, one
      scan per POST and in batches; a thread samples the views' position
      (``store.position()`` of a view store built from the same settings)
      every few ms; each scan's lag is the time from its 2xx answer (which
      carries its ``position``) to the first sample at or past that
      position;
  (4) HTTP scans: the most scans/s over POST /api/v1/scans, in POSTs of 1,
      50 and 500 scans from 16 connections, each sending its next POST on
      the answer; beside it, psycopg alone writing as many rows per
      transaction into a table of the event store's shape (the ceiling).

A request still unanswered 15 s (5 s with --quick) after the last one was
due counts as an error ("no answer"): a phase the server cannot keep up with
ends there. The server gets TRACKING_RATE_LIMIT_PER_MINUTE=100,000,000 (every
request here comes from 127.0.0.1), so 429s would show as errors, not as
throttled figures.

It prints the bars to compare against beside the figures. Each phase also
shows the CPU the server, the projection runner, PostgreSQL and the load
generator used, and the server's own mean time per request (from /metrics).

Everything runs on the same machine: PostgreSQL, both server processes and
the load generators share its CPUs (2 on the reference machine), so the
generator's CPU is taken from the server's. Nothing about timing is
asserted; figures are from one run of each phase.

Run:
    .venv/bin/python bench/reads.py                 # 10,000 shipments, 20 s phases, ~5 min
    .venv/bin/python bench/reads.py --quick         # smoke test, < 60 s
    .venv/bin/python bench/reads.py --rate 500 --duration 30 --shipments 5000
    .venv/bin/python bench/reads.py --scan-rate 2000 --scan-batches 1,20,100
    .venv/bin/python bench/reads.py --shipments 100000 --reuse   # seeds once, then reuses

Database: TRACKING_BENCH_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test?schema=bench_http. The schema named
in the URL is DROPPED and recreated at the start of every run.
"""

from __future__ import annotations

import os
import sys


import argparse  # noqa: E402
import asyncio  # noqa: E402
import bisect  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import msgspec  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

import store  # noqa: E402  (bench/store.py: the shipment generator and a few helpers)
from adapters.composition import build_runner, build_service, build_view_store  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from tracking.application import ShipmentService  # noqa: E402
from tracking.mapper import enc_hook  # noqa: E402
from tracking.scan import Scan  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_http"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
DEVICE_TOKEN, AGENT_TOKEN = "benchdev", "benchagent"
RATE_LIMIT = 100_000_000  # per minute: far above anything this benchmark offers
READ_CONNECTIONS = 64  # keep-alive connections of the open-loop generator
WRITE_CONNECTIONS = 16
POST_WAIT = 300.0  # s: at most, for the answers of a closed-loop phase of POSTs
WRK_THREADS, WRK_CONNECTIONS = 2, 32
SAMPLE_EVERY = 0.002  # s between view-position samples (plus the query's own time)
BAR_READ_P99, BAR_READ_RATE = 0.020, 1000
BAR_LAG_P99, BAR_LAG_RATE = 1.0, 1000
TRACK_ROUTE = "/api/v1/track/"  # route templates in /metrics start so
SCANS_ROUTE = "/api/v1/scans"


# -- how much to do ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    shipments: int
    duration: float  # s, each measured phase
    read_rates: tuple[int, ...]  # requests/s, open loop
    scan_rate: int  # scans/s offered by the publisher
    scan_batches: tuple[int, ...]  # scans per POST, one phase each
    post_batches: tuple[int, ...]  # scans per POST, one closed-loop phase each
    post_scans: int  # scans sent in each closed-loop phase, times the batch size's factor
    warmup: float  # s of reads at half the first rate, not reported
    drain: float  # s to wait for answers after the last request is due


def make_plan(args: argparse.Namespace) -> Plan:
    quick = args.quick
    rate = args.rate or 1000
    return Plan(
        shipments=args.shipments or (1_000 if quick else 10_000),
        duration=args.duration or (5.0 if quick else 20.0),
        read_rates=(rate, 2 * rate),
        scan_rate=args.scan_rate or 1000,
        scan_batches=tuple(int(b) for b in args.scan_batches.split(",")),
        post_batches=tuple(int(b) for b in args.post_batches.split(",")),
        post_scans=1_000 if quick else 5_000,
        warmup=1.0 if quick else 3.0,
        drain=5.0 if quick else 15.0,
    )


# -- a small HTTP/1.1 client over keep-alive sockets -----------------------------------------


class Connection:
    """One keep-alive connection; just enough HTTP/1.1 for this server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if status in (204, 304) or status < 200:  # no body, whatever the headers say
            body = b""
        elif chunked:
            body = await self._chunked()
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body, close = await self.reader.read(), True
        if close:
            self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def get_request(path: str, host: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def post_request(path: str, host: str, token: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Answer:
    scheduled: float  # perf_counter seconds: when the request was due
    sent: float  # when a connection took it
    done: float  # when the whole answer was read; 0 if none came
    status: int  # 0: no answer (connection error or still waiting at the end)
    body: bytes = b""


@dataclass
class OpenLoopResult:
    rate: float
    duration: float
    connections: int
    drain: float
    answers: list[Answer]
    start: float
    generator_cpu: float  # s of CPU this process used

    @property
    def ok(self) -> list[Answer]:
        return [a for a in self.answers if 200 <= a.status < 300]

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for a in self.answers:
            counts[a.status] = counts.get(a.status, 0) + 1
        return counts

    def latencies(self) -> list[float]:
        """From the scheduled send time to the end of the answer, every
        request; one that got no answer counts as waiting until the end."""
        end = max((a.done for a in self.answers), default=self.start)
        return [(a.done or end) - a.scheduled for a in self.answers]

    @property
    def achieved(self) -> float:
        """2xx answers per second, from the first request due to the last answer."""
        ok = self.ok
        if not ok:
            return 0.0
        return len(ok) / (max(a.done for a in ok) - self.start)


async def open_loop(
    host: str, port: int, requests: Sequence[bytes], rate: float, connections: int,
    drain: float, keep_body: bool = False,
) -> OpenLoopResult:
    """Send ``requests[i]`` at ``start + i / rate`` over ``connections``
    keep-alive connections. A request due while every connection is busy
    waits in a queue, and that wait is part of its latency."""
    conns = [Connection(host, port) for _ in range(connections)]
    await asyncio.gather(*(c.open() for c in conns))
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    raws = list(requests)
    answers = [Answer(0.0, 0.0, 0.0, 0) for _ in raws]

    async def worker(conn: Connection) -> None:
        while (index := await queue.get()) is not None:
            answer = answers[index]
            answer.sent = time.perf_counter()
            try:
                answer.status, body = await conn.request(raws[index])
                answer.done = time.perf_counter()
                if keep_body:
                    answer.body = body
            except Exception:  # noqa: BLE001 - counted as an error: no answer
                answer.status, answer.done = 0, 0.0
                conn.close()
            queue.task_done()

    gc.collect()
    gc.freeze()
    gc.disable()
    cpu_before = time.process_time()
    workers = [asyncio.create_task(worker(c)) for c in conns]
    start = time.perf_counter() + 0.05
    i, n = 0, len(raws)
    while i < n:
        now = time.perf_counter()
        due = start + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < n and (due := start + i / rate) <= now:
            answers[i].scheduled = due
            queue.put_nowait(i)
            i += 1
    try:
        await asyncio.wait_for(queue.join(), timeout=drain)
    except TimeoutError:
        pass
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    for c in conns:
        c.close()
    cpu = time.process_time() - cpu_before
    gc.enable()
    gc.unfreeze()
    for a in answers:  # never answered: still queued, or in flight at the end
        if a.done == 0.0:
            a.status = 0
    return OpenLoopResult(rate, n / rate, connections, drain, answers, start, cpu)


# -- CPU used by the processes involved -------------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


class CpuMeter:
    """CPU seconds of the server, the runner, PostgreSQL (its processes alive
    at both ends), this process and its reaped children (wrk), over a phase."""

    def __init__(self, server: int, runner: int) -> None:
        self.pids = {"server": server, "runner": runner}

    def snapshot(self) -> dict[str, Any]:
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "at": time.perf_counter(),
            # with TRACKING_HTTP_WORKERS > 1, the workers are its children
            "server": sum(cpu_seconds(p) for p in (self.pids["server"],
                                                   *children(self.pids["server"]))),
            "runner": cpu_seconds(self.pids["runner"]),
            "postgres": {pid: cpu_seconds(pid) for pid in postgres_pids()},
            "bench": time.process_time(),
            "children": own.ru_utime + own.ru_stime,
        }

    @staticmethod
    def usage(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        """Mean cores used by each, between two snapshots."""
        wall = after["at"] - before["at"]
        pg = sum(after["postgres"][p] - before["postgres"][p]
                 for p in after["postgres"] if p in before["postgres"])  # fmt: skip
        return {
            "server": (after["server"] - before["server"]) / wall,
            "runner": (after["runner"] - before["runner"]) / wall,
            "postgres": pg / wall,
            "bench": (after["bench"] - before["bench"]) / wall,
            "wrk": (after["children"] - before["children"]) / wall,
        }


def cpu_text(usage: dict[str, float], with_wrk: bool = False) -> str:
    parts = [f"server {usage['server']:.2f}", f"runner {usage['runner']:.2f}",
             f"postgres {usage['postgres']:.2f}", f"bench {usage['bench']:.2f}"]  # fmt: skip
    if with_wrk:
        parts.append(f"wrk {usage['wrk']:.2f}")
    return ", ".join(parts)


# -- the server processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Servers:
    url: str
    port: int
    logs: Path
    workers: int = 1
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metered(self) -> bool:
        """/metrics are the whole server's: one worker (with more, each
        scrape reaches one of them, and its counts are its own)."""
        return self.workers == 1

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TRACKING_DATABASE_URL": self.url,
            "TRACKING_HTTP_HOST": "127.0.0.1",
            "TRACKING_HTTP_PORT": str(self.port),
            "TRACKING_API_TOKENS": f"device:{DEVICE_TOKEN},agent:{AGENT_TOKEN}",
            "TRACKING_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            "TRACKING_HTTP_WORKERS": str(self.workers),
        }

    def start(self) -> None:
        for name, command in (("server", "serve"), ("runner", "project")):
            log = (self.logs / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [str(BIN / "tracking"), command], env=self.env(), cwd=ROOT,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"`tracking {name}` exited with {proc.returncode}\n"
                                   + self.tail(name))  # fmt: skip

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        """/readyz answers 200 and the views are at the end of the log."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                r = httpx.get(f"{self.base}/readyz", timeout=2.0)
                last = r.text
                if r.status_code == 200 and r.json().get("lag_events") == 0:
                    return dict(r.json())
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready in {timeout:.0f} s: {last}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> dict[str, int]:
        """Lines that look like errors in each process's output."""
        found = {}
        for name in self.procs:
            try:
                text = (self.logs / f"{name}.log").read_text(errors="replace")
            except OSError:
                continue
            found[name] = sum(
                1 for line in text.splitlines()
                if "Traceback" in line or " ERROR" in line or line.startswith("ERROR")
            )  # fmt: skip
        return found


def scrape(base: str) -> dict[str, float]:
    """The server's request counters and seconds, summed by route."""
    text = httpx.get(f"{base}/metrics", timeout=5.0).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r'(tracking_http_request(?:s|_seconds)_total)\{(.*)\} (\S+)$', line)
        if m:
            route = re.search(r'route="([^"]*)"', m.group(2))
            key = f"{m.group(1)}|{route.group(1) if route else ''}"
            totals[key] = totals.get(key, 0.0) + float(m.group(3))
    return totals


def server_mean(before: dict[str, float], after: dict[str, float], route: str) -> float | None:
    """The server's own mean time per request of the routes whose template
    starts with ``route`` (before_request to after_response), between two scrapes."""

    def total(name: str, scrape: dict[str, float]) -> float:
        return sum(v for k, v in scrape.items() if k.startswith(f"{name}|{route}"))

    count = total("tracking_http_requests_total", after) - total("tracking_http_requests_total", before)
    seconds = (total("tracking_http_request_seconds_total", after)
               - total("tracking_http_request_seconds_total", before))  # fmt: skip
    return seconds / count if count else None


# -- (1) reads at a fixed rate ----------------------------------------------------------------


@dataclass
class ReadPhase:
    result: OpenLoopResult
    cpu: dict[str, float]
    server_ms: float | None


def run_reads(
    servers: Servers | BareServer, paths: Sequence[str], rate: float, duration: float, drain: float,
    meter: CpuMeter, rng: random.Random,
) -> ReadPhase:
    host = f"127.0.0.1:{servers.port}"
    raws = [get_request(rng.choice(paths), host) for _ in range(int(rate * duration))]
    metered = servers.metered
    before_metrics, before = scrape(servers.base) if metered else {}, meter.snapshot()
    result = asyncio.run(open_loop("127.0.0.1", servers.port, raws, rate, READ_CONNECTIONS, drain))
    cpu = meter.usage(before, meter.snapshot())
    mean = server_mean(before_metrics, scrape(servers.base), TRACK_ROUTE) if metered else None
    return ReadPhase(result, cpu, mean * 1e3 if mean is not None else None)


# -- (2) the closed-loop maximum with wrk --------------------------------------------------------


WRK_SCRIPT = """
local paths = {}
for line in io.lines(PATHS) do paths[#paths + 1] = line end
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


@dataclass
class WrkResult:
    requests_per_s: float
    latency: dict[str, str]  # 50%, 75%, 90%, 99%, max
    non_2xx: int
    socket_errors: str
    requests: int
    cpu: dict[str, float]
    server_ms: float | None
    raw: str


def run_wrk(
    servers: Servers | BareServer, paths: Sequence[str], duration: float, meter: CpuMeter, workdir: Path
) -> WrkResult | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    paths_file = workdir / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = workdir / "random_track.lua"
    script.write_text(WRK_SCRIPT.replace("PATHS", f"[[{paths_file}]]"))
    command = [wrk, f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{max(1, round(duration))}s",
               "--timeout", "10s", "--latency", "-s", str(script), servers.base]  # fmt: skip
    metered = servers.metered
    before_metrics, before = scrape(servers.base) if metered else {}, meter.snapshot()
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    cpu = meter.usage(before, meter.snapshot())
    mean = server_mean(before_metrics, scrape(servers.base), TRACK_ROUTE) if metered else None
    latency = {}
    if m := re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out):
        latency["max"] = m.group(1)
    for pct in ("50%", "75%", "90%", "99%"):
        if m := re.search(rf"^\s+{re.escape(pct)}\s+(\S+)", out, re.M):
            latency[pct] = m.group(1)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:\s+(.*)", out)
    return WrkResult(
        requests_per_s=float(rps.group(1)) if rps else 0.0,
        latency=latency,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sock.group(1).strip() if sock else "none",
        requests=int(total.group(1)) if total else 0,
        cpu=cpu,
        server_ms=mean * 1e3 if mean is not None else None,
        raw=out,
    )


# -- the ceiling for reads: a bare ASGI app under the same load ------------------------------------


@dataclass
class BareServer:
    """bench/bare_asgi.py under uvicorn: every GET answered with one real public view."""

    body: bytes
    logs: Path
    port: int = field(default_factory=lambda: free_port())
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    metered = False  # no /metrics

    def start(self) -> None:
        body = self.logs / "bare-body.json"
        body.write_bytes(self.body)
        env = {**os.environ, "BARE_ASGI_BODY": str(body), "BARE_ASGI_PORT": str(self.port)}
        with (self.logs / "bare.log").open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(HERE / "bare_asgi.py")], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/v1/track/x", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("bench/bare_asgi.py did not answer within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class CeilingReads:
    opened: list[ReadPhase]  # at the same offered rates as (1)
    wrk: WrkResult | None
    body_bytes: int


def run_ceiling(
    servers: Servers, paths: Sequence[str], plan: Plan, runner_pid: int, workdir: Path,
    rng: random.Random,
) -> CeilingReads:
    body = httpx.get(f"{servers.base}{paths[0]}", timeout=5.0).content
    bare = BareServer(body, workdir)
    bare.start()
    try:
        assert bare.proc is not None
        meter = CpuMeter(bare.proc.pid, runner_pid)
        run_reads(bare, paths, plan.read_rates[0] / 2, plan.warmup, plan.drain, meter, rng)
        opened = [run_reads(bare, paths, rate, plan.duration, plan.drain, meter, rng)
                  for rate in plan.read_rates]  # fmt: skip
        wrk = run_wrk(bare, paths, plan.duration, meter, workdir)
    finally:
        bare.stop()
    return CeilingReads(opened, wrk, len(body))


def print_ceiling(ceiling: CeilingReads, reads: Sequence[ReadPhase], wrk: WrkResult | None) -> None:
    print(f"\n(1)+(2) ceiling: a bare ASGI app (bench/bare_asgi.py) under the same uvicorn and load, "
          f"answering every GET with one real public view ({ceiling.body_bytes:,} bytes); no "
          "framework, database, log or metrics")  # fmt: skip
    print("   offered  achieved    p50     p99   bare: achieved    p50     p99   x ceiling  "
          "CPU bare server")  # fmt: skip
    for real, bare in zip(reads, ceiling.opened, strict=True):
        r, b = real.result, bare.result
        rl, bl = r.latencies(), b.latencies()
        print(f"  {r.rate:>6,.0f}/s {r.achieved:>7,.0f}/s {fmt_ms(pct(rl, .5)):>6} "
              f"{fmt_ms(pct(rl, .99)):>7}   {b.achieved:>12,.0f}/s {fmt_ms(pct(bl, .5)):>6} "
              f"{fmt_ms(pct(bl, .99)):>7}   {ratio(r.achieved, b.achieved):>9.2f}  "
              f"{bare.cpu['server']:.2f}")  # fmt: skip
    if wrk is not None and ceiling.wrk is not None:
        bw = ceiling.wrk
        print(f"  closed loop (wrk): {wrk.requests_per_s:,.0f}/s, bare {bw.requests_per_s:,.0f}/s: "
              f"x ceiling {ratio(wrk.requests_per_s, bw.requests_per_s):.2f} "
              f"(bare server CPU {bw.cpu['server']:.2f} cores, wrk {bw.cpu['wrk']:.2f})")  # fmt: skip


# -- (3) projection lag ---------------------------------------------------------------------------


class PositionSampler(threading.Thread):
    """Reads the views' position every SAMPLE_EVERY s; keeps (time the query
    returned, position) whenever the position moved, and every gap between
    consecutive samples."""

    def __init__(self, settings: Settings, model: Any = None) -> None:
        """``model``: a read model whose view alone is sampled; None: the one
        furthest behind of all."""
        super().__init__(name="view-position-sampler", daemon=True)
        self.store = build_view_store(settings)
        self.read = self.store.position if model is None else self.store[model].position
        self.times: list[float] = []
        self.positions: list[int] = []
        self.gaps: list[float] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        last_pos, last_at = -1, time.perf_counter()
        try:
            while not self.stopping.is_set():
                pos = self.read()
                now = time.perf_counter()
                self.gaps.append(now - last_at)
                last_at = now
                if pos != last_pos:
                    self.times.append(now)
                    self.positions.append(pos)
                    last_pos = pos
                time.sleep(SAMPLE_EVERY)
        except BaseException as e:  # noqa: BLE001 - reported by the phase
            self.error = e

    @property
    def position(self) -> int:
        return self.positions[-1] if self.positions else 0

    def first_reached(self, position: int) -> float | None:
        """When a sample first showed the views at or past ``position``."""
        i = bisect.bisect_left(self.positions, position)
        return self.times[i] if i < len(self.times) else None

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.store.close()


@dataclass
class LagPhase:
    batch: int
    offered: float  # scans/s
    posts: OpenLoopResult
    scans_sent: int
    scans_recorded: int
    lags: list[float]  # s, one per acknowledged POST
    unseen: int  # acknowledged positions the views never reached in time
    early: int  # positions visible before their answer arrived (lag 0)
    ingest: float  # recorded scans/s, first POST due to last answer
    catch_up: float  # s from the last answer to the views reaching the last position
    sample_gap_ms: tuple[float, float]  # median, p99 of the time between samples
    cpu: dict[str, float]
    server_ms: float | None
    statuses: dict[int, int]


def scan_body(scans: Sequence[Scan]) -> bytes:
    if len(scans) == 1:
        return msgspec.json.encode(scans[0], enc_hook=enc_hook)
    return msgspec.json.encode({"scans": list(scans)}, enc_hook=enc_hook)


def answered_positions(posts: OpenLoopResult) -> tuple[list[tuple[float, int]], int]:
    """(answer time, log position) of each 2xx POST of scans, and how many
    scans the answers say were recorded."""
    acked: list[tuple[float, int]] = []
    recorded = 0
    for a in posts.ok:
        answer = msgspec.json.decode(a.body)
        if answer.get("position") is not None:
            acked.append((a.done, int(answer["position"])))
        if "results" in answer:
            recorded += int(answer["recorded"])
        else:
            recorded += answer.get("result") == "recorded"
    return acked, recorded


def run_lag(
    servers: Servers, settings: Settings, fleet: store.Fleet, maker: store.JourneyMaker,
    batch: int, scan_rate: float, duration: float, drain: float, meter: CpuMeter,
) -> LagPhase:
    host = f"127.0.0.1:{servers.port}"
    scans = fleet.new_scans(maker, int(scan_rate * duration))
    batches = store.chunks(scans, batch)
    raws = [post_request(SCANS_ROUTE, host, DEVICE_TOKEN, scan_body(b)) for b in batches]
    sampler = PositionSampler(settings)
    sampler.start()
    while not sampler.positions and sampler.error is None:
        time.sleep(0.01)
    before_metrics, before = scrape(servers.base) if servers.metered else {}, meter.snapshot()
    posts = asyncio.run(open_loop(
        "127.0.0.1", servers.port, raws, scan_rate / batch, WRITE_CONNECTIONS, drain,
        keep_body=True,
    ))  # fmt: skip
    cpu = meter.usage(before, meter.snapshot())
    after_metrics = scrape(servers.base) if servers.metered else {}

    acked, recorded = answered_positions(posts)
    last_answer = max((t for t, _ in acked), default=time.perf_counter())
    wanted = max((p for _, p in acked), default=0)
    deadline = time.perf_counter() + 60
    while sampler.position < wanted and time.perf_counter() < deadline and sampler.error is None:
        time.sleep(0.01)
    sampler.stop()
    if sampler.error is not None:
        raise RuntimeError(f"sampling the view position failed: {sampler.error!r}")
    reached = sampler.first_reached(wanted)
    lags, unseen, early = [], 0, 0
    for t_ack, position in acked:
        seen = sampler.first_reached(position)
        if seen is None:
            unseen += 1
            continue
        if seen <= t_ack:
            early += 1
        lags.append(max(0.0, seen - t_ack))
    ok = posts.ok
    span = (max(a.done for a in ok) - posts.start) if ok else 0.0
    gaps = sampler.gaps[1:] or [0.0]
    mean = server_mean(before_metrics, after_metrics, SCANS_ROUTE) if servers.metered else None
    return LagPhase(
        batch=batch, offered=scan_rate, posts=posts, scans_sent=len(scans),
        scans_recorded=recorded, lags=lags, unseen=unseen, early=early,
        ingest=recorded / span if span else 0.0,
        catch_up=(reached - last_answer) if reached is not None else float("nan"),
        sample_gap_ms=(statistics.median(gaps) * 1e3, store.percentile(gaps, 0.99) * 1e3),
        cpu=cpu, server_ms=mean * 1e3 if mean is not None else None,
        statuses=posts.statuses(),
    )  # fmt: skip


# -- (4) HTTP scans: the most scans/s over POST /api/v1/scans --------------------------------------


@dataclass
class PostPhase:
    batch: int  # scans per POST
    posts: OpenLoopResult
    scans_sent: int
    recorded: int
    cpu: dict[str, float]
    server_ms: float | None
    posts_per_txn: float | None  # mean POSTs the server recorded per transaction
    ceiling: float  # rows/s of raw psycopg, as many rows per transaction as a POST carries

    @property
    def rate(self) -> float:
        """Recorded scans/s, from the start to the last answer."""
        ok = self.posts.ok
        return self.recorded / (max(a.done for a in ok) - self.posts.start) if ok else 0.0

    def service_times(self) -> list[float]:
        return [a.done - a.sent for a in self.posts.ok]


def scrape_histogram(base: str, name: str) -> tuple[float, float]:
    """(count, sum) of one of the server's histograms."""
    text = httpx.get(f"{base}/metrics", timeout=5.0).text
    found = dict.fromkeys(("count", "sum"), 0.0)
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"{name}_{part} "):
                found[part] = float(line.split()[1])
    return found["count"], found["sum"]


def raw_ceiling(settings: Settings, schema: str, per_txn: int, rows: int) -> float:
    """Rows/s that psycopg alone writes into a table shaped like the event
    store, ``per_txn`` rows per transaction, taking the table lock, NOTIFY
    and RETURNING as the recorder does (bench/store.py's RawTable); the
    rows carry the states of real recorded scans. Median of 3 rounds."""
    service = build_service(settings)
    try:
        payloads = store.sample_payloads(service)
    finally:
        service.close()
    rng = random.Random(store.SEED)
    rates = []
    with psycopg.connect(store.conninfo(settings), autocommit=True) as conn:
        raw = store.RawTable(conn, schema)
        try:
            for _ in range(3):
                batches = store.chunks(store.raw_rows(payloads, rows, rng), per_txn)
                started = time.perf_counter()
                for batch in batches:
                    raw.unnest_locked(batch)
                rates.append(rows / (time.perf_counter() - started))
                raw.truncate()
        finally:
            raw.drop()
    return statistics.median(rates)


def run_posts(
    servers: Servers, settings: Settings, schema: str, fleet: store.Fleet,
    maker: store.JourneyMaker, batch: int, total: int, drain: float, meter: CpuMeter,
) -> PostPhase:
    """``total`` new scans in POSTs of ``batch``, all due at once: each of
    WRITE_CONNECTIONS connections sends its next POST when the last is answered."""
    host = f"127.0.0.1:{servers.port}"
    scans = fleet.new_scans(maker, total)
    raws = [post_request(SCANS_ROUTE, host, DEVICE_TOKEN, scan_body(b))
            for b in store.chunks(scans, batch)]  # fmt: skip
    histogram, metered = "tracking_http_posts_per_transaction", servers.metered
    txns_before, posts_before = scrape_histogram(servers.base, histogram) if metered else (0, 0)
    before_metrics, before = scrape(servers.base) if metered else {}, meter.snapshot()
    posts = asyncio.run(open_loop("127.0.0.1", servers.port, raws, 1e9, WRITE_CONNECTIONS, drain,
                                  keep_body=True))  # fmt: skip
    cpu = meter.usage(before, meter.snapshot())
    mean = server_mean(before_metrics, scrape(servers.base), SCANS_ROUTE) if metered else None
    txns_after, posts_after = scrape_histogram(servers.base, histogram) if metered else (0, 0)
    txns = txns_after - txns_before
    _, recorded = answered_positions(posts)
    ceiling = raw_ceiling(settings, schema, batch, min(total, 20_000 if batch > 1 else 5_000))
    return PostPhase(
        batch=batch, posts=posts, scans_sent=len(scans), recorded=recorded, cpu=cpu,
        server_ms=mean * 1e3 if mean is not None else None,
        posts_per_txn=(posts_after - posts_before) / txns if txns else None, ceiling=ceiling,
    )  # fmt: skip


def print_posts(phases: Sequence[PostPhase]) -> None:
    print(f"\n(4) HTTP scans: POST /api/v1/scans as fast as answered ({WRITE_CONNECTIONS} "
          "keep-alive connections, each sending its next POST on the answer; new scans into "
          "existing shipments)")  # fmt: skip
    print(f"  {'per POST':>8} {'scans':>9} {'recorded':>9} {'scans/s':>9} {'POSTs/s':>8} "
          f"{'POST ms p50':>11} {'p99':>7} {'POSTs/txn':>9} {'ceiling':>9} {'x ceiling':>9}")
    for ph in phases:
        service = ph.service_times()
        per_txn = f"{ph.posts_per_txn:.1f}" if ph.posts_per_txn is not None else "-"
        print(
            f"  {ph.batch:>8} {ph.scans_sent:>9,} {ph.recorded:>9,} {ph.rate:>9,.0f} "
            f"{ph.rate / ph.batch:>8,.0f} {fmt_ms(pct(service, 0.5)):>11} "
            f"{fmt_ms(pct(service, 0.99)):>7} {per_txn:>9} {ph.ceiling:>9,.0f} "
            f"{ratio(ph.rate, ph.ceiling):>9.2f}"
        )
    for ph in phases:
        codes = status_text(ph.posts.statuses())
        server = f"{ph.server_ms:.1f} ms" if ph.server_ms is not None else "-"
        print(f"  {ph.batch:>3}/POST  statuses {codes}; server mean {server}/POST; "
              f"CPU (cores) {cpu_text(ph.cpu)}")
    print("  scans/s    scans recorded (from the answers) per second, first POST to last answer\n"
          "  POST ms    from sending a POST to its whole answer (closed loop: no queueing)\n"
          "  POSTs/txn  POSTs the server recorded per transaction: concurrent POSTs share one\n"
          "             (adapters/groupcommit.py)\n"
          "  ceiling    rows/s psycopg alone writes to a table of the event store's shape, as\n"
          "             many rows per transaction as a POST carries, with the recorder's lock,\n"
          "             NOTIFY and RETURNING (one connection, no HTTP, no domain; empty table)")


# -- report ----------------------------------------------------------------------------------------


def status_text(statuses: dict[int, int]) -> str:
    """How many answers of each status (0: no answer)."""
    return ", ".join(f"{k or 'no answer'}: {v:,}" for k, v in sorted(statuses.items()))


def pct(values: Sequence[float], p: float) -> float:
    return store.percentile(values, p) if values else float("nan")


def ratio(figure: float, ceiling: float) -> float:
    """A figure as a fraction of its ceiling (0 when no ceiling was measured)."""
    return figure / ceiling if ceiling else 0.0


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.1f}" if ms < 1000 else f"{ms:,.0f}"


def quarters(result: OpenLoopResult) -> str:
    """p50 latency of each quarter of a phase, by scheduled time."""
    end = max((a.done for a in result.answers), default=result.start)
    parts = []
    for q in range(4):
        lo, hi = result.start + q * result.duration / 4, result.start + (q + 1) * result.duration / 4
        lat = [(a.done or end) - a.scheduled for a in result.answers if lo <= a.scheduled < hi]
        parts.append(fmt_ms(pct(lat, 0.5)))
    return " / ".join(parts)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def print_header(url: str, server: str, schema: str, args: argparse.Namespace, plan: Plan,
                 reused: bool = False) -> None:
    flags = " --quick" if args.quick else ""
    print(f"bench/reads.py{flags}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    state = "reused" if reused else "recreated"
    print(f"  database   {store.redact(url)}  (PostgreSQL {server}, schema {schema} {state})")
    print(
        f"  software   Python {platform.python_version()}, litestar {version('litestar')}, "
        f"uvicorn {version('uvicorn')}, eventsourcing {version('eventsourcing')}, "
        f"psycopg {version('psycopg')}, msgspec {version('msgspec')}"
    )
    wrk = shutil.which("wrk")
    wrk_version = "not installed: closed loop skipped"
    if wrk:
        first = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.splitlines()
        wrk_version = first[0].split(" Copyright")[0] if first else "wrk"
    print(f"  server     `tracking serve` with TRACKING_HTTP_WORKERS={args.workers} (processes)")
    print(f"  machine    {os.cpu_count()} CPUs, SHARED by PostgreSQL, `tracking serve`, "
          "`tracking project` and the load generators (all on 127.0.0.1)")  # fmt: skip
    print(
        "  load       open loop: this script (asyncio, raw HTTP/1.1 over keep-alive sockets; "
        "latency from each request's SCHEDULED send time)\n"
        f"             closed loop: {wrk_version}"
    )
    print(f"  phases     {plan.duration:g} s each; reads at {' and '.join(f'{r:,}/s' for r in plan.read_rates)}; "
          f"scans at {plan.scan_rate:,}/s, {' and '.join(f'{b} per POST' for b in plan.scan_batches)}")  # fmt: skip


def print_reads(phases: Sequence[ReadPhase], warmup: ReadPhase | None) -> None:
    print("\n(1) GET /api/v1/track/{n}, open loop at a fixed rate, random booked tracking numbers")
    print(f"    ({READ_CONNECTIONS} keep-alive connections; latency in ms from the scheduled send "
          "time, queueing in the generator included)")  # fmt: skip
    print(f"  {'offered':>8} {'achieved':>9} {'answers':>8} {'errors':>7} {'p50':>6} {'p90':>6} "
          f"{'p99':>7} {'p99.9':>7} {'max':>7} {'send lag p99':>12} {'server mean':>11}  "
          "bar p99 < 20 ms at 1,000/s")  # fmt: skip
    for ph in phases:
        r = ph.result
        lat = r.latencies()
        errors = len(r.answers) - len(r.ok)
        lag = [a.sent - a.scheduled for a in r.answers if a.sent]
        server = f"{ph.server_ms:.2f}" if ph.server_ms is not None else "-"
        p99 = pct(lat, 0.99)
        bar = (f"p99 {fmt_ms(p99)} ms: {verdict(p99 < BAR_READ_P99)}"
               if r.rate >= BAR_READ_RATE else "(below the bar's rate)")  # fmt: skip
        print(
            f"  {r.rate:>6,.0f}/s {r.achieved:>7,.0f}/s {len(r.answers):>8,} {errors:>7,} "
            f"{fmt_ms(pct(lat, 0.5)):>6} {fmt_ms(pct(lat, 0.9)):>6} {fmt_ms(p99):>7} "
            f"{fmt_ms(pct(lat, 0.999)):>7} {fmt_ms(max(lat)):>7} {fmt_ms(pct(lag, 0.99)):>12} "
            f"{server:>11}  {bar}"
        )
    for ph in phases:
        codes = status_text(ph.result.statuses())
        print(f"  {ph.result.rate:>6,.0f}/s  statuses {codes}; CPU (cores) {cpu_text(ph.cpu)}; "
              f"quarters p50 {quarters(ph.result)} ms")
    print("  send lag     scheduled send time to a connection taking the request (generator "
          "queueing/lateness)\n"
          "  server mean  the server's own time per request, from /metrics\n"
          "  errors       anything but 2xx, and requests with no answer within "
          f"{phases[0].result.drain:g} s after the last was due\n"
          "  quarters     p50 in each quarter of the phase, by scheduled time (drift within "
          "the phase)")  # fmt: skip
    if warmup is not None:
        print(f"  (warm-up before: {len(warmup.result.answers):,} requests at "
              f"{warmup.result.rate:,.0f}/s, not counted)")  # fmt: skip


def print_wrk(result: WrkResult | None, duration: float, way: str = "") -> None:
    print(f"\n(2) GET /api/v1/track/{{n}}, closed loop: maximum throughput {way}")
    if result is None:
        print("  wrk is not installed (apt-get install wrk): skipped")
        return
    lat = result.latency
    print(f"    (wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{round(duration)}s, Lua script over "
          "the booked tracking numbers, each request a random one)")  # fmt: skip
    print(f"  {'requests/s':>10} {'requests':>9} {'p50':>8} {'p75':>8} {'p90':>8} {'p99':>8} "
          f"{'max':>8} {'non-2xx':>8} {'server mean':>11}")  # fmt: skip
    server = f"{result.server_ms:.2f} ms" if result.server_ms is not None else "-"
    print(f"  {result.requests_per_s:>10,.0f} {result.requests:>9,} {lat.get('50%', '?'):>8} "
          f"{lat.get('75%', '?'):>8} {lat.get('90%', '?'):>8} {lat.get('99%', '?'):>8} "
          f"{lat.get('max', '?'):>8} {result.non_2xx:>8,} {server:>11}")  # fmt: skip
    print(f"  socket errors: {result.socket_errors}; CPU (cores) {cpu_text(result.cpu, True)}")
    print("  (closed-loop latencies are wrk's own, measured from the actual send: they hide "
          "queueing, use (1) for latency)")  # fmt: skip


def print_lag(phases: Sequence[LagPhase]) -> None:
    print("\n(3) projection lag: POST /api/v1/scans at a fixed rate (new scans, unique scan_ids, "
          "existing shipments)")  # fmt: skip
    print("    lag = first view-position sample at or past the answer's position, minus the "
          "time the 2xx answer arrived (ms)")  # fmt: skip
    print(f"  {'per POST':>8} {'offered':>10} {'ingest':>10} {'recorded':>13} {'POST p50':>8} "
          f"{'p99':>7} {'lag p50':>8} {'p99':>7} {'max':>7} {'catch-up':>8}  "
          "bar lag p99 < 1 s at 1,000 scans/s")  # fmt: skip
    for ph in phases:
        post = ph.posts.latencies()
        p99 = pct(ph.lags, 0.99)
        if ph.offered < BAR_LAG_RATE:
            bar = "(below the bar's rate)"
        elif ph.ingest < 0.95 * BAR_LAG_RATE:
            bar = f"NOT MET: ingest {ph.ingest:,.0f}/s, not {BAR_LAG_RATE:,}/s"
        else:
            bar = f"p99 {fmt_ms(p99)} ms: {verdict(p99 < BAR_LAG_P99 and ph.unseen == 0)}"
        print(
            f"  {ph.batch:>8} {ph.offered:>8,.0f}/s {ph.ingest:>8,.0f}/s "
            f"{f'{ph.scans_recorded:,}/{ph.scans_sent:,}':>13} {fmt_ms(pct(post, 0.5)):>8} "
            f"{fmt_ms(pct(post, 0.99)):>7} {fmt_ms(pct(ph.lags, 0.5)):>8} {fmt_ms(p99):>7} "
            f"{fmt_ms(max(ph.lags, default=float('nan'))):>7} {fmt_ms(ph.catch_up):>8}  {bar}"
        )
    for ph in phases:
        codes = status_text(ph.statuses)
        server = f"{ph.server_ms:.1f} ms" if ph.server_ms is not None else "-"
        print(
            f"  {ph.batch:>3}/POST  {len(ph.posts.answers):,} POSTs at {ph.offered / ph.batch:,.0f}/s, "
            f"statuses {codes}; server mean {server}/POST; {len(ph.lags):,} positions timed, "
            f"{ph.early:,} visible before their answer arrived, {ph.unseen:,} never seen; "
            f"samples every {ph.sample_gap_ms[0]:.1f} ms (p99 {ph.sample_gap_ms[1]:.1f} ms)"
        )
        print(f"           CPU (cores) {cpu_text(ph.cpu)}")
    print("  ingest    recorded scans/s, from the first POST due to the last answer\n"
          "  POST      latency of the POSTs from their scheduled send time (ms)\n"
          "  catch-up  from the last answer to the views reaching the last position (ms)\n"
          "  no answer a POST still waiting for a connection (the server fell behind) or in "
          f"flight {phases[0].posts.drain:g} s after the last was due: not sent, not counted "
          "as recorded")  # fmt: skip


def print_summary(reads: Sequence[ReadPhase], ceiling: CeilingReads, wrk: WrkResult | None,
                  lags: Sequence[LagPhase], posts: Sequence[PostPhase], workers: int,
                  shipments: int, via: WrkResult | None = None) -> None:
    """One line per figure, gathered by bench/all.py into RESULTS.md's table:
    figure | measured | ceiling | x ceiling | bar | what holds it back."""
    print()
    for real, bare in zip(reads, ceiling.opened, strict=True):
        r, b = real.result, bare.result
        p99 = pct(r.latencies(), 0.99)
        met = r.rate < BAR_READ_RATE or (r.achieved >= 0.98 * r.rate and p99 < BAR_READ_P99)
        bar = (f">= {r.rate:,.0f}/s, p99 < {BAR_READ_P99 * 1e3:.0f} ms: "
               f"{'met' if met else 'NOT met'}") if r.rate >= 2 * BAR_READ_RATE else "-"
        print(f"summary: reads, GET /api/v1/track at {r.rate:,.0f}/s offered ({workers} server "
              f"processes, {shipments:,} shipments) | {r.achieved:,.0f}/s, p99 "
              f"{fmt_ms(p99)} ms | {b.achieved:,.0f}/s, p99 {fmt_ms(pct(b.latencies(), 0.99))} ms "
              f"(bare ASGI app) | {ratio(r.achieved, b.achieved):.2f} | {bar} | "
              f"server CPU {real.cpu['server']:.2f} cores of 2 (uvicorn, Litestar, logging "
              f"and a query per request), PostgreSQL {real.cpu['postgres']:.2f}")  # fmt: skip
    if wrk is not None and ceiling.wrk is not None:
        bw = ceiling.wrk
        print(f"summary: reads, closed loop (wrk, 32 connections) | {wrk.requests_per_s:,.0f}/s, "
              f"p99 {wrk.latency.get('99%', '?')} | {bw.requests_per_s:,.0f}/s (bare ASGI app) | "
              f"{ratio(wrk.requests_per_s, bw.requests_per_s):.2f} | - | "
              f"server CPU {wrk.cpu['server']:.2f} cores, wrk {wrk.cpu['wrk']:.2f}")  # fmt: skip
    if via is not None and ceiling.wrk is not None:
        print(f"summary: reads, closed loop through Litestar's controller (wrk, 32 connections) | "
              f"{via.requests_per_s:,.0f}/s, p99 {via.latency.get('99%', '?')} | "
              f"{ceiling.wrk.requests_per_s:,.0f}/s (bare ASGI app) | "
              f"{ratio(via.requests_per_s, ceiling.wrk.requests_per_s):.2f} | - | "
              f"server CPU {via.cpu['server']:.2f} cores, wrk {via.cpu['wrk']:.2f}")  # fmt: skip
    for ph in lags:
        p99 = pct(ph.lags, 0.99)
        kept = ph.ingest >= 0.95 * BAR_LAG_RATE
        met = kept and p99 < BAR_LAG_P99 and ph.unseen == 0
        print(f"summary: projection lag, {ph.offered:,.0f} scans/s POSTed {ph.batch} per POST | "
              f"p50 {fmt_ms(pct(ph.lags, 0.5))} ms, p99 {fmt_ms(p99)} ms (ingest "
              f"{ph.ingest:,.0f}/s) | - | - | p99 < {BAR_LAG_P99:.0f} s at {BAR_LAG_RATE:,} "
              f"scans/s: {'met' if met else 'NOT met'} | runner CPU {ph.cpu['runner']:.2f} "
              f"cores, server {ph.cpu['server']:.2f}, PostgreSQL {ph.cpu['postgres']:.2f}")  # fmt: skip
    cached = int(ShipmentService.env["AGGREGATE_CACHE_MAXSIZE"])  # per process
    if shipments > cached:
        held = (f"replaying the shipments not cached ({shipments:,} shipments, {cached:,} cached "
                "per process): one transaction at a time per process waits for PostgreSQL to "
                "read each of their events from a heap page of its own (bench/README.md)")  # fmt: skip
    else:
        held = f"the write path in Python, one transaction at a time per process (all {shipments:,} shipments cached)"
    for ph in posts:
        print(f"summary: HTTP scans, {ph.batch} per POST, closed loop | {ph.rate:,.0f} scans/s | "
              f"{ph.ceiling:,.0f} rows/s (psycopg, {ph.batch} rows a transaction) | "
              f"{ratio(ph.rate, ph.ceiling):.2f} | - | {held}; server CPU {ph.cpu['server']:.2f}, "
              f"PostgreSQL {ph.cpu['postgres']:.2f}")  # fmt: skip


# -- main ----------------------------------------------------------------------------------------


def seed_store(settings: Settings, plan: Plan, maker: store.JourneyMaker) -> store.Fleet:
    """Book and scan ``plan.shipments`` through the service, then rebuild the
    views (stream by stream: far quicker than replaying the log in order)."""
    store.progress(f"seeding {plan.shipments:,} shipments")
    service = build_service(settings)
    seed_plan = store.Plan(shipments=plan.shipments, single_scans=0, batch_scans=0)
    fleet, booking, scanning = store.seed(service, maker, seed_plan)
    store.progress("building the views (rebuild)")
    views = build_view_store(settings)
    runner = build_runner(settings, service, views)
    started = time.perf_counter()
    projected = runner.rebuild()
    projecting = time.perf_counter() - started
    runner.stop()
    views.close()
    service.close()
    autovacuum = vacuum_analyze(settings)
    seeded_scans = fleet.events - 2 * len(fleet.journeys)
    print(
        f"\nseeded {len(fleet.journeys):,} shipments, {fleet.events:,} events "
        f"({fleet.mean_events:.1f} per shipment) in {booking + scanning + projecting:.1f} s "
        "(not part of the figures):\n"
        f"  {len(fleet.journeys):>8,} bookings, one per call       {booking:6.1f} s "
        f"{len(fleet.journeys) / booking:>8,.0f} /s\n"
        f"  {seeded_scans:>8,} scans, record_scans of 1,000  {scanning:6.1f} s "
        f"{seeded_scans / scanning:>8,.0f} /s\n"
        f"  {projected:>8,} events projected (rebuild)    {projecting:6.1f} s "
        f"{projected / projecting:>8,.0f} /s\n"
        f"  then VACUUM ANALYZE of the schema's tables, as autovacuum would have done "
        f"(autovacuum here: {autovacuum})"
    )
    return fleet


def vacuum_analyze(settings: Settings) -> str:
    """VACUUM ANALYZE every table of the benchmark's schema (the planner's
    statistics of a store that autovacuum keeps); the server's autovacuum setting."""
    schema = settings.eventstore_env()["POSTGRES_SCHEMA"]
    with psycopg.connect(store.conninfo(settings), autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()]
        for table in tables:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(schema, table)))
        row = conn.execute("SHOW autovacuum").fetchone()
    return str(row[0]) if row else "?"


def existing_seed(settings: Settings, shipments: int) -> tuple[int, str] | None:
    """(events, server version) when the schema already holds exactly
    ``shipments`` booked shipments (bringing its views up to date), else None."""
    schema = settings.eventstore_env()["POSTGRES_SCHEMA"]
    ident = sql.Identifier(schema)
    try:
        with psycopg.connect(store.conninfo(settings), autocommit=True) as conn:
            booked = conn.execute(sql.SQL(
                "SELECT count(*) FROM {}.shipment_views WHERE booked").format(ident)).fetchone()
            last = conn.execute(sql.SQL(
                "SELECT coalesce(max(notification_id), 0) FROM {}.tracking_events"
            ).format(ident)).fetchone()
            views = conn.execute(sql.SQL(
                "SELECT min(position) FROM {}.view_positions").format(ident)).fetchone()
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    if not (booked and last and views and version) or booked[0] != shipments:
        return None
    if views[0] != last[0]:  # a run stopped before the views caught up: catch up
        service, store_ = build_service(settings), build_view_store(settings)
        build_runner(settings, service, store_).catch_up()
        store_.close()
        service.close()
    return int(last[0]), str(version[0]).split()[0]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1,000 shipments, 5 s phases: a smoke test (< 60 s)")
    parser.add_argument("--shipments", type=int, default=None,
                        help="shipments to seed (10,000; 1,000 with --quick)")
    parser.add_argument("--rate", type=int, default=None,
                        help="offered GETs/s of the first read phase; the second offers twice "
                             "as many (1,000)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of each measured phase (20; 5 with --quick)")
    parser.add_argument("--scan-rate", type=int, default=None,
                        help="scans/s offered by the publisher in the lag phases (1,000)")
    parser.add_argument("--post-batches", default="1,50,500",
                        help="scans per POST, one closed-loop throughput phase each (1,50,500)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="TRACKING_HTTP_WORKERS of `tracking serve` (one per core: %(default)s)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the schema's shipments when it holds exactly --shipments of "
                             "them with the views up to date (for repeated runs); else seed")
    parser.add_argument("--reads-only", action="store_true",
                        help="measure the reads (1) and (2) only, not the lag or the POSTs")
    parser.add_argument("--scan-batches", default="1,50",
                        help="scans per POST, one lag phase each, comma-separated (1,50)")
    return parser.parse_args(argv)  # fmt: skip


def interrupted(signum: int, _: Any) -> None:
    """Ctrl-C and SIGTERM end the run wherever it is (also inside the event
    loop, which asyncio.run would otherwise turn into a cancellation a phase
    may outlive), so that the server processes are always stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    plan = make_plan(args)
    run_start = time.perf_counter()
    url = os.environ.get("TRACKING_BENCH_DATABASE_URL") or DEFAULT_URL
    settings = Settings(database_url=url)
    schema_name = settings.eventstore_env().get("POSTGRES_SCHEMA")
    if "schema=" not in url or not schema_name or schema_name == "public":
        sys.exit("bench/reads.py: TRACKING_BENCH_DATABASE_URL must be PostgreSQL and name a schema "
                 "of its own (?schema=bench_http): it is DROPPED at every run")  # fmt: skip
    reused = existing_seed(settings, plan.shipments) if args.reuse else None
    if reused is not None:
        schema, server_version = schema_name, reused[1]
    else:
        schema, server_version = store.reset_schema(settings)
    print_header(url, server_version, schema, args, plan, reused=reused is not None)

    maker = store.JourneyMaker(random.Random(store.SEED))
    if reused is not None:
        # The same generator, so the same tracking numbers; nothing is written.
        now = datetime.now(UTC)
        fleet = store.Fleet([maker.make(maker.rng.randint(10, 30), now)
                             for _ in range(plan.shipments)], events=reused[0])
        print(f"\nreused the {plan.shipments:,} shipments and {reused[0]:,} events already in "
              f"schema {schema} (--reuse), views up to date")
    else:
        fleet = seed_store(settings, plan, maker)
    paths = [f"/api/v1/track/{j.tracking_number}" for j in fleet.journeys]
    rng = random.Random(store.SEED + 1)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        servers = Servers(url=url, port=free_port(), logs=Path(tmp), workers=args.workers)
        try:
            store.progress(f"starting `tracking serve` and `tracking project` on port {servers.port}")
            started = time.perf_counter()
            servers.start()
            ready = servers.wait_ready()
            print(
                f"\nservers ready in {time.perf_counter() - started:.1f} s: `tracking serve` "
                f"(pid {servers.procs['server'].pid}) on 127.0.0.1:{servers.port}, `tracking "
                f"project` (pid {servers.procs['runner'].pid}); log position "
                f"{ready['log_position']:,}, views at {ready['view_position']:,}; "
                f"TRACKING_RATE_LIMIT_PER_MINUTE={RATE_LIMIT:,}"
            )
            meter = CpuMeter(servers.procs["server"].pid, servers.procs["runner"].pid)

            store.progress("reads: warm-up")
            warm = run_reads(servers, paths, plan.read_rates[0] / 2, plan.warmup, plan.drain,
                             meter, rng)
            reads = []
            for rate in plan.read_rates:
                store.progress(f"reads: open loop at {rate:,}/s for {plan.duration:g} s")
                reads.append(run_reads(servers, paths, rate, plan.duration, plan.drain, meter, rng))
                servers.check_alive()
            print_reads(reads, warm)

            store.progress(f"reads: closed loop (wrk) for {plan.duration:g} s")
            wrk = run_wrk(servers, paths, plan.duration, meter, Path(tmp))
            print_wrk(wrk, plan.duration)
            # The same through Litestar's controller: any query string takes that way.
            store.progress(f"reads: closed loop (wrk) through Litestar for {plan.duration:g} s")
            via = run_wrk(servers, [f"{p}?via=litestar" for p in paths], plan.duration, meter,
                          Path(tmp))
            print_wrk(via, plan.duration, "through Litestar's controller (?via=litestar)")
            servers.check_alive()
            store.progress("reads: the same load on a bare ASGI app (the ceiling)")
            ceiling = run_ceiling(servers, paths, plan, servers.procs["runner"].pid, Path(tmp), rng)
            print_ceiling(ceiling, reads, wrk)
            if wrk is not None and via is not None and ceiling.wrk is not None:
                print(f"  closed loop through Litestar: {via.requests_per_s:,.0f}/s: x ceiling "
                      f"{ratio(via.requests_per_s, ceiling.wrk.requests_per_s):.2f}; the plain "
                      f"route is {ratio(wrk.requests_per_s, via.requests_per_s):.1f}x it")

            lags = []
            for batch in plan.scan_batches if not args.reads_only else ():
                store.progress(f"lag: {plan.scan_rate:,} scans/s, {batch} per POST, "
                               f"{plan.duration:g} s")  # fmt: skip
                lags.append(run_lag(servers, settings, fleet, maker, batch, plan.scan_rate,
                                    plan.duration, plan.drain, meter))  # fmt: skip
                servers.check_alive()
            if lags:
                print_lag(lags)

            posts = []
            for batch in plan.post_batches if not args.reads_only else ():
                total = plan.post_scans * (1 if batch == 1 else 4 if batch < 500 else 8)
                store.progress(f"HTTP scans: {total:,} in POSTs of {batch}, closed loop")
                # All are due at once: wait for the last answer (bounded), not `drain`.
                posts.append(run_posts(servers, settings, schema, fleet, maker, batch, total,
                                       POST_WAIT, meter))  # fmt: skip
                servers.check_alive()
            if posts:
                print_posts(posts)
            print_summary(reads, ceiling, wrk, lags, posts, args.workers, plan.shipments, via)

            problems = servers.log_problems()
            print("\nprocess output: " + ", ".join(
                f"`tracking {'serve' if n == 'server' else 'project'}` {c} error line(s)"
                for n, c in problems.items()
            ))  # fmt: skip
            for name, count in problems.items():
                if count:
                    print(f"--- last lines of `tracking {name}` ---\n{servers.tail(name)}")
        except BaseException:
            for name in servers.procs:
                print(f"--- last lines of {name} ---\n{servers.tail(name)}", file=sys.stderr)
            raise
        finally:
            servers.stop()
    print("\n".join(store.WARNINGS) or "check: every seed scan was recorded")
    print(f"total run time {time.perf_counter() - run_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
