"""The compliance check of a declaration, and its landed-cost estimate.

A well-formed declaration can still raise concerns: a subheading not in the
nomenclature, a value over the destination's de minimis, goods that need a
licence. Those are findings, recorded with the declaration so an agent sees
why; the declaration itself is accepted. The estimate of duties and taxes
comes from the rules in force on the declaration's date and is kept apart
from what customs later assesses, so the two can be compared.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import msgspec

from tracking.declaration import Declaration, Incoterm
from tracking.nomenclature import Nomenclature
from tracking.tariff import CustomsRules, Regime, percent

_CENT = Decimal("0.01")


class Severity(StrEnum):
    INFO = "info"  # worth knowing; no action needed
    WARNING = "warning"  # likely to hold the parcel or cost the recipient money


class FindingCode(StrEnum):
    HS_SUBHEADING_UNKNOWN = "HS_SUBHEADING_UNKNOWN"
    DUTY_THRESHOLD_EXCEEDED = "DUTY_THRESHOLD_EXCEEDED"
    NO_DE_MINIMIS = "NO_DE_MINIMIS"
    TAX_DUE_AT_IMPORT = "TAX_DUE_AT_IMPORT"
    TAX_AT_SALE_NOT_APPLICABLE = "TAX_AT_SALE_NOT_APPLICABLE"
    LICENCE_REQUIRED = "LICENCE_REQUIRED"
    INCOTERM_OBSOLETE = "INCOTERM_OBSOLETE"
    NO_RULES_FOR_DESTINATION = "NO_RULES_FOR_DESTINATION"
    NO_EXCHANGE_RATE = "NO_EXCHANGE_RATE"
    DESTINATION_MISMATCH = "DESTINATION_MISMATCH"


class Finding(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: FindingCode
    severity: Severity
    message: str
    field: str | None = None


class Charges(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Amounts per charge, in the entry's currency."""

    duty: Decimal = Decimal(0)
    vat: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.duty + self.vat + self.fees


class ChargesEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """The landed cost we expect customs to charge, and who pays it."""

    regime: str  # market/effective date, e.g. "EU/2021-07-01"
    rules_version: str
    value: Decimal
    charges: Charges
    payer: str  # "seller" (DDP) or "recipient"
    notes: tuple[str, ...] = ()


class CheckResult(msgspec.Struct, frozen=True):
    findings: tuple[Finding, ...]
    estimate: ChargesEstimate | None


def check(
    declaration: Declaration,
    rules: CustomsRules,
    *,
    on: date,
    nomenclature: Nomenclature | None = None,
    shipment_destination: str | None = None,
) -> CheckResult:
    """The findings on a declaration made on ``on``, and its estimate (None
    when no rules cover the destination or its value cannot be compared)."""
    findings: list[Finding] = []
    d = declaration
    if d.incoterm is Incoterm.DDU:
        findings.append(Finding(
            code=FindingCode.INCOTERM_OBSOLETE, severity=Severity.INFO, field="incoterm",
            message="DDU left the Incoterms in 2010; it is treated as DAP (the recipient pays "
                    "duties and taxes)",
        ))
    if shipment_destination is not None and shipment_destination != d.destination_country:
        findings.append(Finding(
            code=FindingCode.DESTINATION_MISMATCH, severity=Severity.WARNING,
            field="destination_country",
            message=f"the shipment is booked to {shipment_destination}, not "
                    f"{d.destination_country}",
        ))
    regime = rules.regime(d.destination_country, on)
    market = regime.market if regime else None
    for i, line in enumerate(d.lines):
        where = f"lines[{i}].hs_code"
        if nomenclature is not None and line.hs_code.subheading not in nomenclature:
            findings.append(Finding(
                code=FindingCode.HS_SUBHEADING_UNKNOWN, severity=Severity.WARNING, field=where,
                message=f"{line.hs_code.subheading} is not an HS-6 subheading of the "
                        "configured nomenclature",
            ))
        for restriction in rules.restrictions(line.hs_code, market):
            findings.append(Finding(
                code=FindingCode.LICENCE_REQUIRED, severity=Severity.WARNING, field=where,
                message=f"{line.hs_code} ({line.description}): {restriction.reason}",
            ))
    if regime is None:
        findings.append(Finding(
            code=FindingCode.NO_RULES_FOR_DESTINATION, severity=Severity.INFO,
            field="destination_country",
            message=f"no customs rules for {d.destination_country} on {on.isoformat()}: "
                    "duties and taxes are not estimated",
        ))
        return CheckResult(tuple(findings), None)
    value = rules.convert(d.value, d.currency, regime.currency)
    if value is None:
        findings.append(Finding(
            code=FindingCode.NO_EXCHANGE_RATE, severity=Severity.INFO, field="currency",
            message=f"no reference rate from {d.currency} to {regime.currency}: the value "
                    "cannot be compared with the thresholds, duties are not estimated",
        ))
        return CheckResult(tuple(findings), None)
    estimate, more = _estimate(d, regime, value, rules)
    return CheckResult(tuple(findings + more), estimate)


def _estimate(
    d: Declaration, regime: Regime, value: Decimal, rules: CustomsRules
) -> tuple[ChargesEstimate, list[Finding]]:
    """``value`` is the declaration's value in the market's currency."""
    findings: list[Finding] = []
    notes = [f"{regime.market_name} rules from {regime.effective_from.isoformat()}: {regime.note}"]
    shown = f"{regime.currency} {_money(value)}"
    if regime.duty_free_up_to == 0:
        findings.append(Finding(
            code=FindingCode.NO_DE_MINIMIS, severity=Severity.INFO, field="lines",
            message=f"{regime.market_name} has no de minimis since "
                    f"{regime.effective_from.isoformat()}: duty is due from the first unit",
        ))
        duty_due = True
    else:
        duty_due = value > regime.duty_free_up_to
        if duty_due:
            findings.append(Finding(
                code=FindingCode.DUTY_THRESHOLD_EXCEEDED, severity=Severity.WARNING, field="lines",
                message=f"the consignment's value ({shown}) is over {regime.market_name}'s "
                        f"{regime.currency} {_money(regime.duty_free_up_to)} de minimis: "
                        "customs duty is due",
            ))
    duty = sum(
        (percent(line.value, regime.duty_rate(line.hs_code.chapter)) for line in d.lines),
        Decimal(0),
    ) if duty_due else Decimal(0)

    tax_rate = regime.tax_rate(d.destination_country)
    at_sale = False
    scheme = regime.tax_at_sale_scheme
    if scheme and regime.tax_at_sale_up_to is not None and tax_rate > 0:
        within = value <= regime.tax_at_sale_up_to
        if within and regime.tax_at_sale_needs_number and d.importer_ioss is None:
            findings.append(Finding(
                code=FindingCode.TAX_DUE_AT_IMPORT, severity=Severity.WARNING,
                field="importer_ioss",
                message=f"no {scheme} number: {regime.tax_name} is collected at import, "
                        "usually from the recipient with a handling fee",
            ))
        elif within:
            at_sale = True
            notes.append(f"{regime.tax_name} was collected at sale ({scheme})")
        elif d.importer_ioss is not None and regime.tax_at_sale_needs_number:
            findings.append(Finding(
                code=FindingCode.TAX_AT_SALE_NOT_APPLICABLE, severity=Severity.WARNING,
                field="importer_ioss",
                message=f"{scheme} covers consignments up to {regime.currency} "
                        f"{_money(regime.tax_at_sale_up_to)}; this one is {shown}: "
                        f"{regime.tax_name} is collected at import",
            ))
    tax_due = tax_rate > 0 and not at_sale and value > regime.tax_free_up_to
    # Duty and tax are charged on the declared amounts; only the thresholds
    # are compared in the market's currency.
    vat = percent(d.value + duty, tax_rate) if tax_due else Decimal(0)
    fees = rules.convert(regime.fees, regime.currency, d.currency) or Decimal(0)
    charges = Charges(duty=_money(duty), vat=_money(vat), fees=_money(fees))
    return (
        ChargesEstimate(
            regime=regime.id,
            rules_version=rules.version,
            value=_money(d.value),
            charges=charges,
            payer="seller" if d.incoterm.seller_pays else "recipient",
            notes=tuple(notes),
        ),
        findings,
    )


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
