"""Carrier integrations: one module per source format (dcsa, parcel, epcis,
aggregator), each translating the source's payload into the same domain
commands the scanners use, keeping what the carrier said (``Reported``)."""
