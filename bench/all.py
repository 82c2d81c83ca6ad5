"""Every benchmark, one after the other, each report written into
bench/RESULTS.md (and echoed here) with the command that made it and how
long it took. The machine should be otherwise idle: each benchmark prints
its own ceilings, measured in the same run, and figures are only
comparable with those.

    .venv/bin/python bench/all.py            # ~45 min on 2 cores (+10 the first time:
                                             # reads.py seeds 100,000 shipments once)
    .venv/bin/python bench/all.py --quick    # every benchmark's smoke size, ~5 min

What runs (each benchmark's docstring says what it measures and how):
  store.py    event store: scans/s one per call and in batches, warm and cold,
              beside raw psycopg inserts and COPY on the same table shape;
  ingest.py   MQTT ingestion end to end at QoS 1 (sustained scans/s, p50/p99
              publish -> recorded) beside raw paho publish -> receive, with
              the broker configured not to drop (max_queued_messages 0);
  reads.py    GET /api/v1/track at fixed offered loads and closed loop, beside
              a bare ASGI app under the same load; the projection lag while
              POSTing scans at 1,000/s; HTTP scans/s in POSTs of 1, 50 and
              500 beside psycopg alone; 100,000 shipments in the store;
  rebuild.py  a rebuild of the views from ~1,000,000 events, beside reading
              and decoding them;
  scale.py    the write path with nothing cached at 10k, 100k and 1M shipments
              (seeded by COPY): loading one shipment, scans/s in batches of 100,
              beside psycopg alone; bytes on disk; one service's memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
TIMEOUT = 60 * 60  # per benchmark: a hung one is reported, the next still runs

RUNS = {
    "full": [
        ("store.py", ["--no-profile"]),
        ("ingest.py", ["--broker-queue", "0", "--no-profile"]),
        ("reads.py", ["--shipments", "100000", "--reuse"]),
        ("rebuild.py", []),
        ("scale.py", ["--sizes", "10000,100000,1000000"]),
    ],
    "quick": [
        ("store.py", ["--quick", "--no-profile"]),
        ("ingest.py", ["--quick", "--broker-queue", "0", "--no-profile"]),
        ("reads.py", ["--quick"]),
        ("rebuild.py", ["--quick"]),
        ("scale.py", ["--quick"]),
    ],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark's smoke size")
    parser.add_argument("--only", help="comma-separated benchmark files to run (default: all)")
    args = parser.parse_args(argv)
    runs = RUNS["quick" if args.quick else "full"]
    if args.only:
        wanted = set(args.only.split(","))
        runs = [r for r in runs if r[0] in wanted]
    started = datetime.now(UTC)
    sections = [
        "# Benchmark results\n",
        f"Run by `bench/all.py{' --quick' if args.quick else ''}` on {started:%Y-%m-%d %H:%M} UTC: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "PostgreSQL and Mosquitto on loopback. Each section is one benchmark's own report, "
        "with the ceilings it measured in the same run; medians with their spread. The "
        "machine is a shared 2-core one: figures vary run to run by 10-30 %.\n",
    ]
    failed = 0
    summary: list[tuple[str, list[str]]] = []  # (benchmark, its figure's cells)
    for script, options in runs:
        command = [sys.executable, str(HERE / script), *options]
        shown = " ".join(["bench/" + script, *options])
        print(f"== {shown}", file=sys.stderr, flush=True)
        begin = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
            output, code = done.stdout, done.returncode
            if code != 0:
                output += f"\n(exit status {code})\n{done.stderr[-3000:]}"
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            output += f"\n(stopped after {TIMEOUT} s)"
            code = -1
        failed += code != 0
        minutes = (time.monotonic() - begin) / 60
        print(output)
        summary += [(script, [c.strip() for c in line[len("summary:"):].split(" | ")])
                    for line in output.splitlines() if line.startswith("summary:")]  # fmt: skip
        sections.append(f"## `{shown}` ({minutes:.1f} min)\n\n```\n{output.rstrip()}\n```\n")
        # After each: a stopped run keeps what it has.
        RESULTS.write_text("\n".join([*sections[:2], table(summary), *sections[2:]]))
    print(f"written to {RESULTS.relative_to(HERE.parent)}", file=sys.stderr)
    return 1 if failed else 0


HEADINGS = ("figure", "measured", "ceiling (same run)", "x ceiling", "bar", "what holds it back")


def table(rows: Sequence[tuple[str, list[str]]]) -> str:
    """The benchmarks' summary lines as one Markdown table, each row naming
    the benchmark whose section below has the details."""
    if not rows:
        return ""
    lines = ["## Bars and ratios\n", "| " + " | ".join(HEADINGS) + " | from |",
             "|" + "---|" * (len(HEADINGS) + 1)]
    for script, cells in rows:
        cells = (cells + ["-"] * len(HEADINGS))[: len(HEADINGS)]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + f" | `{script}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
