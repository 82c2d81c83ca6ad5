"""The embedded broker: amqtt, in this process, for the zero-configuration
default, so a newcomer can ``mosquitto_pub`` a scan and see it tracked.

Why amqtt: it is pure Python (installs from PyPI on any machine, no broker
binary needed) and held up under our consumer's QoS 1 and manual acks. It
speaks MQTT 3.1.1 only, so the embedded consumer uses 3.1.1 with a
persistent session and no shared subscription; production runs Mosquitto
(docker-compose) and MQTT 5.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from amqtt.broker import Broker

        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Anonymous clients on loopback, and none of the $SYS or packet-logging plugins.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._stopping = asyncio.Event()
        try:
            broker = Broker(config, loop=self._loop)
            await broker.start()
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._started.set()
            return
        self._started.set()
        await self._stopping.wait()
        await broker.shutdown()

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start listening; raises OSError when the port cannot be had."""
        self._thread.start()
        self._started.wait(timeout)
        if self._error is not None:
            raise OSError(f"the embedded MQTT broker cannot listen on {self.host}:{self.port}: "
                          f"{self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
