"""Scanner ingestion over MQTT."""
