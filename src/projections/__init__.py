"""Read models: projections over the domain events, each writing its view
with its tracking position in the same transaction."""
