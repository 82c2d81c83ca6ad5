"""The accuracy the endpoint adds up from each delivered shipment's tallies
is the accuracy of the scored ETAs themselves, overall and by source."""

from __future__ import annotations

import random
from itertools import groupby

from tracking.eta.accuracy import ALL, Scored, summarize, tallies, total


def test_tallies_add_up_to_the_accuracy_of_the_scored_etas() -> None:
    rng = random.Random(3)
    scored = [
        Scored(shipment=f"S{i // 6}", source=rng.choice(["lanes", "plan", "carrier"]),
               error_hours=rng.gauss(0, 20), inside=rng.choice([True, False, None]),
               hours_out=rng.uniform(0, 400), flagged_late=rng.random() < 0.3,
               late=(i // 6) % 4 == 0)
        for i in range(600)
    ]
    found = [t for _, group in groupby(scored, key=lambda s: s.shipment) for t in tallies(list(group))]
    assert total(t for t in found if t.source == ALL) == summarize(scored)
    for source in ("lanes", "plan", "carrier"):
        assert total(t for t in found if t.source == source) == summarize(
            s for s in scored if s.source == source)
