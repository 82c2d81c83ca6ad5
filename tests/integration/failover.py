"""Scans over HTTP while the database fails over: a client that, like a
scanner gateway, sends each scan until it gets a 2xx, and remembers which
scans were acknowledged (and when, for bench/replica.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx


class HttpScanner:
    def __init__(self, port: int, token: str, scans: list[dict[str, Any]], *,
                 give_up_after: float = 120.0) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1/scans"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.scans = scans
        self.give_up_after = give_up_after
        self.acked: list[tuple[str, str]] = []
        self.answered_at: list[float] = []  # monotonic time of each 2xx
        self.failures = 0  # answers other than 2xx, and connection errors
        self.thread = threading.Thread(target=self._run, name="http-scanner", daemon=True)

    def start(self, during: Any = None) -> HttpScanner:
        self._during = during
        self.thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for i, body in enumerate(self.scans):
                if self._during is not None:
                    self._during(i)
                deadline = time.monotonic() + self.give_up_after
                while time.monotonic() < deadline:
                    try:
                        r = client.post(self.url, json=body, headers=self.headers)
                        if 200 <= r.status_code < 300:
                            self.acked.append((body["tracking_number"], body["scan_id"]))
                            self.answered_at.append(time.monotonic())
                            break
                    except httpx.HTTPError:
                        pass
                    self.failures += 1
                    time.sleep(0.1)

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the HTTP scanner did not finish"
