"""A real webhook receiver on loopback: it records what it is sent and
answers as a test scripts it (fail first, hold requests, go down, come up)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook as Verifier


class Receiver:
    def __init__(self, answers: list[int] | None = None, host: str = "127.0.0.1") -> None:
        self.host = host  # any 127.0.0.0/8 address is this machine's loopback
        self.answers = list(answers or [])  # statuses answered first, in turn; then 200
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.release = threading.Event()  # held() receivers answer only once set
        self.release.set()
        self._lock = threading.Lock()
        self.port = 0
        self.location: str | None = None  # sent with a 3xx answer
        self.delay = 0.0  # seconds each answer takes
        self.up()

    def up(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender went away mid-request (killed): nothing was delivered
                outer.release.wait(30)
                if outer.delay:
                    time.sleep(outer.delay)  # a receiver that takes its time answering
                with outer._lock:
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                if outer.location and 300 <= status < 400:
                    self.send_header("location", outer.location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Refuse connections (the port closed) until ``up``."""
        self.server.shutdown()
        self.server.server_close()

    def hold(self) -> None:
        self.release.clear()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def verified(self, secret: str) -> list[tuple[str, dict[str, Any]]]:
        """(webhook-id, body) of each request, each signature checked by the
        Standard Webhooks reference implementation (raises if one is wrong)."""
        verifier = Verifier(secret)
        with self._lock:
            found = list(self.requests)
        return [(headers["webhook-id"], verifier.verify(body, headers)) for headers, body in found]

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.requests]
