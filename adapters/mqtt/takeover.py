"""Telling that another consumer took this consumer's session.

Two consumers with one client id share one session: each time one connects
the broker closes the other's connection, which reconnects and closes the
first's, every second, forever. An MQTT 5 broker says so to the one it
closes (DISCONNECT, reason 142 "Session taken over"), but Mosquitto before
2.0.15 just closes the socket, which looks like any lost connection.

So each consumer also leaves a retained *marker* on
``tracking/consumers/{client id}`` naming itself (a random instance id, its
host and pid). On every reconnect it reads the marker before writing its
own: if the marker names another instance although ours was written (and
acknowledged) on an earlier connection, another consumer connected with
our client id in between. To know the retained marker has arrived (if
there is one), it publishes a non-retained *probe* after subscribing: the
broker delivers what a subscription retains before what is published
after it, so once the probe is back the marker has been seen.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("adapters.mqtt.consumer")
SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason code


def marker_topic(client_id: str) -> str:
    """Where the consumer with ``client_id`` leaves its marker (characters
    a topic name cannot hold replaced)."""
    return "tracking/consumers/" + "".join("_" if c in "/+#" else c for c in client_id)


class SessionGuard:
    """The marker of one consumer process; ``taken_over`` says by whom once
    another consumer connected with the same client id."""

    def __init__(self, client_id: str, *, mqtt5: bool, expiry: int) -> None:
        self.topic = marker_topic(client_id)
        self.me = {"instance": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        self.mqtt5, self.expiry = mqtt5, expiry
        self.taken_over: str | None = None
        # False once the broker refused the marker: Mosquitto closes the
        # connection of a client publishing where its ACL does not let it,
        # so a consumer that kept trying would never stay connected.
        self.usable = True
        self._written = False  # our marker was acknowledged on an earlier connection
        self._written_mid: int | None = None
        self._seen: dict[str, Any] | None = None  # the retained marker of this connection
        self._probe: str | None = None  # sent on this connection, not back yet
        self._probe_mid: int | None = None

    def on_connect(self, client: mqtt.Client) -> None:
        self._seen, self._probe = None, None
        if not self.usable:
            return
        self._probe = uuid.uuid4().hex
        client.subscribe(self.topic, qos=0)
        self._probe_mid = client.publish(self.topic, json.dumps({"probe": self._probe}), qos=1).mid

    def on_message(self, client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        """A marker or a probe on ``topic``: sets ``taken_over`` when it shows
        another consumer had our session since our marker was written."""
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if message.retain and "instance" in body:
            self._seen = body
        elif self._probe is not None and body.get("probe") == self._probe:
            # back after any retained marker: the marker has been seen if there is one
            self._probe = None
            other = self._seen
            if self._written and other is not None and other.get("instance") != self.me["instance"]:
                self.taken_over = f"host {other.get('host')}, pid {other.get('pid')}"
                return
            self._written_mid = client.publish(self.topic, json.dumps(self.me), qos=1, retain=True,
                                               properties=self._expiring()).mid

    def on_publish(self, mid: int, reason: Any) -> None:
        refused = getattr(reason, "is_failure", False)
        if mid == self._written_mid and not refused:
            self._written = True
        elif refused and mid in (self._probe_mid, self._written_mid):
            self._unusable(f"it answered {reason}")

    def on_disconnect(self) -> bool:
        """Whether the connection was most likely closed over the marker (lost
        with the probe out: the broker's ACL refused it, Mosquitto closes
        such a connection): then the marker is no longer used."""
        if self._probe is None:
            return False
        self._probe = None
        self._unusable("it closed the connection as the marker was written")
        return True

    def _unusable(self, how: str) -> None:
        if self.usable:
            self.usable = False
            log.info("the broker does not let this consumer write %s (%s): going on without "
                     "it, so another consumer with this client id is recognised only where the "
                     "broker says so (MQTT 5 reason 142)", self.topic, how)

    def _expiring(self) -> Properties | None:
        """Markers expire with the session they stand for (MQTT 5 only)."""
        if not self.mqtt5:
            return None
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = max(1, self.expiry)
        return properties
