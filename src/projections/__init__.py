"""Read models: projections over the domain events, each writing its view
with its tracking position in the same transaction (``readmodel``), listed
in ``registry`` and kept up to date by ``runner``."""
