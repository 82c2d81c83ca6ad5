"""E-mail subscriptions on a shipment and the postcode check."""

from __future__ import annotations

import pytest

from tracking.errors import InvalidInput
from tracking.scan import SYSTEM
from tracking.subscription import EmailAddress, Subscription, postcode_matches
from tests.builders import at
from tests.unit.test_shipment import booked


def test_an_address_is_checked_and_its_domain_lower_cased() -> None:
    assert EmailAddress(" Astrid@Example.SE ") == "Astrid@example.se"
    for bad in ("astrid", "astrid@", "@example.se", "a b@example.se", "a@example", "a@@b.se",
                "a@exa\tmple.se", "x" * 250 + "@example.se"):
        with pytest.raises(InvalidInput) as e:
            EmailAddress(bad)
        assert e.value.field == "email"


def test_a_subscription_is_recorded_once_per_address() -> None:
    shipment = booked()
    sub = Subscription(email=EmailAddress("a@example.se"), language="de", subscribed_at=at(2))
    assert shipment.subscribe(sub, SYSTEM) is True
    assert shipment.subscribe(sub, SYSTEM) is False
    assert [type(e).__name__ for e in shipment.collect_events()][-1] == "NotificationSubscribed"
    assert shipment.subscriptions == [sub]
    # The state a read model keeps goes on with it.
    assert type(shipment).from_state(shipment.state()).subscriptions == [sub]


def test_a_subscription_needs_a_language_tag_and_an_offset() -> None:
    with pytest.raises(InvalidInput):
        Subscription(email=EmailAddress("a@example.se"), language="German", subscribed_at=at(2))


def test_the_postcode_matches_spaces_and_case_aside() -> None:
    assert postcode_matches("111 22", "11122") and postcode_matches("sw1a 1aa", "SW1A1AA")
    assert not postcode_matches("11122", "11123") and not postcode_matches("11122", "")
