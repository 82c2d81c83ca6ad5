"""Customs rules as data: each destination market's regimes with the dates
they took effect (de minimis thresholds, VAT/GST, duty rates by HS chapter),
goods that need a licence, and reference exchange rates.

The table ships in the package (``data/customs-rules.toml``) and is read
once; ``parse_rules`` takes any text of the same shape, so a deployment or a
test can use its own.
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import msgspec

from tracking.errors import InvalidInput

_HUNDRED = Decimal(100)


class Regime(msgspec.Struct, frozen=True, kw_only=True):
    """The rules of one market from ``effective_from`` until the next regime."""

    market: str
    market_name: str
    currency: str
    tax_name: str
    effective_from: date
    note: str
    duty_free_up_to: Decimal
    tax_free_up_to: Decimal
    tax_rates: dict[str, Decimal]
    duty_by_chapter: dict[str, Decimal]
    default_duty: Decimal
    tax_at_sale_scheme: str | None = None
    tax_at_sale_up_to: Decimal | None = None
    tax_at_sale_needs_number: bool = False
    fees: Decimal = Decimal(0)

    @property
    def id(self) -> str:
        return f"{self.market}/{self.effective_from.isoformat()}"

    def duty_rate(self, chapter: str) -> Decimal:
        """Percent of the value."""
        return self.duty_by_chapter.get(chapter, self.default_duty)

    def tax_rate(self, country: str) -> Decimal:
        """Percent of the value plus duty."""
        return self.tax_rates.get(country, Decimal(0))


class Market(msgspec.Struct, frozen=True):
    code: str
    countries: frozenset[str]
    regimes: tuple[Regime, ...]  # oldest first

    def regime_on(self, day: date) -> Regime | None:
        found = None
        for regime in self.regimes:
            if regime.effective_from <= day:
                found = regime
        return found


class Restriction(msgspec.Struct, frozen=True):
    hs_prefix: str
    reason: str
    markets: frozenset[str] = frozenset()


class CustomsRules(msgspec.Struct, frozen=True):
    version: str
    markets: tuple[Market, ...]
    restricted: tuple[Restriction, ...]
    fx: dict[str, Decimal]  # units per 1 EUR
    fx_as_of: str

    def regime(self, country: str, day: date) -> Regime | None:
        """The rules in force for goods entering ``country`` on ``day``."""
        for market in self.markets:
            if country in market.countries:
                return market.regime_on(day)
        return None

    def restrictions(self, hs_code: str, market: str | None) -> list[Restriction]:
        return [
            r
            for r in self.restricted
            if hs_code.startswith(r.hs_prefix) and (not r.markets or market in r.markets)
        ]

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal | None:
        """``amount`` in ``source`` expressed in ``target`` by the reference
        rates; None when a rate is missing."""
        if source == target:
            return amount
        if source not in self.fx or target not in self.fx:
            return None
        return amount / self.fx[source] * self.fx[target]


def parse_rules(text: str) -> CustomsRules:
    """Rules from TOML text; a malformed table raises InvalidInput naming
    the key that is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput("customs rules", str(e)) from None
    try:
        fx = dict(doc.get("fx", {}))
        fx_as_of = str(fx.pop("as_of", ""))
        markets = tuple(_market(m) for m in doc.get("markets", []))
        restricted = tuple(
            Restriction(str(r["hs_prefix"]), str(r["reason"]), frozenset(r.get("markets", ())))
            for r in doc.get("restricted", [])
        )
        return CustomsRules(
            version=str(doc["version"]),
            markets=markets,
            restricted=restricted,
            fx={k: Decimal(v) for k, v in fx.items()},
            fx_as_of=fx_as_of,
        )
    except (KeyError, ValueError, ArithmeticError, TypeError) as e:
        raise InvalidInput("customs rules", f"malformed table: {e!r}") from None


def _market(doc: dict[str, Any]) -> Market:
    merged: dict[str, Any] = {}
    regimes = []
    for step in sorted(doc["regimes"], key=lambda r: str(r["effective_from"])):
        for key, value in step.items():
            if isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        duty = {k: Decimal(v) for k, v in merged.get("duty_by_chapter", {}).items()}
        up_to = merged.get("tax_at_sale_up_to")
        regimes.append(
            Regime(
                market=doc["code"],
                market_name=doc["name"],
                currency=doc["currency"],
                tax_name=doc.get("tax_name", "VAT"),
                effective_from=date.fromisoformat(str(merged["effective_from"])),
                note=merged.get("note", ""),
                duty_free_up_to=Decimal(merged["duty_free_up_to"]),
                tax_free_up_to=Decimal(merged.get("tax_free_up_to", "0")),
                tax_rates={k: Decimal(v) for k, v in merged.get("tax_rates", {}).items()},
                duty_by_chapter={k: v for k, v in duty.items() if k != "default"},
                default_duty=duty.get("default", Decimal(0)),
                tax_at_sale_scheme=merged.get("tax_at_sale_scheme"),
                tax_at_sale_up_to=Decimal(up_to) if up_to is not None else None,
                tax_at_sale_needs_number=bool(merged.get("tax_at_sale_needs_number", False)),
                fees=Decimal(merged.get("fees", "0")),
            )
        )
    return Market(doc["code"], frozenset(doc["countries"]), tuple(regimes))


_default: CustomsRules | None = None


def default_rules() -> CustomsRules:
    """The table shipped with the package (read once)."""
    global _default
    if _default is None:
        text = resources.files("tracking").joinpath("data/customs-rules.toml").read_text("utf-8")
        _default = parse_rules(text)
    return _default


def percent(value: Decimal, rate: Decimal) -> Decimal:
    return value * rate / _HUNDRED
