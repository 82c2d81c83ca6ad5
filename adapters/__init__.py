"""The edges: configuration, storage recorders, HTTP, MQTT, carriers, CLI."""
