"""Consumer slots: the sessions of a shared subscription are always held.

On Mosquitto (and on any broker without redispatch) a member of a shared
subscription with a persistent session is handed its share of each scan
while it is away, queued in its session: a consumer SIGKILLed and never
restarted strands its share until the session expires, then it is dropped.
So the members are not processes but a fixed set of *slots*:
``TRACKING_MQTT_SLOTS`` client ids ``<TRACKING_MQTT_CLIENT_ID>-<k>``, each the
persistent session of one member of ``$share/<TRACKING_MQTT_GROUP>/...``.

Every ``tracking ingest`` process with slots holds each slot it consumes as
under a PostgreSQL advisory lock (session level, on a connection of its
own): a process that dies, however, loses its connection and with it its
locks, and the others take its slots within ``interval`` seconds, resuming
those sessions (``clean_start`` false) with what was queued and what was in
flight in them. Each process holds its fair share, ``ceil(slots / members)``
(members: the processes holding the group's member lock, counted in
``pg_locks``), one slot more or less per round: a process that joins gets
slots from those holding more; the last process left holds all of them. A
slot is released only after its consumer has disconnected (the batch in
hand recorded and acknowledged), so two processes never share a session.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from adapters.metrics import Metrics
from adapters.mqtt.consumer import BrokerAddress, ScanConsumer

log = logging.getLogger("adapters.mqtt.consumer")

MEMBERS = "members"


def lock_key(*parts: str) -> int:
    """A non-negative int4 naming what the parts say (the first key of a
    two-key advisory lock; the second is the slot, or a member's number)."""
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:4], "big") >> 1


class SlotLeases:
    """The advisory locks of one group's slots, on one connection of this
    process: losing the connection loses every lease at once."""

    def __init__(self, conninfo: str, schema: str, group: str) -> None:
        self.conninfo = conninfo
        self.slot_key = lock_key(schema, group, "slots")
        self.member_key = lock_key(schema, group, MEMBERS)
        self.member = random.randrange(2**31)  # nosec B311: spreading slots and members, not a secret
        self.conn: psycopg.Connection[Any] | None = None

    def open(self) -> None:
        self.close()
        self.conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
        self._one("select pg_advisory_lock(%s, %s)", self.member_key, self.member)

    def _one(self, sql: str, *args: int) -> Any:
        assert self.conn is not None
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def alive(self) -> bool:
        try:
            return self.conn is not None and not self.conn.closed and self._one("select 1") == 1
        except psycopg.Error:
            return False

    def take(self, slot: int) -> bool:
        return bool(self._one("select pg_try_advisory_lock(%s, %s)", self.slot_key, slot))

    def release(self, slot: int) -> None:
        self._one("select pg_advisory_unlock(%s, %s)", self.slot_key, slot)

    def members(self) -> int:
        """How many processes hold the group's member lock now (this one too)."""
        return int(self._one(
            "select count(*) from pg_locks where locktype = 'advisory' and granted"
            " and database = (select oid from pg_database where datname = current_database())"
            " and classid = %s::int8::oid and objsubid = 2", self.member_key))

    def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.close()
        self.conn = None


class SlottedConsumers:
    """The slots this process holds, each a ScanConsumer; answers what the
    health checks ask of one consumer (``connected``, ``fault``, ``metrics``)."""

    def __init__(self, make: Callable[[str], ScanConsumer], leases: SlotLeases, *,
                 client_id: str, group: str, slots: int, broker: BrokerAddress,
                 metrics: Metrics, interval: float = 1.0) -> None:
        self.make, self.leases = make, leases
        self.client_id, self.group, self.slots = client_id, group, slots
        self.broker, self.metrics, self.interval = broker, metrics, interval
        self.topic = ""
        self.held: dict[int, ScanConsumer] = {}
        self.connected = _AllConnected(self)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-slots", daemon=True)
        self._lock = threading.Lock()
        self._lost = False

    def slot_id(self, slot: int) -> str:
        return f"{self.client_id}-{slot}"

    @property
    def fault(self) -> str | None:
        """A held slot's consumer's fault; or the leases' connection lost. A
        process holding no slot (more processes than slots) is a standby:
        no fault."""
        with self._lock:
            faults = [c.fault for c in self.held.values() if c.fault]
        if self._lost:
            faults.append("the connection holding the MQTT slots' leases is lost")
        return faults[0] if faults else None

    def start(self) -> SlottedConsumers:
        self.leases.open()
        self._balance()  # the first slot before start() returns, when one is free
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._balance()
            except Exception:  # noqa: BLE001 - the lease connection failed: next round
                log.exception("could not balance the MQTT slots; trying again")

    def _balance(self) -> None:
        """One round: drop the leases if their connection is lost; release a
        slot whose consumer was thrown off; then take or give one slot
        towards this process's fair share."""
        if not self.leases.alive():
            self._lost = True
            self._drop_all("the connection holding the slots' leases was lost")
            self.leases.open()
            self._lost = False
        for slot, consumer in list(self.held.items()):
            if consumer.fault is not None:
                self._release(slot)
        fair = math.ceil(self.slots / max(1, self.leases.members()))
        if len(self.held) > fair:
            self._release(max(self.held))
            return
        if len(self.held) < fair:
            for slot in random.sample(range(self.slots), self.slots):  # nosec B311: spreading slots and members, not a secret
                if slot not in self.held and self.leases.take(slot):
                    self._hold(slot)
                    return

    def _hold(self, slot: int) -> None:
        consumer = self.make(self.slot_id(slot))
        self.topic = consumer.topic
        with self._lock:
            self.held[slot] = consumer
        consumer.start()
        log.info("holding MQTT slot %d of %d (client id %s)", slot, self.slots, consumer.client_id,
                 extra={"slot": slot, "client_id": consumer.client_id})

    def _release(self, slot: int) -> None:
        with self._lock:
            consumer = self.held.pop(slot)
        consumer.stop()  # the batch in hand acknowledged, disconnected: then the lease goes
        self.leases.release(slot)
        log.info("released MQTT slot %d (client id %s)", slot, consumer.client_id,
                 extra={"slot": slot, "client_id": consumer.client_id})

    def _drop_all(self, why: str) -> None:
        """The leases are gone with their connection: another process may
        take these slots now, so stop their consumers at once."""
        if self.held:
            log.error("%s: stopping the consumers of slots %s", why, sorted(self.held))
        with self._lock:
            held, self.held = dict(self.held), {}
        for consumer in held.values():
            consumer.stop()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for slot in list(self.held):
            try:
                self._release(slot)
            except psycopg.Error:
                pass  # the connection is gone, and the lease with it
        self.leases.close()


class _AllConnected:
    """``connected.is_set()``: every slot held is connected (a standby,
    holding none, is)."""

    def __init__(self, owner: SlottedConsumers) -> None:
        self.owner = owner

    def is_set(self) -> bool:
        return all(c.connected.is_set() for c in list(self.owner.held.values()))


def slotted(settings: Any, make: Callable[[str], ScanConsumer], broker: BrokerAddress,
            metrics: Metrics, interval: float = 1.0) -> SlottedConsumers:
    """The slots of TRACKING_MQTT_GROUP for this process; ``make(client_id)``
    builds the consumer of one slot."""
    conninfo, schema = settings.postgres_conninfo()
    return SlottedConsumers(make, SlotLeases(conninfo, schema, settings.mqtt_group),
                            client_id=settings.mqtt_client_id, group=settings.mqtt_group,
                            slots=settings.mqtt_slots, broker=broker, metrics=metrics,
                            interval=interval)
