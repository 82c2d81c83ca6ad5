"""The integration tests leave no persistent session on the shared broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.mqtt.consumer import ScanConsumer
from tests import mqtt_sessions
from tests.mqtt_sessions import SHARED


@pytest.fixture(scope="session", autouse=True)
def no_session_left_on_the_shared_broker() -> Iterator[set[str]]:
    """Every consumer started in this process on the shared broker is
    noted (subprocesses' client ids are added by the tests that start them);
    after the last test none of them may still have a session or a marker
    there. The check removes what it finds, so a failure does not linger."""
    client_ids = mqtt_sessions.OPENED
    start = ScanConsumer.start

    def noting(consumer: ScanConsumer) -> ScanConsumer:
        if (consumer.broker.host, consumer.broker.port) == (SHARED.host, SHARED.port):
            client_ids.add(consumer.client_id)
        return start(consumer)

    patch = pytest.MonkeyPatch()
    patch.setattr(ScanConsumer, "start", noting)
    yield client_ids
    patch.undo()
    if client_ids and mqtt_sessions.reachable(SHARED):
        left = mqtt_sessions.left_behind(SHARED, client_ids)
        assert not left, f"left on the shared broker at {SHARED.host}:{SHARED.port}: {left}"

from tests.integration.replication import pg_pair  # noqa: E402, F401 - a session fixture
