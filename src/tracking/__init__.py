"""The shipment tracking domain: value types, the Shipment aggregate, the
delivery derivation, and the application service. Pure: no I/O, no web or
database libraries; persistence is chosen by the composition root."""
