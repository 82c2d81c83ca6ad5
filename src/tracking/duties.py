"""The duties and taxes customs assesses on an entry and the amounts paid:
what an assessment or a payment must say to be recorded."""

from __future__ import annotations

from decimal import Decimal

from tracking.compliance import Charges
from tracking.errors import InvalidInput


def assessed(amount: Decimal | None, charges: Charges | None) -> tuple[Decimal, Charges | None]:
    if charges is not None:
        for name in ("duty", "vat", "fees"):
            if getattr(charges, name) < 0:
                raise InvalidInput(f"charges.{name}", "must not be negative")
        if amount is not None and amount != charges.total:
            raise InvalidInput(
                "amount", f"{amount} is not the sum of the charges ({charges.total})"
            )
        return charges.total, charges
    if amount is None:
        raise InvalidInput("amount", "an assessment needs the amount (or the charges)")
    if amount < 0:
        raise InvalidInput("amount", "must not be negative")
    return amount, None


def paid(amount: Decimal | None, unpaid: Decimal) -> Decimal:
    if amount is None:
        return unpaid
    if amount != unpaid:
        raise InvalidInput("amount", f"{amount} is not the {unpaid} assessed and unpaid")
    return amount
