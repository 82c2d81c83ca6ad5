"""The metrics the HTTP API serves at /metrics: the neutral ``adapters.metrics``
(MQTT ingestion and carrier polling count into the same class)."""

from adapters.metrics import Metrics, Reading

__all__ = ["Metrics", "Reading"]
